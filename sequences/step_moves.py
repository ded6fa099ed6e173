"""A collector moving one enrollment along by hand: Send now, and Skip step.

Send now makes the current message step the enrollment's one-off notice and moves the
enrollment past it, due at once: the next pass sends it with the engine's rules (send
window, frequency cap, re-checks) and the step is not sent a second time. Skip step
moves the enrollment to its next position without sending. Both are recorded in the
audit trail.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from sequences import ledger
from sequences.definitions import Sequence
from sequences.planner import CustomerFacts, Position, positions, variant_for
from sequences.store import stored_by_id
from storage.models import Customer, Enrollment, EnrollmentState

SEND_NOW = "send_now"
STEP_SKIPPED = "step_skipped"


class StepMoveError(ledger.LedgerError):
    """An enrollment that cannot be moved that way, with the reason for the user."""


@dataclass(frozen=True)
class Moved:
    """Where an enrollment went: the step it left and the one it is at (None: completed)."""

    enrollment_id: int
    sequence: str
    left_step: int  # 1-based
    next_step: int | None  # 1-based; None when the enrollment completed


async def _load(conn: AsyncConnection, enrollment_id: int) -> tuple[Any, Sequence]:
    e = Enrollment.__table__
    row = (await conn.execute(select(e).where(e.c.id == enrollment_id))).first()
    if row is None:
        raise StepMoveError(f"no enrollment #{enrollment_id}")
    if row.state != EnrollmentState.ACTIVE:
        raise StepMoveError(f"enrollment #{enrollment_id} is {row.state}, not active")
    sequence = (await stored_by_id(conn, {row.sequence_id}))[row.sequence_id].sequence
    if row.current_step >= len(sequence.steps):
        raise StepMoveError(f"enrollment #{enrollment_id} has no step left")
    return row, sequence


def _following(sequence: Sequence, row: Any) -> Position | None:
    order = positions(sequence)
    current = (row.current_step, row.repeat_count)
    index = order.index(current) if current in order else len(order)
    return order[index + 1] if index + 1 < len(order) else None


async def _move(
    conn: AsyncConnection, row: Any, sequence: Sequence, now: datetime, **values: Any
) -> Moved:
    following = _following(sequence, row)
    e = Enrollment.__table__
    if following is None and "notice" not in values:
        values |= {"state": EnrollmentState.COMPLETED, "ended_at": now,
                   "exit_reason": "completed", "next_action_at": None}  # fmt: skip
    else:
        step, repeat = following if following is not None else (len(sequence.steps), 0)
        values |= {"current_step": step, "repeat_count": repeat, "next_action_at": now}
    await conn.execute(update(e).where(e.c.id == row.id).values(**values))
    return Moved(
        row.id, sequence.name, row.current_step + 1,
        None if following is None else following[0] + 1,
    )  # fmt: skip


async def send_now(
    conn: AsyncConnection, *, enrollment_id: int, actor: str, now: datetime
) -> Moved:
    """Send the enrollment's current message step at the next pass instead of at its time."""
    row, sequence = await _load(conn, enrollment_id)
    step = sequence.steps[row.current_step]
    if row.notice:
        raise StepMoveError("a one-off message is already waiting to go; the next pass sends it")
    if step.send is None:
        raise StepMoveError(f"step {row.current_step + 1} is not a customer message")
    if not step.template:
        raise StepMoveError(
            f"step {row.current_step + 1} has an inline message; it goes at its time "
            "(Send now works for template steps)"
        )
    external_id = await conn.scalar(
        select(Customer.external_id).where(Customer.id == row.customer_id)
    )
    facts = CustomerFacts(row.customer_id, str(external_id), "")
    template = variant_for(sequence, row.current_step, facts) or step.template
    # A finished sequence keeps its notice: the planner sends it, then ends the enrollment.
    key = f"send_now:{row.current_step}.{row.repeat_count}"
    moved = await _move(conn, row, sequence, now, notice=template, notice_key=key)
    await ledger.record_event(
        conn, kind=SEND_NOW, now=now, actor=actor, customer_id=row.customer_id,
        invoice_id=row.invoice_id, enrollment_id=row.id, step=moved.left_step,
        template=template,
    )  # fmt: skip
    return moved


async def skip_step(
    conn: AsyncConnection,
    *,
    enrollment_id: int,
    actor: str,
    now: datetime,
    at_step: int | None = None,
) -> Moved:
    """Move the enrollment to its next step without doing the current one.

    `at_step` (1-based) is the step the caller saw: if the enrollment has moved since
    (a second click), nothing is skipped.
    """
    row, sequence = await _load(conn, enrollment_id)
    if at_step is not None and row.current_step + 1 != at_step:
        raise StepMoveError(
            f"enrollment #{enrollment_id} is at step {row.current_step + 1} now, not {at_step}: "
            "nothing skipped"
        )
    moved = await _move(conn, row, sequence, now)
    await ledger.record_event(
        conn, kind=STEP_SKIPPED, now=now, actor=actor, customer_id=row.customer_id,
        invoice_id=row.invoice_id, enrollment_id=row.id, step=moved.left_step,
        next_step=moved.next_step,
    )  # fmt: skip
    return moved
