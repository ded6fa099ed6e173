"""One tick of the engine: enroll, plan what is due, write the outbox, advance.

Only enrollments whose `next_action_at` has come are read, in batches of whole
customers (`storage.queries.claim_due_enrollments`); each batch is one transaction:
the outbox rows it writes and the enrollments it advances commit together, so a tick
run twice writes nothing new. Touches of one customer that fall due together become
one message listing every invoice, and no customer gets two messages within the
frequency cap, across all sequences. What a batch knows is read by `sequences.batch`;
the message itself is composed and written by `sequences.messages`.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from sequences import escalation, ledger, timing
from sequences.batch import Batch, load_batch
from sequences.messages import Send, compose_message, message_context, message_key, written_keys
from sequences.planner import Act, EnrollmentFacts, Exit, Notice, Wait, plan
from sequences.promises import PROMISE_GRACE, settle_promises
from sequences.send_windows import WindowError
from sequences.store import Stored, active_sequences, ensure_library
from sequences.templates import refresh as refresh_templates
from sequences.templates import render_text
from storage.db import take_write_lock
from storage.models import EnrollmentState
from storage.queries import (
    add_outbox_messages,
    claim_due_enrollments,
    enroll_new_targets,
    move_enrollments,
    save_scan_mark,
    scan_marks,
    scan_start,
    wake_paused_enrollments,
)

MESSAGE_ORDER = ("disputes", "past_due", "invoicing", "onboarding")


# Exit reason of an enrollment whose customer was excluded after it started.
EXCLUDED = "excluded"
# Exit reason of an enrollment whose send window never meets a business day of its customer.
NO_WINDOW = "no_send_window"


@dataclass(frozen=True)
class EngineConfig:
    """The engine's knobs (defaults are SPEC's)."""

    frequency_cap: timedelta = timedelta(days=2)
    min_balance: Decimal = Decimal(0)
    exclude_tag: str | None = "no-reminders"
    batch: int = 1000  # due rows naming a batch's customers (all their due rows come too)
    pay_url: str | None = None
    promise_grace: timedelta = PROMISE_GRACE


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
    refresh_templates()
    async with engine.begin() as conn:
        await take_write_lock(conn)
        await ensure_library(conn, now=now)
        # Promises first: a broken one resumes its enrollments with a notice, which
        # waking them merely because their pause ran out would not give.
        promises = await settle_promises(conn, now=now, grace=config.promise_grace)
        report.promises_kept, report.promises_broken = len(promises.kept), len(promises.broken)
        report.woken = await wake_paused_enrollments(conn, now=now)
        sequences = await active_sequences(conn)
        # Each trigger looks only at what changed since its last look, and at everything
        # once a day (`storage.queries.scan_marks`); enrolling changes no invoice or
        # customer, so one start serves every sequence.
        marks = await scan_marks(conn, [stored.id for stored in sequences], now=now)
        started = await scan_start(conn, now)
        for stored in sequences:
            mark = marks.get(stored.id)
            report.enrolled += await enroll_new_targets(
                conn, sequence_id=stored.id, sequence_name=stored.sequence.name,
                trigger=str(stored.sequence.trigger), now=now, since=stored.created_at,
                min_balance=config.min_balance, exclude_tag=config.exclude_tag, mark=mark,
            )  # fmt: skip
            await save_scan_mark(conn, stored.id, now=now, started=started, full=mark is None)
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


async def _run_batch(
    conn: AsyncConnection, rows: list[Row], *, now: datetime, config: EngineConfig,
    report: TickReport,
) -> None:  # fmt: skip
    batch = await load_batch(conn, rows, now)
    writes = _Writes()
    sends: dict[int, list[Send]] = defaultdict(list)
    for row in rows:
        report.due += 1
        stored = batch.sequences[row.sequence_id]
        held = batch.paused_until(row, stored.sequence.name, now)
        if held is not None:
            # A paused target's steps wait; planned now, dispatch would only skip them.
            writes.move(row, next_action_at=held)
            report.waited += 1
            continue
        if stored.sequence.kind != "disputes" and excluded(
            batch.customers[row.customer_id], config.exclude_tag
        ):
            # Set to autopay or tagged after it started: nothing more is sent or tasked.
            _end(writes, row, EXCLUDED, now)
            report.ended[EXCLUDED] = report.ended.get(EXCLUDED, 0) + 1
            continue
        customer = batch.customer(row.customer_id)
        try:
            decision = plan(
                stored.sequence,
                EnrollmentFacts(
                    row.id, row.current_step, row.repeat_count, row.started_at, row.notice
                ),
                customer=customer,
                now=now,
                invoice=batch.invoices.get(row.invoice_id) if row.invoice_id else None,
                dispute=batch.disputes.get(row.dispute_id) if row.dispute_id else None,
                preferred_hour=batch.preference(row.customer_id).hour,
            )
        except WindowError as exc:
            # This customer can never be reached in the window (no business day of their
            # country in it): the enrollment ends and the owner hears why; the batch goes on.
            await _unreachable_window(conn, writes, row, stored, exc, now)
            report.ended[NO_WINDOW] = report.ended.get(NO_WINDOW, 0) + 1
            continue
        if isinstance(decision, Exit):
            _end(writes, row, decision.reason, now)
            report.ended[decision.reason] = report.ended.get(decision.reason, 0) + 1
        elif isinstance(decision, Wait):
            writes.move(row, next_action_at=decision.until)
            report.waited += 1
        elif isinstance(decision, Notice):
            sends[row.customer_id].append(Send(row, decision, stored))
        else:
            team = decision.team if decision.step.send else (*decision.team, decision.position)
            for position in team:
                await _team_action(conn, row, position, stored, batch, now)
            report.tasks += len(team)
            if decision.step.send is not None:
                sends[row.customer_id].append(Send(row, decision, stored))
            else:
                _advance(writes, row, decision, now)
    # One message speaks with one step's words, so only touches of the same kind share
    # it (a delivery is not a past-due reminder). The most pressing kind goes first; the
    # cap then holds the others. An answer to the customer's own dispute is not held by
    # the cap (and counts for the cap of the reminders after it).
    parts = [
        (customer_id, kind, part, message_key(part))
        for customer_id, group in sends.items()
        for kind in MESSAGE_ORDER
        if (part := [s for s in group if s.stored.sequence.kind == kind])
    ]
    written = await written_keys(conn, [key for *_, key in parts])
    for customer_id, kind, part, key in parts:
        await _send_group(
            conn, writes, customer_id, part, batch, now=now, config=config, report=report,
            capped=kind != "disputes", key=key, written=key in written,
        )  # fmt: skip
    await add_outbox_messages(conn, writes.outbox)
    await move_enrollments(conn, writes.moves)
    await ledger.record_events(conn, writes.events)


@dataclass
class _Writes:
    """A batch's outbox rows, enrollment updates and events, written together at its end."""

    outbox: list[dict[str, Any]] = field(default_factory=list)
    moves: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)

    def move(self, row: Row, **values: Any) -> None:
        self.moves.append({"id": row.id, **values})


