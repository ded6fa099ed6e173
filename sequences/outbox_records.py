"""How dispatch writes what happened to outbox rows: their new state and their events.

Outcomes of a batch are written together (one `executemany` per shape of change, one
for the events), so a batch of sends costs a few statements, not a few per message.
Only the claimant may settle (or release) a row: a worker whose lease ran out, and whose row another
worker claimed again, must not overwrite that worker's outcome.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, update
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from sequences.ledger import record_events
from storage.models import OutboxMessage, OutboxState


@dataclass
class Outcome:
    """The end of one claimed row's attempt: its state, the columns set, its event."""

    row: Row
    state: OutboxState
    event: str
    values: dict[str, Any] = field(default_factory=dict)
    reason: str | None = None
    data: dict[str, Any] = field(default_factory=dict)


def event_row(row: Row, kind: str, now: datetime, reason: str | None = None, **data: Any) -> dict:
    """The audit-trail event of something that happened to an outbox row (for
    `sequences.ledger.record_events`)."""
    return {
        "at": now, "kind": kind, "actor": row.claimed_by, "customer_id": row.customer_id,
        "enrollment_id": row.enrollment_id, "outbox_id": row.id, "reason": reason,
        "data": {"channel": row.channel, "attempt": row.attempts, **data},
    }  # fmt: skip


async def record_outcomes(
    conn: AsyncConnection, outcomes: Iterable[Outcome], now: datetime
) -> None:
    """Settle the rows (as their claimant) and add one event each."""
    o = OutboxMessage.__table__
    shapes: dict[tuple[str, ...], list[Outcome]] = defaultdict(list)
    done = list(outcomes)
    for outcome in done:
        shapes[tuple(sorted(outcome.values))].append(outcome)
    for columns, group in shapes.items():
        stmt = (
            update(o)
            .where(
                o.c.id == bindparam("o_id"),
                o.c.claimed_by == bindparam("o_by"),
                o.c.attempts == bindparam("o_attempts"),
            )
            .values(
                state=bindparam("o_state", type_=o.c.state.type),
                lease_until=None,
                **{c: bindparam(f"v_{c}", type_=o.c[c].type) for c in columns},
            )
        )
        params = [
            {"o_id": x.row.id, "o_by": x.row.claimed_by, "o_attempts": x.row.attempts,
             "o_state": x.state, **{f"v_{c}": x.values[c] for c in columns}}
            for x in group
        ]  # fmt: skip
        await conn.execute(stmt, params)
    await record_events(conn, [event_row(x.row, x.event, now, x.reason, **x.data) for x in done])


async def release_claims(conn: AsyncConnection, rows: Iterable[Row]) -> None:
    """Give claimed rows back unsent: pending again, no lease, the claim's attempt undone."""
    o = OutboxMessage.__table__
    params = [{"o_id": r.id, "o_by": r.claimed_by, "o_attempts": r.attempts} for r in rows]
    if not params:
        return
    stmt = (
        update(o)
        .where(
            o.c.id == bindparam("o_id"),
            o.c.claimed_by == bindparam("o_by"),
            o.c.attempts == bindparam("o_attempts"),
            o.c.state == OutboxState.SENDING,
        )
        .values(state=OutboxState.PENDING, lease_until=None, claimed_by=None)
        .values(attempts=o.c.attempts - 1)
    )
    await conn.execute(stmt, params)
