"""One tick of the engine: enroll, plan what is due, write the outbox, advance.

Only enrollments whose `next_action_at` has come are read, in batches; each batch is
one transaction: the outbox rows it writes and the enrollments it advances commit
together, so a tick run twice writes nothing new. Touches of one customer that fall
due together become one message listing every invoice, and no customer gets two
messages within the frequency cap, across all sequences.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from sequences import ledger, timing
from sequences.planner import (
    Act,
    CustomerFacts,
    DisputeFacts,
    EnrollmentFacts,
    Exit,
    InvoiceFacts,
    Notice,
    Wait,
    plan,
    variant_for,
)
from sequences.store import Stored, active_sequences, ensure_library, stored_by_id
from sequences.templates import render, render_inline, render_text
from storage.db import take_write_lock
from storage.models import (
    Contact,
    Customer,
    Dispute,
    Enrollment,
    EnrollmentState,
    Invoice,
    OutboxMessage,
    OutboxState,
)
from storage.queries import (
    active_pauses,
    checklist_done,
    claim_due_enrollments,
    disputed_invoices,
    enroll_new_targets,
    last_customer_messages,
    last_replies,
    wake_paused_enrollments,
)

CUSTOMER_MESSAGE = "customer_message"
INDEFINITE_PAUSE_RECHECK = timedelta(days=1)
MESSAGE_ORDER = ("disputes", "past_due", "invoicing", "onboarding")


@dataclass(frozen=True)
class EngineConfig:
    """The engine's knobs (defaults are SPEC's)."""

    frequency_cap: timedelta = timedelta(days=2)
    min_balance: Decimal = Decimal(0)
    exclude_tag: str | None = "no-reminders"
    batch: int = 500
    pay_url: str | None = None
    promise_grace: timedelta = ledger.PROMISE_GRACE


@dataclass
class TickReport:
    """What one tick did."""

    enrolled: int = 0
    woken: int = 0
    due: int = 0
    messages: int = 0
    tasks: int = 0
    waited: int = 0
    capped: int = 0
    skipped_positions: int = 0
    ended: dict[str, int] = field(default_factory=dict)
    promises_kept: int = 0
    promises_broken: int = 0

    def summary(self) -> str:
        """One line for `arseq tick`."""
        ended = ", ".join(f"{k} {v}" for k, v in sorted(self.ended.items())) or "none"
        line = (
            f"enrolled {self.enrolled}, due {self.due}: {self.messages} message(s) planned, "
            f"{self.tasks} task(s), {self.waited} waiting, {self.capped} held by the "
            f"frequency cap; ended: {ended}"
        )
        extras = [
            (self.woken, "woken from a pause"),
            (self.skipped_positions, "missed message(s) not sent (catch-up)"),
            (self.promises_kept, "promise(s) kept"),
            (self.promises_broken, "promise(s) broken"),
        ]
        return "; ".join([line, *(f"{n} {what}" for n, what in extras if n)])


async def tick(
    engine: AsyncEngine, *, now: datetime, config: EngineConfig | None = None
) -> TickReport:
    """One scheduler pass as of `now`."""
    config = config or EngineConfig()
    report = TickReport()
    async with engine.begin() as conn:
        await take_write_lock(conn)
        await ensure_library(conn, now=now)
        # Promises first: a broken one resumes its enrollments with a notice, which
        # waking them merely because their pause ran out would not give.
        promises = await ledger.settle_promises(conn, now=now, grace=config.promise_grace)
        report.promises_kept, report.promises_broken = len(promises.kept), len(promises.broken)
        report.woken = await wake_paused_enrollments(conn, now=now)
        for stored in await active_sequences(conn):
            report.enrolled += await enroll_new_targets(
                conn, sequence_id=stored.id, sequence_name=stored.sequence.name,
                trigger=str(stored.sequence.trigger), now=now, since=stored.created_at,
                min_balance=config.min_balance, exclude_tag=config.exclude_tag,
            )  # fmt: skip
    # Each pass moves every enrollment it reads past `now` or one notice further,
    # so the loop ends; the bound is a guard against a planner bug, not a limit.
    for _ in range(10_000):
        async with engine.begin() as conn:
            await take_write_lock(conn)
            rows = await claim_due_enrollments(conn, now=now, limit=config.batch)
            if not rows:
                break
            await _run_batch(conn, rows, now=now, config=config, report=report)
    return report


@dataclass
class _Batch:
    sequences: dict[int, Stored]
    customers: dict[int, Row]
    invoices: dict[int, InvoiceFacts]
    disputes: dict[int, DisputeFacts]
    contacts: dict[int, list[Row]]
    replies: dict[int, datetime]
    last_message: dict[int, datetime]
    pauses: list[Row]
    checklists: dict[int, set[str]]

    def customer(self, customer_id: int) -> CustomerFacts:
        """The planner's view of a customer of this batch."""
        row = self.customers[customer_id]
        return CustomerFacts(
            id=row.id, external_id=row.external_id, name=row.name,
            timezone=row.timezone or "UTC", country=row.country, language=row.language,
            owner_slack_id=row.owner_slack_id, last_reply_at=self.replies.get(customer_id),
            checklist_done=frozenset(self.checklists.get(customer_id, ())),
        )  # fmt: skip

    def paused_until(self, row: Row, sequence_name: str, now: datetime) -> datetime | None:
        """When the pauses on this enrollment's target end (indefinite: a day from now)."""
        ends = [
            p.until or now + INDEFINITE_PAUSE_RECHECK
            for p in self.pauses
            if (p.scope == "customer" and p.customer_id == row.customer_id)
            or (p.scope == "invoice" and row.invoice_id and p.invoice_id == row.invoice_id)
            or (p.scope == "sequence" and p.sequence_name == sequence_name)
        ]
        return max(ends) if ends else None


