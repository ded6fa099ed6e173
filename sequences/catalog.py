"""The stored sequences as people name them: by name, with their running enrollment counts."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from sequences.definitions import did_you_mean
from sequences.ledger import LedgerError
from sequences.store import Stored, stored_by_name
from storage.models import Customer, Enrollment, EnrollmentState, Invoice
from storage.models import Sequence as SequenceRow


class UnknownSequence(LedgerError):
    """No stored sequence has that name; the message names the closest and the known ones."""


@dataclass(frozen=True)
class SequenceSummary:
    """One sequence (its newest version) and how many targets run it now."""

    name: str
    kind: str
    trigger: str
    version: int
    active: bool
    steps: int
    running: int  # active or paused enrollments, over all versions


async def sequence_names(conn: AsyncConnection) -> list[str]:
    """The names of every stored sequence, sorted."""
    s = SequenceRow.__table__
    return sorted((await conn.execute(select(s.c.name).distinct())).scalars())


async def find_sequence(conn: AsyncConnection, name: str) -> Stored:
    """The newest stored version of `name`; UnknownSequence when there is none."""
    stored = await stored_by_name(conn, name)
    if stored is not None:
        return stored
    names = await sequence_names(conn)
    hint = did_you_mean(name, names)
    known = ", ".join(names) if names else "none stored yet"
    raise UnknownSequence(f"no sequence named '{name}'{f' ({hint})' if hint else ''}; "
                          f"known: {known}")  # fmt: skip


async def sequence_overview(conn: AsyncConnection) -> list[SequenceSummary]:
    """Every stored sequence's newest version with its running enrollment count."""
    s, e = SequenceRow.__table__, Enrollment.__table__
    newest = select(s.c.name, func.max(s.c.version).label("version")).group_by(s.c.name).subquery()
    rows = (
        await conn.execute(
            select(s)
            .join(newest, (newest.c.name == s.c.name) & (newest.c.version == s.c.version))
            .order_by(s.c.name)
        )
    ).all()
    running = await conn.execute(
        select(s.c.name, func.count(e.c.id))
        .join(e, e.c.sequence_id == s.c.id)
        .where(e.c.state.in_([EnrollmentState.ACTIVE, EnrollmentState.PAUSED]))
        .group_by(s.c.name)
    )
    counts = {name: int(n) for name, n in running}
    return [
        SequenceSummary(
            r.name,
            str(r.kind),
            r.trigger,
            r.version,
            r.active,
            len(r.definition.get("steps", [])),
            counts.get(r.name, 0),
        )
        for r in rows
    ]


@dataclass(frozen=True)
class RunningEnrollment:
    """An active enrollment of a sequence, as `/ar sequence show` lists it."""

    id: int
    customer: str
    invoice: str | None
    step: int  # 1-based


async def running_enrollments(
    conn: AsyncConnection, name: str, *, limit: int = 10
) -> list[RunningEnrollment]:
    """The active enrollments of sequence `name` due first (at most `limit`)."""
    s, e = SequenceRow.__table__, Enrollment.__table__
    c, i = Customer.__table__, Invoice.__table__
    rows = await conn.execute(
        select(e.c.id, e.c.current_step, c.c.name, i.c.number)
        .join(s, s.c.id == e.c.sequence_id)
        .join(c, c.c.id == e.c.customer_id)
        .outerjoin(i, i.c.id == e.c.invoice_id)
        .where(s.c.name == name, e.c.state == EnrollmentState.ACTIVE)
        .order_by(e.c.next_action_at, e.c.id)
        .limit(limit)
    )
    return [RunningEnrollment(r.id, r.name, r.number, r.current_step + 1) for r in rows]
