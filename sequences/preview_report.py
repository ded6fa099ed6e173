"""A sequence's preview for one customer: its timeline and texts, as `arseq preview` and
`/ar preview` show them. Read only: nothing is sent or stored.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from sequences import lookup
from sequences.definition_loading import load_library
from sequences.definitions import Sequence
from sequences.ledger import LedgerError
from sequences.messages import choose_contact
from sequences.planner import (
    CustomerFacts,
    DisputeFacts,
    EnrollmentFacts,
    InvoiceFacts,
    exit_reason,
)
from sequences.preview import PlannedStep, render_message, team_text, timeline
from sequences.store import stored_by_name
from sequences.templates import LIBRARY_TEMPLATES, customer_locale, money
from storage.models import Sequence as SequenceRow
from storage.owner_queries import customer_owners
from storage.queries import checklist_done, last_replies


class PreviewError(LedgerError):
    """The preview cannot be made (an unknown sequence), with the reason for the user."""


INDENT = " " * 6


@dataclass(frozen=True)
class Target:
    """One enrollment the sequence would run for this customer."""

    label: str
    started_at: datetime
    invoice: InvoiceFacts | None = None
    dispute: DisputeFacts | None = None


@dataclass(frozen=True)
class Found:
    """Everything a preview is made from: the sequence, the customer and its targets."""

    sequence: Sequence
    template_dirs: tuple[Path, ...]
    origin: str
    customer: Row
    facts: CustomerFacts
    targets: list[Target]
    contacts: list[Row]
    collector: dict[str, str | None] | None = None


async def load_preview(conn: AsyncConnection, name: str, query: str, *, now: datetime) -> Found:
    """What a preview of sequence `name` for the customer `query` needs (read only).

    Raises PreviewError for an unknown sequence, lookup.CustomerLookupError for a
    customer that cannot be named.
    """
    sequence, dirs, origin = await _sequence(conn, name)
    customer = await lookup.find_customer(conn, query)
    replied = (await last_replies(conn, {customer.id})).get(customer.id)
    done = (await checklist_done(conn, {customer.id})).get(customer.id, set())
    facts = CustomerFacts(
        id=customer.id, external_id=customer.external_id, name=customer.name,
        timezone=customer.timezone or "UTC", country=customer.country,
        language=customer.language, owner_slack_id=customer.owner_slack_id,
        last_reply_at=replied, checklist_done=frozenset(done),
    )  # fmt: skip
    targets = await _targets(conn, sequence, customer, now)
    contacts = await lookup.usable_contacts(conn, customer.id)
    collector = (await customer_owners(conn, {customer.id})).get(customer.id)
    return Found(sequence, dirs, origin, customer, facts, targets, contacts, collector)


async def _sequence(conn: AsyncConnection, name: str) -> tuple[Sequence, tuple[Path, ...], str]:
    """The stored sequence of that name, else the built-in one."""
    stored = await stored_by_name(conn, name)
    if stored is not None:
        state = "" if stored.sequence.active else ", inactive"
        return stored.sequence, stored.template_dirs, f"version {stored.version}{state}"
    library = {s.name: s for s in load_library()}
    if name in library:
        return library[name], (LIBRARY_TEMPLATES,), "built in, not stored yet"
    s = SequenceRow.__table__
    names = sorted({*library, *(await conn.execute(select(s.c.name).distinct())).scalars()})
    raise PreviewError(f"no sequence named {name!r}; known: {', '.join(names)}")


async def _targets(
    conn: AsyncConnection, sequence: Sequence, customer: Row, now: datetime
) -> list[Target]:
    starts = await lookup.enrollment_starts(conn, sequence.name, customer.id)
    locale = customer_locale(customer._asdict())
    if sequence.target == "customer":
        label = f"Customer {lookup.describe(customer)}{_since(starts, (None, None))}"
        return [Target(label, starts.get((None, None), now))]
    if sequence.target == "invoice":
        targets = []
        for invoice in await lookup.open_invoices(conn, customer.id):
            key = (invoice.id, None)
            label = (
                f"Invoice {invoice.number}: {money(invoice.open_amount, invoice.currency, locale)}"
                f" open, issued {invoice.issue_date}, due {invoice.due_date}"
                f"{' (disputed)' if invoice.disputed else ''}{_since(starts, key)}"
            )
            targets.append(Target(label, starts.get(key, now), invoice=invoice))
        return targets
    targets = []
    for dispute, invoice_id in await lookup.open_disputes(conn, customer.id):
        invoice = await lookup.invoice_by_id(conn, invoice_id)
        key = (invoice_id, dispute.id)
        number = invoice.number if invoice else "?"
        label = (
            f"Dispute on invoice {number}, opened {dispute.opened_at:%Y-%m-%d} "
            f"({dispute.status}){_since(starts, key)}"
        )
        targets.append(Target(label, starts.get(key, now), invoice=invoice, dispute=dispute))
    return targets


Starts = dict[tuple[int | None, int | None], datetime]


def _since(starts: Starts, key: tuple[int | None, int | None]) -> str:
    start = starts.get(key)
    return f", enrolled {start:%Y-%m-%d}" if start is not None else ""


def preview_lines(found: Found, *, now: datetime, pay_url: str | None) -> list[str]:
    """The preview as text lines; raises TemplateError, WindowError or ValueError
    when a step cannot be planned or rendered."""
    seq, customer, zone = found.sequence, found.customer, found.facts.timezone
    lines = [
        f"Preview of {seq.name} ({found.origin}) for {lookup.describe(customer)} as of "
        f"{now.astimezone(ZoneInfo(zone)):%Y-%m-%d %H:%M %Z}; times in {zone}; "
        "nothing is sent."
    ]
    if not found.targets:
        what = {"invoice": "open invoices", "dispute": "open disputes"}[seq.target]
        return [*lines, f"No {what}: nothing to preview."]
    for target in found.targets:
        lines += ["", target.label]
        enrollment = EnrollmentFacts(0, 0, 0, target.started_at)
        invoice, dispute = target.invoice, target.dispute
        reason = exit_reason(seq, enrollment, found.facts, invoice, dispute)
        if reason is not None:
            lines.append(f"  the sequence would end at once for it: {reason}")
            continue
        planned = timeline(
            seq, customer=found.facts, enrollment=enrollment, now=now, invoice=invoice,
            dispute=dispute,
        )  # fmt: skip
        invoices = [target.invoice] if target.invoice is not None else []
        seen: dict[tuple[str, str], int] = {}
        for number, step in enumerate(planned, 1):
            lines += _step_lines(found, number, step, invoices, pay_url, seen)
    if len(found.targets) > 1:
        lines += ["", "Touches of one customer on the same day go out as one message, "
                  "and the frequency cap spaces messages out."]  # fmt: skip
    return lines


def _step_lines(
    found: Found, number: int, planned: PlannedStep, invoices: list[InvoiceFacts],
    pay_url: str | None, seen: dict[tuple[str, str], int],
) -> list[str]:  # fmt: skip
    """The step's line, then its text (a text shown already for this target is named)."""
    step, zone = planned.step, found.facts.timezone
    when = f"{planned.local(zone):%a %Y-%m-%d %H:%M %Z}"
    past = " (past)" if planned.past else ""
    if planned.kind != "message":
        text = team_text(
            planned, customer=found.customer, invoices=invoices, done=found.facts.checklist_done
        )
        what = ", ".join(step.escalate or ())
        head = f"  {number:>2}. {when}  {'team':<18} {planned.kind:<10} {what}{past}"
        return [head.rstrip(), f"{INDENT}{text}"]
    contact = choose_contact(str(step.send), found.contacts)
    channel = str(contact.channel) if contact is not None else "none"
    if step.send == "preferred":
        channel += " (preferred)"
    elif contact is None or channel != step.send:
        channel += f" (no {step.send})"
    what = planned.template or "inline"
    if planned.template and step.variants:
        what += f" (A/B of {', '.join(step.variants)})"
    head = f"  {number:>2}. {when}  {channel:<18} {'message':<10} {what}{past}"
    if contact is None:
        return [head, f"{INDENT}no usable email or Telegram contact: a collector task instead"]
    message = render_message(
        planned, customer=found.customer, invoices=invoices, contact=contact,
        pay_url=pay_url, template_dirs=found.template_dirs, done=found.facts.checklist_done,
        collector=found.collector,
    )  # fmt: skip
    if (key := (message.subject, message.text)) in seen:
        return [head, f"{INDENT}(the same text as {seen[key]}.)"]
    seen[key] = number
    body = [f"{INDENT}{line}".rstrip() for line in message.text.rstrip("\n").splitlines()]
    return [head, f"{INDENT}Subject: {message.subject}", *body]