def _end(writes: _Writes, row: Row, reason: str, now: datetime) -> None:
    state = EnrollmentState.COMPLETED if reason == "completed" else EnrollmentState.EXITED
    writes.move(row, state=state, ended_at=now, exit_reason=reason, next_action_at=None)
    writes.events.append(ledger.event_values(
        kind="enrollment_ended", now=now, actor="engine", reason=reason,
        customer_id=row.customer_id, invoice_id=row.invoice_id, enrollment_id=row.id,
    ))  # fmt: skip


def excluded(customer: Row, exclude_tag: str | None) -> bool:
    """Whether the customer is not to be chased: autopay, or tagged `exclude_tag`
    (the rule the trigger applies when it starts sequences)."""
    return bool(customer.autopay) or bool(exclude_tag and exclude_tag in (customer.tags or ()))


async def _unreachable_window(
    conn: AsyncConnection, writes: _Writes, row: Row, stored: Stored, problem: WindowError,
    now: datetime,
) -> None:  # fmt: skip
    _end(writes, row, NO_WINDOW, now)
    await ledger.add_task(
        conn, kind="sequence_task", customer_id=row.customer_id, invoice_id=row.invoice_id,
        now=now, key=f"enrollment:{row.id}:{NO_WINDOW}", enrollment_id=row.id,
        title=f"{stored.sequence.name} cannot reach this customer and was stopped: {problem}",
    )  # fmt: skip


def _advance(writes: _Writes, row: Row, decision: Act, now: datetime) -> None:
    if decision.next_position is None:
        _end(writes, row, "completed", now)
        return
    step, repeat = decision.next_position
    writes.move(row, current_step=step, repeat_count=repeat, next_action_at=decision.next_at)


async def _team_action(
    conn: AsyncConnection,
    row: Row,
    position: tuple[int, int],
    stored: Stored,
    batch: Batch,
    now: datetime,
) -> None:
    """A task for the collector, or an escalation, as a task until Slack posts them.

    A disputes sequence's escalate steps are the dispute's chain instead: the first one
    starts it (`sequences.escalation`), which then runs them all; later ones are no-ops.
    """
    if stored.sequence.steps[position[0]].escalate is not None and row.dispute_id in batch.disputes:
        await escalation.start_chain(
            conn, sequence=stored.sequence, customer=batch.customer(row.customer_id),
            dispute=batch.disputes[row.dispute_id], now=now,
        )  # fmt: skip
        return
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


async def _send_group(
    conn: AsyncConnection, writes: _Writes, customer_id: int, group: list[Send], batch: Batch, *,
    now: datetime, config: EngineConfig, report: TickReport, capped: bool, key: str,
    written: bool,
) -> None:  # fmt: skip
    """One customer's touches of one kind: held by the cap, or one message; then they move on.

    Touches whose message (`key`) is `written` already move on without a new one, and
    without counting for the cap: only a message really written does.
    """
    if not written:
        last = batch.last_message.get(customer_id)
        if capped and not timing.cap_allows(last, now, config.frequency_cap):
            until = timing.earliest_after_cap(last, config.frequency_cap)
            for send in group:
                writes.move(send.row, next_action_at=until)
            report.capped += len(group)
            return
        row = await compose_message(
            conn, customer_id, group, batch, key=key, now=now, pay_url=config.pay_url
        )
        if row is not None:
            writes.outbox.append(row)
            batch.last_message[customer_id] = now
            report.messages += 1
    for send in group:
        if isinstance(send.decision, Notice):
            writes.move(send.row, notice=None, notice_key=None)
        else:
            _advance(writes, send.row, send.decision, now)
            report.skipped_positions += send.decision.skipped