async def _load(conn: AsyncConnection, rows: list[Row], now: datetime) -> _Batch:
    customer_ids = {r.customer_id for r in rows}
    invoice_ids = {r.invoice_id for r in rows if r.invoice_id}
    dispute_ids = {r.dispute_id for r in rows if r.dispute_id}
    c, i, d, ct = Customer.__table__, Invoice.__table__, Dispute.__table__, Contact.__table__
    customers = {r.id: r for r in await conn.execute(select(c).where(c.c.id.in_(customer_ids)))}
    disputed = await disputed_invoices(conn, invoice_ids)
    invoices = {
        r.id: InvoiceFacts(
            r.id,
            r.number,
            r.issue_date,
            r.due_date,
            r.amount,
            r.open_amount,
            r.currency,
            str(r.status),
            r.id in disputed,
        )
        for r in await conn.execute(select(i).where(i.c.id.in_(invoice_ids)))
    }
    disputes = {
        r.id: DisputeFacts(r.id, str(r.status), r.opened_at)
        for r in await conn.execute(select(d).where(d.c.id.in_(dispute_ids)))
    }
    contacts: dict[int, list[Row]] = defaultdict(list)
    usable = select(ct).where(
        ct.c.customer_id.in_(customer_ids), ct.c.opted_out_at.is_(None),
        ct.c.unreachable_at.is_(None),
    ).order_by(ct.c.is_primary.desc(), ct.c.id)  # fmt: skip
    for r in await conn.execute(usable):
        contacts[r.customer_id].append(r)
    sequences = await stored_by_id(conn, {r.sequence_id for r in rows})
    pauses = await active_pauses(
        conn, customer_ids=customer_ids, invoice_ids=invoice_ids,
        sequence_names={s.sequence.name for s in sequences.values()}, now=now,
    )  # fmt: skip
    return _Batch(
        sequences=sequences,
        customers=customers,
        invoices=invoices,
        disputes=disputes,
        contacts=contacts,
        replies=await last_replies(conn, customer_ids),
        last_message=await last_customer_messages(conn, customer_ids),
        pauses=pauses,
        checklists=await checklist_done(conn, customer_ids),
    )


@dataclass
class _Send:
    row: Row
    decision: Act | Notice
    stored: Stored


