"""A dispute's escalation chain, after Grafana OnCall: typed steps frozen at the start, a pure
executor, and a guard so that a duplicate run does nothing.

The chain is made from the disputes sequence's `escalate` steps when the engine first acts
on one of them (`start_chain`): each step, and each repetition of a repeating one, becomes
a `ChainStep` at a fixed instant (the step's day, at the local time the dispute was
opened, so "1bd" means a business day later). Editing the sequence afterwards does not
change a running chain. The engine's tick only starts chains; running them is
`execute` over the stored row, called after each pass by whoever shows the chain (the
Slack poster), so there is one scheduler: the pass.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from sequences.definitions import Sequence
from sequences.planner import (
    CustomerFacts,
    DisputeFacts,
    EnrollmentFacts,
    position_day,
    positions,
)
from storage.models import DisputeStatus, Escalation, EscalationState

ACKNOWLEDGED, RESOLVED, EXHAUSTED = "acknowledged", "resolved", "exhausted"
STATE_OF_STOP = {
    ACKNOWLEDGED: EscalationState.ACKNOWLEDGED,
    RESOLVED: EscalationState.RESOLVED,
    EXHAUSTED: EscalationState.EXHAUSTED,
}


@dataclass(frozen=True)
class ChainStep:
    """Notify `targets` (levels like `managers`, or Slack ids) at `at`."""

    at: datetime
    targets: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {"at": self.at.isoformat(), "targets": list(self.targets)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ChainStep:
        return cls(datetime.fromisoformat(data["at"]), tuple(data["targets"]))


@dataclass(frozen=True)
class Outcome:
    """What one run of the chain does.

    `run`: the index of the step to carry out now (after downtime only the latest due
    one: one mention, not a burst), None for nothing; `level`: how many steps have run
    afterwards; `next_at`: when to look again (None once stopped); `stop`: why the chain
    ends (acknowledged, resolved, exhausted), None while it goes on.
    """

    run: int | None
    level: int
    next_at: datetime | None
    stop: str | None = None


def freeze_chain(
    sequence: Sequence, *, customer: CustomerFacts, dispute: DisputeFacts, started_at: datetime
) -> list[ChainStep]:
    """The sequence's escalate steps as instants, for this dispute (in the customer's calendar)."""
    zone = ZoneInfo(customer.timezone)
    opened = dispute.opened_at.astimezone(zone)
    enrollment = EnrollmentFacts(0, 0, 0, started_at)
    chain = []
    for position in positions(sequence):
        step = sequence.steps[position[0]]
        if step.escalate is None:
            continue
        day = position_day(sequence, position, customer=customer, enrollment=enrollment,
                           dispute=dispute)  # fmt: skip
        at = datetime.combine(day, time(opened.hour, opened.minute), tzinfo=zone).astimezone(UTC)
        chain.append(ChainStep(max(at, dispute.opened_at), step.escalate))
    return chain


def execute(chain: list[ChainStep], *, level: int, dispute_status: str, now: datetime) -> Outcome:
    """Run the chain at `now` from `level` (pure): is it still needed, and what is due."""
    if dispute_status == DisputeStatus.RESOLVED:
        return Outcome(None, level, None, RESOLVED)
    if dispute_status != DisputeStatus.OPEN:
        return Outcome(None, level, None, ACKNOWLEDGED)
    if level >= len(chain):
        return Outcome(None, level, None, EXHAUSTED)
    due = [i for i in range(level, len(chain)) if chain[i].at <= now]
    if not due:
        return Outcome(None, level, chain[level].at)
    ran = due[-1]
    after = ran + 1
    if after >= len(chain):
        return Outcome(ran, after, None, EXHAUSTED)
    return Outcome(ran, after, chain[after].at)


async def start_chain(
    conn: AsyncConnection,
    *,
    sequence: Sequence,
    customer: CustomerFacts,
    dispute: DisputeFacts,
    now: datetime,
) -> bool:
    """Freeze and store the dispute's chain; False when it has one already (a later step)."""
    e = Escalation.__table__
    if await conn.scalar(select(e.c.id).where(e.c.dispute_id == dispute.id)) is not None:
        return False
    chain = freeze_chain(sequence, customer=customer, dispute=dispute, started_at=now)
    if not chain:
        return False
    await conn.execute(
        e.insert().values(
            dispute_id=dispute.id, chain=[s.to_json() for s in chain], level=0,
            state=EscalationState.ACTIVE, next_at=chain[0].at, guard=0, started_at=now,
        )
    )  # fmt: skip
    return True


async def apply_outcome(
    conn: AsyncConnection, *, escalation_id: int, guard: int, outcome: Outcome
) -> bool:
    """Store a run's outcome if nobody ran the chain since `guard` was read; False: a duplicate."""
    e = Escalation.__table__
    values: dict[str, Any] = {"level": outcome.level, "next_at": outcome.next_at,
                              "guard": guard + 1}  # fmt: skip
    if outcome.stop is not None:
        values["state"] = STATE_OF_STOP[outcome.stop]
    done = await conn.execute(
        update(e)
        .where(e.c.id == escalation_id, e.c.guard == guard, e.c.state == EscalationState.ACTIVE)
        .values(**values)
    )
    return bool(done.rowcount)


async def rewind(
    conn: AsyncConnection, *, escalation_id: int, guard: int, level: int, now: datetime
) -> None:
    """Undo a run whose notification could not be shown (guard: the one it stored)."""
    e = Escalation.__table__
    await conn.execute(
        update(e)
        .where(e.c.id == escalation_id, e.c.guard == guard)
        .values(level=level, next_at=now, state=EscalationState.ACTIVE, guard=guard + 1)
    )


async def stop_chain(
    conn: AsyncConnection, *, dispute_id: int, stop: str, actor: str | None, now: datetime
) -> None:
    """End the dispute's chain at once (acknowledged or resolved), whoever did it."""
    e = Escalation.__table__
    values: dict[str, Any] = {"state": STATE_OF_STOP[stop], "next_at": None,
                              "guard": e.c.guard + 1}  # fmt: skip
    if stop == ACKNOWLEDGED:
        values |= {"acknowledged_at": now, "acknowledged_by": actor}
    await conn.execute(
        update(e)
        .where(e.c.dispute_id == dispute_id, e.c.state != EscalationState.RESOLVED)
        .values(**values)
    )
