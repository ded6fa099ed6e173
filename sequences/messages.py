"""The customer's message of a tick: its context, its contact, its words, its outbox row.

Touches of one customer that fall due together become one message listing every invoice,
spoken with the words of the most overdue invoice's step, sent to the contact its
channel asks for; without a usable contact the collector gets a task instead. The
outbox row's key is made of the touches, so writing the same message twice adds
nothing. `message_context` is what templates see, here, for team tasks and in previews.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any
from urllib.parse import quote

from sqlalchemy import select
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from sequences import ledger
from sequences.batch import Batch
from sequences.planner import Act, InvoiceFacts, Notice, variant_for
from sequences.preferences import DEFAULT_ORDER
from sequences.rewind import message_moves
from sequences.store import Stored
from sequences.templates import render, render_inline
from storage.models import OutboxMessage, OutboxState

CUSTOMER_MESSAGE = "customer_message"


@dataclass
class Send:
    """A touch for a customer's message: its enrollment, the planner's decision, the sequence."""

    row: Row
    decision: Act | Notice
    stored: Stored


def fill_pay_url(pay_url: str, *, invoice: str, customer: str, amount: Decimal | None) -> str:
    """ARSEQ_PAY_URL with its placeholders filled, each value URL-encoded (an invoice
    number with `&` or `/` must not change the link)."""
    shown = "" if amount is None else f"{amount:.2f}"
    return pay_url.format(invoice=quote(invoice, safe=","), customer=quote(customer, safe=""),
                          amount=shown)  # fmt: skip


def message_context(
    customer: Row,
    invoices: list[InvoiceFacts],
    contact: Row | None,
    pay_url: str | None,
    checklist: tuple[str, ...] = (),
    done: set[str] | frozenset[str] = frozenset(),
    *,
    collector: Mapping[str, str | None] | None = None,
) -> dict[str, Any]:
    """What templates see (SPEC section 5): the customer, contact, invoices, totals, links,
    and the collector who signs (the owner's name and email; None when not known)."""
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for invoice in invoices:
        totals[invoice.currency] += invoice.open_amount

    def link(numbers: str, amount: Decimal | None) -> str | None:
        if not pay_url:
            return None
        return fill_pay_url(pay_url, invoice=numbers, customer=customer.external_id,
                            amount=amount)  # fmt: skip

    single = next(iter(totals.values())) if len(totals) == 1 else None
    return {
        "customer": customer._asdict(),
        "contact": contact._asdict() if contact is not None else None,
        "invoices": [
            vars(i) | {"settled": i.settled, "pay_url": link(i.number, i.open_amount)}
            for i in invoices
        ],
        "total": dict(totals),
        # One link for the whole message; each invoice also has its own.
        "pay_url": link(",".join(i.number for i in invoices), single) if invoices else None,
        "collector": dict(collector) if collector is not None else None,
        "checklist": [{"item": item, "done": item in done} for item in checklist],
    }


def choose_contact(
    step_send: str, contacts: list[Row], preferred: Sequence[str] = DEFAULT_ORDER
) -> Row | None:
    """The contact to use: the step's channel, else the best one.

    For `preferred` the order is the customer's (`preferred`, best first: learnt from
    engagement, email when nothing is known); another step falls back to Telegram, then email.
    """
    by_channel: dict[str, Row] = {}
    for contact in contacts:
        by_channel.setdefault(str(contact.channel), contact)
    order = list(preferred) if step_send == "preferred" else [step_send, "telegram", "email"]
    for channel in order:
        if channel in by_channel:
            return by_channel[channel]
    return None


def _lead(group: list[Send], invoices: dict[int, InvoiceFacts]) -> Send:
    """The touch whose step speaks for the whole message: the most overdue invoice's."""

    def overdue(send: Send) -> Any:
        invoice = invoices.get(send.row.invoice_id)
        return (
            isinstance(send.decision, Notice),
            -(invoice.due_date.toordinal()) if invoice else 0,
        )

    return max(group, key=overdue)


def message_key(group: list[Send]) -> str:
    """The outbox key of the message for these touches: each touch is its enrollment and
    its position, or the occurrence of its notice (a second broken promise is new)."""

    def touch(send: Send) -> str:
        if isinstance(send.decision, Act):
            return f"{send.row.id}.{send.decision.position}"
        key = send.row.notice_key
        return f"{send.row.id}.notice" + (f":{key}" if key else "")

    touched = sorted(touch(s) for s in group)
    return "touch:" + hashlib.sha256("|".join(touched).encode()).hexdigest()[:40]


async def written_keys(conn: AsyncConnection, keys: Collection[str]) -> set[str]:
    """Which of these outbox keys are written already (their messages are not new)."""
    if not keys:
        return set()
    o = OutboxMessage.__table__
    found = await conn.scalars(select(o.c.idempotency_key).where(o.c.idempotency_key.in_(keys)))
    return set(found)


def _moves(group: list[Send]) -> list[list[int | None]]:
    """The steps this message carries, so dispatch can put them back if it is skipped."""
    acts = [s for s in group if isinstance(s.decision, Act)]
    return message_moves(
        [(s.row.id, s.row.invoice_id, s.decision.position, s.decision.next_position) for s in acts]
    )


async def compose_message(
    conn: AsyncConnection, customer_id: int, group: list[Send], batch: Batch, *, key: str,
    now: datetime, pay_url: str | None,
) -> dict[str, Any] | None:  # fmt: skip
    """The outbox row (idempotency `key`, from `message_key`) of the one message for the
    touches in `group`, or None.

    A customer without a usable contact gets no message: the collector gets a task.
    The caller writes the rows of a batch together (`storage.queries.add_outbox_messages`).
    """
    customer = batch.customers[customer_id]
    lead = _lead(group, batch.invoices)
    step = lead.decision.step if isinstance(lead.decision, Act) else None
    contact = choose_contact(
        str(step.send) if step else "preferred", batch.contacts.get(customer_id, []),
        batch.preference(customer_id).channels,
    )  # fmt: skip
    invoices = sorted(
        {batch.invoices[s.row.invoice_id] for s in group if s.row.invoice_id in batch.invoices},
        key=lambda i: (i.due_date, i.number),
    )
    if contact is None:
        await ledger.add_task(
            conn, kind="unreachable", customer_id=customer_id, now=now,
            key=f"unreachable:{customer_id}:{now.date()}",
            title=f"No way to reach {customer.name}: no usable email or Telegram contact",
        )  # fmt: skip
        return None
    checklist = step.checklist or () if step is not None else ()
    context = message_context(customer, invoices, contact, pay_url, checklist,
                       batch.checklists.get(customer_id, set()),
                       collector=batch.collectors.get(customer_id))  # fmt: skip
    variant, channel, dirs = None, str(contact.channel), lead.stored.template_dirs
    if isinstance(lead.decision, Notice):
        message = render(lead.decision.template, context, dirs, channel=channel)
    elif step is not None and step.template:
        variant = variant_for(
            lead.stored.sequence, lead.decision.position[0], batch.customer(customer_id)
        )
        message = render(variant or step.template, context, dirs, channel=channel)
    else:
        assert step is not None and step.body is not None
        message = render_inline(step.subject, step.body, context)
    position = lead.decision.position if isinstance(lead.decision, Act) else (None, None)
    return dict(
            idempotency_key=key, channel=channel, kind=CUSTOMER_MESSAGE,
            customer_id=customer_id, contact_id=contact.id, enrollment_id=lead.row.id,
            sequence_id=lead.row.sequence_id, step_index=position[0], variant=variant,
            invoice_ids=[i.id for i in invoices], subject=message.subject,
            body=message.text,
            payload={"html": message.html, "enrollments": [s.row.id for s in group],
                     "moves": _moves(group)},
            scheduled_for=now, state=OutboxState.PENDING, attempts=0,
            next_attempt_at=now, created_at=now,
    )  # fmt: skip
