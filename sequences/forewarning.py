"""Forewarning: tomorrow's customer touches per account owner, and the Hold on an account.

Every afternoon each collector is shown the customer messages their accounts will get
tomorrow (the team's local day), so they can hold an account or send a touch now. Only
active enrollments whose indexed `next_action_at` falls before the end of tomorrow are
read; the send instant is then worked out with the engine's own timing rules. One
claim per collector and day (`daily_claims`) makes it once a day across workers.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from sequences import ledger, timing
from sequences.planner import CustomerFacts, day_start, variant_for, window_of
from sequences.store import stored_by_id
from storage import digest_queries as dq
from storage.models import Customer, Enrollment, EnrollmentState, Invoice, PauseScope
from storage.queries import active_pauses

HOLD_REASON = "held from the forewarning"
# A claim never marked done this long after it was taken is from a worker that died.
STALE_CLAIM = timedelta(hours=1)


@dataclass(frozen=True)
class Touch:
    """One customer message planned for tomorrow."""

    enrollment_id: int
    customer_id: int
    customer: str
    external_id: str
    timezone: str
    sequence: str
    step_number: int  # 1-based, as `/ar sequence show` numbers steps
    what: str  # "email: past_due_gentle"
    invoice: str | None
    open_amount: Decimal | None
    currency: str | None
    send_at: datetime  # aware UTC

    def local_send_at(self) -> datetime:
        """The send instant in the customer's time zone."""
        return self.send_at.astimezone(ZoneInfo(self.timezone))


def forewarn_day(now: datetime, zone: ZoneInfo, at: time) -> date | None:
    """The team's local day whose forewarning is due at `now` (its time has passed), else None."""
    local = now.astimezone(zone)
    return local.date() if local.time() >= at else None


def claim_job(owner: str) -> str:
    """The `daily_claims` job of one collector's forewarning."""
    return f"forewarn:{owner}"


def _what(step_send: str, template: str | None, notice: str | None) -> str:
    if notice:
        return f"notice: {notice}"
    return f"{step_send}: {template}" if template else f"{step_send}: inline message"


async def tomorrows_touches(
    conn: AsyncConnection, *, day: date, zone: ZoneInfo, now: datetime
) -> dict[str, list[Touch]]:
    """The customer messages due on the local day after `day`, per owner's Slack id.

    Accounts without an owner, held (paused) targets and settled invoices are left out.
    """
    start = day_start(day + timedelta(days=1), str(zone))
    end = day_start(day + timedelta(days=2), str(zone))
    e, c, i = Enrollment.__table__, Customer.__table__, Invoice.__table__
    columns = (
        e.c.id, e.c.sequence_id, e.c.customer_id, e.c.invoice_id, e.c.current_step,
        e.c.next_action_at, e.c.notice, c.c.name, c.c.external_id, c.c.timezone, c.c.country,
        c.c.owner_slack_id, i.c.number, i.c.open_amount, i.c.currency, i.c.status,
    )  # fmt: skip
    rows = (
        await conn.execute(
            select(*columns)
            .join(c, c.c.id == e.c.customer_id)
            .outerjoin(i, i.c.id == e.c.invoice_id)
            .where(e.c.state == EnrollmentState.ACTIVE)
            .where(e.c.next_action_at >= now, e.c.next_action_at < end)
            .where(c.c.owner_slack_id.is_not(None))
            .order_by(e.c.next_action_at, e.c.id)
        )
    ).all()
    if not rows:
        return {}
    stored = await stored_by_id(conn, {r.sequence_id for r in rows})
    pauses = await active_pauses(
        conn, customer_ids={r.customer_id for r in rows},
        invoice_ids={r.invoice_id for r in rows if r.invoice_id},
        sequence_names={s.sequence.name for s in stored.values()}, now=start,
    )  # fmt: skip
    held_customers = {p.customer_id for p in pauses if p.scope == PauseScope.CUSTOMER}
    held_invoices = {p.invoice_id for p in pauses if p.scope == PauseScope.INVOICE}
    held_sequences = {p.sequence_name for p in pauses if p.scope == PauseScope.SEQUENCE}
    touches: dict[str, list[Touch]] = defaultdict(list)
    for row in rows:
        sequence = stored[row.sequence_id].sequence
        if (
            row.customer_id in held_customers
            or row.invoice_id in held_invoices
            or sequence.name in held_sequences
            or (row.status is not None and (row.status != "open" or row.open_amount <= 0))
            or row.current_step >= len(sequence.steps)
        ):
            continue
        step = sequence.steps[row.current_step]
        if step.send is None and not row.notice:
            continue  # tasks and escalations reach the team, not the customer
        facts = CustomerFacts(row.customer_id, row.external_id, row.name, row.timezone)
        send_at = timing.next_send_time(
            row.next_action_at, row.timezone, row.country, window_of(sequence)
        )
        if not start <= send_at < end:
            continue
        template = variant_for(sequence, row.current_step, facts) or step.template
        touches[row.owner_slack_id].append(
            Touch(
                enrollment_id=row.id, customer_id=row.customer_id, customer=row.name,
                external_id=row.external_id, timezone=row.timezone, sequence=sequence.name,
                step_number=row.current_step + 1,
                what=_what(str(step.send or "preferred"), template, row.notice),
                invoice=row.number, open_amount=row.open_amount, currency=row.currency,
                send_at=send_at,
            )
        )  # fmt: skip
    return dict(touches)


async def claim_forewarning(
    engine: AsyncEngine, *, owner: str, day: date, worker: str, now: datetime
) -> bool:
    """Take one collector's forewarning of `day`: True for exactly one caller."""
    async with engine.begin() as conn:
        return await dq.claim_day(
            conn, job=claim_job(owner), day=day, worker=worker, now=now,
            stale_before=now - STALE_CLAIM,
        )  # fmt: skip


async def release_forewarning(engine: AsyncEngine, *, owner: str, day: date, worker: str) -> None:
    """Give the claim back after a failed message, so the next pass tries again."""
    async with engine.begin() as conn:
        await dq.release_day(conn, job=claim_job(owner), day=day, worker=worker)


async def forewarning_sent(engine: AsyncEngine, *, owner: str, day: date, now: datetime) -> None:
    """Mark one collector's forewarning of `day` done."""
    async with engine.begin() as conn:
        await dq.finish_day(conn, job=claim_job(owner), day=day, now=now)


async def hold_account(
    conn: AsyncConnection, *, customer_id: int, actor: str, now: datetime
) -> bool:
    """Hold every touch of a customer until released (`/ar resume`); False if already held."""
    exists = await conn.scalar(select(Customer.id).where(Customer.id == customer_id))
    if exists is None:
        raise ledger.LedgerError(f"no customer with id {customer_id}")
    held = await active_pauses(
        conn, customer_ids={customer_id}, invoice_ids=set(), sequence_names=set(), now=now
    )
    if any(p.scope == PauseScope.CUSTOMER for p in held):
        return False
    await ledger.pause(
        conn, scope=PauseScope.CUSTOMER, customer_id=customer_id, until=None,
        reason=HOLD_REASON, actor=actor, now=now,
    )  # fmt: skip
    return True