async def _run_batch(
    conn: AsyncConnection, rows: list[Row], *, now: datetime, config: EngineConfig,
    report: TickReport,
) -> None:  # fmt: skip
    batch = await _load(conn, rows, now)
    sends: dict[int, list[_Send]] = defaultdict(list)
    for row in rows:
        report.due += 1
        stored = batch.sequences[row.sequence_id]
        held = batch.paused_until(row, stored.sequence.name, now)
        if held is not None:
            # A paused target's steps wait; planned now, dispatch would only skip them.
            await _move(conn, row, next_action_at=held)
            report.waited += 1
            continue
        customer = batch.customer(row.customer_id)
        decision = plan(
            stored.sequence,
            EnrollmentFacts(row.id, row.current_step, row.repeat_count, row.started_at, row.notice),
            customer=customer,
            now=now,
            invoice=batch.invoices.get(row.invoice_id) if row.invoice_id else None,
            dispute=batch.disputes.get(row.dispute_id) if row.dispute_id else None,
        )
        if isinstance(decision, Exit):
            await _end(conn, row, decision.reason, now)
            report.ended[decision.reason] = report.ended.get(decision.reason, 0) + 1
        elif isinstance(decision, Wait):
            await _move(conn, row, next_action_at=decision.until)
            report.waited += 1
        elif isinstance(decision, Notice):
            sends[row.customer_id].append(_Send(row, decision, stored))
        else:
            team = decision.team if decision.step.send else (*decision.team, decision.position)
            for position in team:
                await _team_action(conn, row, position, stored, batch, now)
            report.tasks += len(team)
            if decision.step.send is not None:
                sends[row.customer_id].append(_Send(row, decision, stored))
            else:
                await _advance(conn, row, decision, now)
    for customer_id, group in sends.items():
        # One message speaks with one step's words, so only touches of the same kind
        # share it (a delivery is not a past-due reminder). The most pressing kind goes
        # first; the cap then holds the others. An answer to the customer's own dispute
        # is not held by the cap (and counts for the cap of the reminders after it).
        for kind in MESSAGE_ORDER:
            part = [s for s in group if s.stored.sequence.kind == kind]
            if part:
                await _send_group(conn, customer_id, part, batch, now=now, config=config,
                                  report=report, capped=kind != "disputes")  # fmt: skip


async def _move(conn: AsyncConnection, row: Row, **values: Any) -> None:
    e = Enrollment.__table__
    await conn.execute(update(e).where(e.c.id == row.id).values(**values))


async def _end(conn: AsyncConnection, row: Row, reason: str, now: datetime) -> None:
    state = EnrollmentState.COMPLETED if reason == "completed" else EnrollmentState.EXITED
    await _move(conn, row, state=state, ended_at=now, exit_reason=reason, next_action_at=None)
    await ledger.record_event(
        conn, kind="enrollment_ended", now=now, actor="engine", reason=reason,
        customer_id=row.customer_id, invoice_id=row.invoice_id, enrollment_id=row.id,
    )  # fmt: skip


async def _advance(conn: AsyncConnection, row: Row, decision: Act, now: datetime) -> None:
    if decision.next_position is None:
        await _end(conn, row, "completed", now)
        return
    step, repeat = decision.next_position
    await _move(conn, row, current_step=step, repeat_count=repeat, next_action_at=decision.next_at)


def message_context(
    customer: Row,
    invoices: list[InvoiceFacts],
    contact: Row | None,
    pay_url: str | None,
    checklist: tuple[str, ...] = (),
    done: set[str] | frozenset[str] = frozenset(),
) -> dict[str, Any]:
    """What templates see (SPEC section 5): the customer, contact, invoices, totals, links."""
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for invoice in invoices:
        totals[invoice.currency] += invoice.open_amount

    def link(numbers: str, amount: Decimal | None) -> str | None:
        if not pay_url:
            return None
        shown = "" if amount is None else f"{amount:.2f}"
        return pay_url.format(invoice=numbers, customer=customer.external_id, amount=shown)

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
        # Who signs: known once Slack users are (issue 5); templates handle None.
        "collector": None,
        "checklist": [{"item": item, "done": item in done} for item in checklist],
    }


async def _team_action(
    conn: AsyncConnection,
    row: Row,
    position: tuple[int, int],
    stored: Stored,
    batch: _Batch,
    now: datetime,
) -> None:
    """A task for the collector, or an escalation, as a task until Slack posts them."""
    customer = batch.customers[row.customer_id]
    invoices = [batch.invoices[row.invoice_id]] if row.invoice_id in batch.invoices else []
    step_index, repeat = position
    step = stored.sequence.steps[step_index]
    context = message_context(customer, invoices, None, None, step.checklist or (),
                       batch.checklists.get(row.customer_id, set()))  # fmt: skip
    key = f"enrollment:{row.id}:{step_index}:{repeat}"
    if step.task is not None:
        title = render_text(step.task, context, "task")
        kind = "sequence_task"
    else:
        targets = ", ".join(step.escalate or ())
        title = f"Escalation ({targets}): {customer.name}"
        kind = "escalation"
    await ledger.add_task(
        conn, kind=kind, customer_id=row.customer_id, invoice_id=row.invoice_id,
        title=title, now=now, key=key, enrollment_id=row.id,
        body=f"{stored.sequence.name} step {step_index + 1}",
    )  # fmt: skip


