"""Customer replies from the AR mailbox: what a message says, and what it means (SPEC section 6).

`parse_reply` reads one raw RFC 5322 message (stdlib `email`, no IMAP here): who sent
it, which of our messages it answers, its subject, the first lines the customer wrote
(`sequences.reply_text`), and whether it was written by a machine (out of office, a
bounce). `record_reply` turns it into facts in the caller's transaction: a `replied`
event, a task for the owner, and the customer's enrollments due at once (the next tick
ends those that exit on a reply); or an `auto_replied` / `reply_unmatched` event that
changes nothing else.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import getaddresses
from typing import Any, Literal

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from sequences.ledger import add_task, record_event, wake_customer_enrollments
from sequences.preferences import REPLIED
from sequences.reply_text import first_lines
from storage.models import (
    Contact,
    ContactChannel,
    Customer,
    Event,
    OutboxMessage,
)

AUTO_REPLIED = "auto_replied"
REPLY_UNMATCHED = "reply_unmatched"
REPLY_UNREADABLE = "reply_unreadable"
REPLY_KINDS = (REPLIED, AUTO_REPLIED, REPLY_UNMATCHED)
TASK_KIND = "reply"
SUBJECT_CHARS = 200

_MESSAGE_ID = re.compile(r"<[^<>\s]+>")
_PRECEDENCE_AUTO = {"auto_reply", "bulk", "junk", "list"}
_DAEMONS = {"mailer-daemon", "postmaster"}
# Subjects of out-of-office replies in the languages our customers write in, at the start
# of the subject (after any "Re:"), so a person's "Re: back from out of office" is not one.
_OOO_SUBJECT = re.compile(
    r"^\s*(?:(?:re|aw|sv|vs|antw|r|rif)\s*:\s*)*(?:"
    r"out of (?:the )?office|automatic reply|auto[- ]?reply|autoresponse|auto[- ]?response"
    r"|abwesenheitsnotiz|automatische antwort|abwesend|außer haus"
    r"|réponse automatique|absence|absent du bureau"
    r"|respuesta automática|fuera de la oficina|ausente"
    r"|risposta automatica|fuori sede|fuori ufficio"
    r"|resposta automática|ausência"
    r"|automatisch antwoord|afwezig"
    r"|autosvar|automaattinen vastaus|automatyczna odpowiedź"
    r"|自动回复|自動回覆|自動返信|자동 회신"
    r")\b",
    re.IGNORECASE,
)


class ReplyParseError(ValueError):
    """The bytes are not an email message (empty, or no header fields at all)."""


@dataclass(frozen=True)
class ParsedReply:
    """What one message from the AR mailbox says about itself."""

    sender: str | None  # the From address, lower case
    message_id: str | None  # with angle brackets, as in the header
    in_reply_to: tuple[str, ...]
    references: tuple[str, ...]
    subject: str
    excerpt: str  # the first lines the sender wrote, quoted text and signature cut
    auto_reason: str | None  # why it was written by a machine, or None
    digest: str  # of the raw bytes: names a message that has no Message-ID

    @property
    def key(self) -> str:
        """What names this message across passes: its Message-ID, else its digest."""
        return self.message_id or f"sha256:{self.digest}"

    @property
    def answered_ids(self) -> tuple[str, ...]:
        """Message-IDs it answers, the most direct first (In-Reply-To, then References
        newest first)."""
        return tuple(dict.fromkeys((*self.in_reply_to, *reversed(self.references))))


@dataclass(frozen=True)
class ReplyOutcome:
    """What `record_reply` made of a message."""

    status: Literal["replied", "auto_replied", "unmatched", "duplicate"]
    customer_id: int | None = None
    outbox_id: int | None = None
    matched_by: str | None = None  # in-reply-to, references, contact, customer


def parse_reply(raw: bytes) -> ParsedReply:
    """Parse one raw message; ReplyParseError when it is not one."""
    if not raw.strip():
        raise ReplyParseError("empty message")
    msg = BytesParser(policy=policy.default).parsebytes(raw)
    if not msg.keys():
        raise ReplyParseError("not an email message: no header fields")
    assert isinstance(msg, EmailMessage)
    in_reply_to = tuple(_MESSAGE_ID.findall(_header(msg, "In-Reply-To")))
    references = _MESSAGE_ID.findall(_header(msg, "References")) + _reported_ids(msg)
    ids = _MESSAGE_ID.findall(_header(msg, "Message-ID"))
    return ParsedReply(
        sender=_sender(msg),
        message_id=ids[0] if ids else None,
        in_reply_to=in_reply_to,
        references=tuple(references),
        subject=" ".join(_header(msg, "Subject").split())[:SUBJECT_CHARS],
        excerpt=first_lines(msg),
        auto_reason=auto_reply_reason(msg),
        digest=hashlib.sha256(raw).hexdigest(),
    )


def auto_reply_reason(msg: EmailMessage) -> str | None:
    """Why the message was written by a machine (RFC 3834 and the vendors' headers, an
    out-of-office subject, a delivery report), or None when a person wrote it."""
    auto = _header(msg, "Auto-Submitted").split(";")[0].strip().lower()
    if auto and auto != "no":
        return f"Auto-Submitted: {auto}"
    for name in ("X-Autoreply", "X-Autorespond", "X-Auto-Response-Suppress"):
        if msg[name] is not None:
            return f"{name} header"
    precedence = _header(msg, "Precedence").strip().lower()
    if precedence in _PRECEDENCE_AUTO:
        return f"Precedence: {precedence}"
    if msg.get_content_type() == "multipart/report":
        return f"delivery report ({msg.get_param('report-type') or 'unknown type'})"
    sender = _sender(msg)
    if sender and sender.partition("@")[0] in _DAEMONS:
        return f"sent by {sender}"
    if _header(msg, "Return-Path").strip() == "<>":
        return "null Return-Path"
    if _OOO_SUBJECT.search(_header(msg, "Subject")):
        return "out-of-office subject"
    return None


async def record_reply(
    conn: AsyncConnection, parsed: ParsedReply, *, now: datetime
) -> ReplyOutcome:
    """Record one message from the AR mailbox (once per message, whatever its kind)."""
    if await _seen(conn, parsed.key):
        return ReplyOutcome("duplicate")
    customer_id, outbox, matched_by = await _match(conn, parsed)
    # The message answered goes in the event's outbox_id column.
    outbox_id = outbox.id if outbox else None
    data: dict[str, Any] = {
        "message_id": parsed.key, "subject": parsed.subject, "sender": parsed.sender,
        "matched_by": matched_by, "channel": "email",
    }  # fmt: skip
    if customer_id is None:
        await record_event(
            conn, kind=REPLY_UNMATCHED, now=now, actor=parsed.sender, reason=parsed.auto_reason,
            **data,
        )  # fmt: skip
        return ReplyOutcome("unmatched")
    if parsed.auto_reason is not None:
        await record_event(
            conn, kind=AUTO_REPLIED, now=now, actor=parsed.sender, reason=parsed.auto_reason,
            customer_id=customer_id, outbox_id=outbox_id, **data,
        )  # fmt: skip
        return ReplyOutcome("auto_replied", customer_id, outbox_id, matched_by)
    invoices = list(outbox.invoice_ids) if outbox else []
    invoice_id = invoices[0] if len(invoices) == 1 else None
    await record_event(
        conn, kind=REPLIED, now=now, actor=parsed.sender, customer_id=customer_id,
        invoice_id=invoice_id, outbox_id=outbox_id, **data,
    )  # fmt: skip
    await wake_customer_enrollments(conn, customer_id, now=now)
    name = await conn.scalar(select(Customer.name).where(Customer.id == customer_id))
    await add_task(
        conn, kind=TASK_KIND, customer_id=customer_id, invoice_id=invoice_id, now=now,
        key=f"reply:{parsed.key}", title=f"{name} replied: {parsed.subject or '(no subject)'}",
        body=f"From {parsed.sender}:\n{parsed.excerpt}" if parsed.excerpt else None,
    )  # fmt: skip
    return ReplyOutcome("replied", customer_id, outbox_id, matched_by)


async def record_unreadable(
    conn: AsyncConnection, *, reason: str, mailbox: str, uid: str, now: datetime
) -> None:
    """Note a message of the mailbox that is not an email at all (kept there for a person)."""
    await record_event(
        conn, kind=REPLY_UNREADABLE, now=now, actor=None, reason=reason, mailbox=mailbox, uid=uid
    )


async def _seen(conn: AsyncConnection, key: str) -> bool:
    ev = Event.__table__
    found = await conn.scalar(
        select(ev.c.id)
        .where(ev.c.kind.in_(REPLY_KINDS), ev.c.data["message_id"].as_string() == key)
        .limit(1)
    )
    return found is not None


async def _match(conn: AsyncConnection, parsed: ParsedReply) -> tuple[int | None, Any, str | None]:
    """(customer id, the outbox row answered, how) by Message-ID, else by sender address."""
    if parsed.answered_ids:
        o = OutboxMessage.__table__
        rows = (
            await conn.execute(
                select(o.c.id, o.c.customer_id, o.c.invoice_ids, o.c.provider_message_id)
                .where(o.c.provider_message_id.in_(parsed.answered_ids))
                .where(o.c.customer_id.is_not(None))
            )
        ).all()
        by_id = {r.provider_message_id: r for r in rows}
        for mid in parsed.answered_ids:
            if mid in by_id:
                how = "in-reply-to" if mid in parsed.in_reply_to else "references"
                return by_id[mid].customer_id, by_id[mid], how
    if parsed.sender is None:
        return None, None, None
    ct, cu = Contact.__table__, Customer.__table__
    for how, query in (
        ("contact", select(ct.c.customer_id).where(ct.c.channel == ContactChannel.EMAIL)
         .where(func.lower(ct.c.address) == parsed.sender)),
        ("customer", select(cu.c.id).where(func.lower(cu.c.email) == parsed.sender)),
    ):  # fmt: skip
        found = set((await conn.execute(query.distinct().limit(2))).scalars())
        # An address shared by two customers names neither: a person sorts it out.
        if len(found) == 1:
            return found.pop(), None, how
        if found:
            return None, None, None
    return None, None, None


def _reported_ids(msg: EmailMessage) -> list[str]:
    """The Message-ID of the message a delivery report is about (its returned headers)."""
    if msg.get_content_type() != "multipart/report":
        return []
    ids: list[str] = []
    for part in msg.iter_parts():
        if part.get_content_type() == "message/rfc822":
            returned = part.get_payload(0)
        elif part.get_content_type() == "text/rfc822-headers":
            returned = BytesParser(policy=policy.default).parsebytes(
                part.get_payload(decode=True) or b"", headersonly=True
            )
        else:
            continue
        ids += _MESSAGE_ID.findall(_header(returned, "Message-ID"))
    return ids


def _header(msg: EmailMessage, name: str) -> str:
    try:
        value = msg.get(name)
    except (IndexError, ValueError):  # a header the parser cannot make sense of
        return ""
    return "" if value is None else str(value)


def _sender(msg: EmailMessage) -> str | None:
    addresses = [addr for _, addr in getaddresses([_header(msg, "From")]) if "@" in addr]
    return addresses[0].strip().lower() if addresses else None
