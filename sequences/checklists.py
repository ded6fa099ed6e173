"""Onboarding checklists: what a customer's running onboarding asks for, and ticking items.

A collector ticks an item when the customer has done it (`/ar checklist CUSTOMER ITEM`);
the item is named by its text, a prefix or a unique part of it. Each tick is an event
in the audit trail (`ledger.mark_checklist_item`); ticking the last item makes the
customer's enrollments due, so the next pass ends the onboarding (the planner's
`checklist_done` exit) instead of sending one more reminder.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from sequences.ledger import LedgerError, mark_checklist_item, wake_customer_enrollments
from sequences.store import stored_by_id
from storage.models import Enrollment, EnrollmentState
from storage.queries import checklist_done

RUNNING = (EnrollmentState.ACTIVE, EnrollmentState.PAUSED)


@dataclass(frozen=True)
class Checklist:
    """The items of one running onboarding sequence, in order, and which are done."""

    sequence: str
    items: tuple[tuple[str, bool], ...]

    @property
    def left(self) -> list[str]:
        """The items not done yet."""
        return [item for item, done in self.items if not done]


@dataclass(frozen=True)
class Ticked:
    """What a tick did: the item, whether it was new, and the checklists after it."""

    item: str
    changed: bool
    checklists: list[Checklist]


async def customer_checklists(conn: AsyncConnection, customer_id: int) -> list[Checklist]:
    """The checklists of the customer's running sequences (none: no onboarding runs)."""
    e = Enrollment.__table__
    ids = set(
        await conn.scalars(
            select(e.c.sequence_id).where(e.c.customer_id == customer_id, e.c.state.in_(RUNNING))
        )
    )
    stored = await stored_by_id(conn, ids) if ids else {}
    done = (await checklist_done(conn, {customer_id})).get(customer_id, set())
    found = []
    for version in sorted(stored.values(), key=lambda s: s.sequence.name):
        items = dict.fromkeys(i for step in version.sequence.steps for i in step.checklist or ())
        if items:
            found.append(Checklist(version.sequence.name, tuple((i, i in done) for i in items)))
    return found


def match_item(query: str, items: list[str]) -> str:
    """The item `query` names: the same text, else the only one it starts or is part of."""
    wanted = " ".join(query.split()).casefold()
    if not wanted:
        raise LedgerError("name the checklist item to tick")
    for test in (str.__eq__, str.startswith, str.__contains__):
        hits = [item for item in items if test(item.casefold(), wanted)]
        if len(hits) == 1:
            return hits[0]
        if hits:
            raise LedgerError(f"'{query}' matches {len(hits)} items: {', '.join(hits)}")
    raise LedgerError(f"no checklist item matches '{query}'; the items: {', '.join(items)}")


async def tick_item(
    conn: AsyncConnection, *, customer_id: int, query: str, actor: str, now: datetime
) -> Ticked:
    """Tick the item `query` names on the customer's running checklists (once)."""
    before = await customer_checklists(conn, customer_id)
    if not before:
        raise LedgerError("this customer runs no onboarding checklist")
    items = list(dict.fromkeys(item for checklist in before for item, _ in checklist.items))
    item = match_item(query, items)
    if all(done for checklist in before for i, done in checklist.items if i == item):
        return Ticked(item, False, before)
    await mark_checklist_item(conn, customer_id=customer_id, item=item, actor=actor, now=now)
    after = await customer_checklists(conn, customer_id)
    if any(not checklist.left for checklist in after):
        await wake_customer_enrollments(conn, customer_id, now=now)
    return Ticked(item, True, after)