def choose_contact(step_send: str, contacts: list[Row]) -> Row | None:
    """The contact to use: the step's channel, else (or for `preferred`) the best one."""
    by_channel: dict[str, Row] = {}
    for contact in contacts:
        by_channel.setdefault(str(contact.channel), contact)
    order = ["telegram", "email"] if step_send == "preferred" else [step_send, "telegram", "email"]
    for channel in order:
        if channel in by_channel:
            return by_channel[channel]
    return None


def _lead(group: list[_Send], invoices: dict[int, InvoiceFacts]) -> _Send:
    """The touch whose step speaks for the whole message: the most overdue invoice's."""

    def overdue(send: _Send) -> Any:
        invoice = invoices.get(send.row.invoice_id)
        return (
            isinstance(send.decision, Notice),
            -(invoice.due_date.toordinal()) if invoice else 0,
        )

    return max(group, key=overdue)


async def _send_group(
    conn: AsyncConnection, customer_id: int, group: list[_Send], batch: _Batch, *,
    now: datetime, config: EngineConfig, report: TickReport, capped: bool = True,
) -> None:  # fmt: skip
    last = batch.last_message.get(customer_id)
    if capped and not timing.cap_allows(last, now, config.frequency_cap):
        until = timing.earliest_after_cap(last, config.frequency_cap)
        for send in group:
            await _move(conn, send.row, next_action_at=until)
        report.capped += len(group)
        return
    customer = batch.customers[customer_id]
    lead = _lead(group, batch.invoices)
    step = lead.decision.step if isinstance(lead.decision, Act) else None
    contact = choose_contact(
        str(step.send) if step else "preferred", batch.contacts.get(customer_id, [])
    )
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
    else:
        checklist = step.checklist or () if step is not None else ()
        context = message_context(customer, invoices, contact, config.pay_url, checklist,
                           batch.checklists.get(customer_id, set()))  # fmt: skip
        variant = None
        if isinstance(lead.decision, Notice):
            message = render(lead.decision.template, context, lead.stored.template_dirs)
        elif step is not None and step.template:
            variant = variant_for(
                lead.stored.sequence, lead.decision.position[0], batch.customer(customer_id)
            )
            message = render(variant or step.template, context, lead.stored.template_dirs)
        else:
            assert step is not None and step.body is not None
            message = render_inline(step.subject, step.body, context)
        touched = sorted(
            f"{s.row.id}.{s.decision.position if isinstance(s.decision, Act) else 'notice'}"
            for s in group
        )
        key = "touch:" + hashlib.sha256("|".join(touched).encode()).hexdigest()[:40]
        upsert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
        position = lead.decision.position if isinstance(lead.decision, Act) else (None, None)
        await conn.execute(
            upsert(OutboxMessage.__table__).values(
                idempotency_key=key, channel=str(contact.channel), kind=CUSTOMER_MESSAGE,
                customer_id=customer_id, contact_id=contact.id, enrollment_id=lead.row.id,
                sequence_id=lead.row.sequence_id, step_index=position[0], variant=variant,
                invoice_ids=[i.id for i in invoices], subject=message.subject,
                body=message.text,
                payload={"html": message.html, "enrollments": [s.row.id for s in group]},
                scheduled_for=now, state=OutboxState.PENDING, attempts=0,
                next_attempt_at=now, created_at=now,
            ).on_conflict_do_nothing(index_elements=["idempotency_key"])
        )  # fmt: skip
        batch.last_message[customer_id] = now
        report.messages += 1
    for send in group:
        if isinstance(send.decision, Notice):
            await _move(conn, send.row, notice=None)
        else:
            await _advance(conn, send.row, send.decision, now)
            report.skipped_positions += send.decision.skipped
