"""Set-based queries the engine, dispatch and KPIs need."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    String,
    and_,
    bindparam,
    cast,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.models import (
    Customer,
    Dispute,
    DisputeStatus,
    Enrollment,
    EnrollmentState,
    Event,
    Invoice,
    InvoiceStatus,
    OutboxMessage,
    OutboxState,
    Pause,
    PauseScope,
    Promise,
    PromiseStatus,
    TriggerScan,
    utcnow,
)
from storage.models import Sequence as SequenceRow
from storage.types import UTCDateTime


async def claim_outbox(
    conn: AsyncConnection, *, now: datetime, worker: str, limit: int, lease: timedelta
) -> Sequence[Row]:
    """Claim up to `limit` outbox rows that are due, or whose claimant's lease ran out.

    One statement: an UPDATE of the chosen ids, RETURNING them. On PostgreSQL the ids
    are chosen `FOR UPDATE SKIP LOCKED`, so concurrent workers never take the same row;
    SQLite has one writer at a time, so the statement alone is the claim there.
    """
    o = OutboxMessage.__table__
    ready = or_(
        and_(o.c.state == OutboxState.PENDING, o.c.next_attempt_at <= now),
        and_(o.c.state == OutboxState.SENDING, o.c.lease_until < now),
    )
    chosen = select(o.c.id).where(ready).order_by(o.c.next_attempt_at, o.c.id).limit(limit)
    if conn.dialect.name == "postgresql":
        chosen = chosen.with_for_update(skip_locked=True)
    stmt = (
        update(o)
        .where(o.c.id.in_(chosen.scalar_subquery()))
        .values(
            state=OutboxState.SENDING,
            claimed_by=worker,
            lease_until=now + lease,
            attempts=o.c.attempts + 1,
        )
        .returning(*o.c)
    )
    rows = (await conn.execute(stmt)).all()
    return sorted(rows, key=lambda r: (r.next_attempt_at, r.id))


@dataclass(frozen=True)
class TouchTarget:
    """What one message is about, for `touch_block_reasons`."""

    customer_id: int
    invoice_ids: tuple[int, ...]
    sequence_name: str | None
    about_dispute: bool = False


async def touch_block_reasons(
    conn: AsyncConnection,
    targets: Mapping[int, TouchTarget],
    *,
    now: datetime,
    promise_grace: timedelta,
) -> dict[int, str | None]:
    """Why each target must not be touched now (`paid`, `closed`, `disputed`, `promised`,
    `paused`), or None; keyed like `targets`, read with four set-based queries.

    Checked right before messages leave: paid, disputed, paused (customer, invoice or
    whole sequence) and a pending promise (until its date plus the grace period). A
    message `about_dispute` (the disputes sequence's own) is not blocked by it.
    """
    if not targets:
        return {}
    i, d, p, pr = Invoice.__table__, Dispute.__table__, Pause.__table__, Promise.__table__
    invoice_ids = sorted({n for t in targets.values() for n in t.invoice_ids})
    customer_ids = sorted({t.customer_id for t in targets.values()})
    names = sorted({t.sequence_name for t in targets.values() if t.sequence_name})
    states: dict[int, tuple[InvoiceStatus, Decimal]] = {}
    disputed: set[int] = set()
    promised: set[int] = set()
    if invoice_ids:
        found = await conn.execute(
            select(i.c.id, i.c.status, i.c.open_amount).where(i.c.id.in_(invoice_ids))
        )
        states = {r.id: (r.status, r.open_amount) for r in found}
        disputed = set(
            await conn.scalars(
                select(d.c.invoice_id).where(
                    d.c.invoice_id.in_(invoice_ids), d.c.status != DisputeStatus.RESOLVED
                )
            )
        )
        promised_until: date = (now - promise_grace).date()
        promised = set(
            await conn.scalars(
                select(pr.c.invoice_id).where(
                    pr.c.invoice_id.in_(invoice_ids),
                    pr.c.status == PromiseStatus.PENDING,
                    pr.c.promised_date >= promised_until,
                )
            )
        )
    scope = [
        and_(p.c.scope == PauseScope.CUSTOMER, p.c.customer_id.in_(customer_ids)),
        and_(p.c.scope == PauseScope.INVOICE, p.c.invoice_id.in_(invoice_ids)),
        and_(p.c.scope == PauseScope.SEQUENCE, p.c.sequence_name.in_(names)),
    ]
    pauses = (
        await conn.execute(
            select(p.c.scope, p.c.customer_id, p.c.invoice_id, p.c.sequence_name).where(
                or_(*scope), p.c.lifted_at.is_(None), or_(p.c.until.is_(None), p.c.until > now)
            )
        )
    ).all()
    paused_customers = {r.customer_id for r in pauses if r.scope == PauseScope.CUSTOMER}
    paused_invoices = {r.invoice_id for r in pauses if r.scope == PauseScope.INVOICE}
    paused_names = {r.sequence_name for r in pauses if r.scope == PauseScope.SEQUENCE}

    def reason(t: TouchTarget) -> str | None:
        for n in t.invoice_ids:
            # One settled invoice is enough: a message never chases a paid invoice, even
            # beside others that are still open (dispatch puts their steps back: sequences.rewind).
            status, open_amount = states.get(n, (InvoiceStatus.OPEN, Decimal(1)))
            if status == InvoiceStatus.PAID or open_amount <= 0:
                return "paid"
            if status != InvoiceStatus.OPEN:
                return "closed"
        if not t.about_dispute and disputed.intersection(t.invoice_ids):
            return "disputed"
        if promised.intersection(t.invoice_ids):
            return "promised"
        if (
            t.customer_id in paused_customers
            or paused_invoices.intersection(t.invoice_ids)
            or (t.sequence_name is not None and t.sequence_name in paused_names)
        ):
            return "paused"
        return None

    return {key: reason(t) for key, t in targets.items()}


async def wake_paused_enrollments(conn: AsyncConnection, *, now: datetime) -> int:
    """Enrollments whose pause has run out become active and due now."""
    e = Enrollment.__table__
    done = await conn.execute(
        update(e)
        .where(e.c.state == EnrollmentState.PAUSED, e.c.paused_until <= now)
        .values(
            state=EnrollmentState.ACTIVE, paused_until=None, pause_reason=None, next_action_at=now
        )
    )
    return done.rowcount or 0


async def enroll_new_targets(
    conn: AsyncConnection,
    *,
    sequence_id: int,
    sequence_name: str,
    trigger: str,
    now: datetime,
    since: datetime,
    min_balance: Decimal,
    exclude_tag: str | None,
    mark: ScanMark | None = None,
) -> int:
    """Start a sequence for every target its trigger names that has never run it.

    Set-based: INSERT ... SELECT ... WHERE NOT EXISTS. Autopay customers, customers
    tagged `exclude_tag` and invoices under `min_balance` are left out. The enrollment
    is due at once; the planner then works out its real time.

    With the `mark` of the previous scan, triggers look only at what could have become
    a target since: new customers; new invoices, ones updated lately and (past due)
    ones whose due date was crossed. Without it every candidate is looked at.
    """
    e, s = Enrollment.__table__, SequenceRow.__table__
    c, i, d = Customer.__table__, Invoice.__table__, Dispute.__table__
    runs_it = select(e.c.id).join(s, s.c.id == e.c.sequence_id).where(s.c.name == sequence_name)
    eligible = [c.c.autopay.is_(False)]
    if exclude_tag:
        eligible.append(~cast(c.c.tags, String).contains(f'"{exclude_tag}"'))
    common = {"sequence_id": literal(sequence_id), "state": literal("active"),
              "current_step": literal(0), "repeat_count": literal(0),
              "next_action_at": literal(now, UTCDateTime()),
              "started_at": literal(now, UTCDateTime())}  # fmt: skip
    today = now.date()
    if trigger in ("invoice_created", "invoice_overdue"):
        open_dispute = exists().where(
            d.c.invoice_id == i.c.id, d.c.status != DisputeStatus.RESOLVED
        )
        timing_rule = (
            i.c.due_date >= today if trigger == "invoice_created" else i.c.due_date < today
        )
        query = (
            select(
                literal("invoice").label("target_type"),
                i.c.customer_id,
                i.c.id.label("invoice_id"),
                *(v.label(k) for k, v in common.items()),
            )
            .join(c, c.c.id == i.c.customer_id)
            .where(i.c.status == InvoiceStatus.OPEN, i.c.open_amount > 0, timing_rule)
            .where(i.c.open_amount >= min_balance, ~open_dispute, *eligible)
            .where(~exists(runs_it.where(e.c.invoice_id == i.c.id)))
        )
        columns = ["target_type", "customer_id", "invoice_id", *common]
        if mark is not None:
            # One statement per kind of candidate, each on its own index; NOT EXISTS
            # keeps a target found by two of them from being enrolled twice.
            # Each is an id subquery, so the planner starts from that index rather than
            # from the open invoices (SQLite has no statistics to tell which is smaller).
            ci = i.alias("candidate")
            candidates = [ci.c.id > mark.max_invoice_id,
                          ci.c.updated_at >= mark.scanned_at - UPDATE_MARGIN]  # fmt: skip
            if trigger == "invoice_overdue":
                crossed = ci.c.due_date >= mark.scanned_for.date() - timedelta(days=1)
                candidates.append(and_(ci.c.status == InvoiceStatus.OPEN, crossed))
            total = 0
            for candidate in candidates:
                narrowed = query.where(i.c.id.in_(select(ci.c.id).where(candidate)))
                done = await conn.execute(insert(e).from_select(columns, narrowed))
                total += done.rowcount or 0
            return total
    elif trigger == "customer_created":
        query = (
            select(
                literal("customer").label("target_type"),
                c.c.id.label("customer_id"),
                *(v.label(k) for k, v in common.items()),
            )
            .where(c.c.created_at >= since, *eligible)
            .where(~exists(runs_it.where(e.c.customer_id == c.c.id, e.c.target_type == "customer")))
        )
        if mark is not None:  # customers added since; other changes wait for the full look
            query = query.where(c.c.id > mark.max_customer_id)
        columns = ["target_type", "customer_id", *common]
    elif trigger == "dispute_opened":
        query = (
            select(
                literal("dispute").label("target_type"),
                d.c.customer_id,
                d.c.invoice_id,
                d.c.id.label("dispute_id"),
                *(v.label(k) for k, v in common.items()),
            )
            .where(d.c.status != DisputeStatus.RESOLVED)
            .where(~exists(runs_it.where(e.c.dispute_id == d.c.id)))
        )
        columns = ["target_type", "customer_id", "invoice_id", "dispute_id", *common]
    else:
        return 0  # manual: started by a person, never by the tick
    done = await conn.execute(insert(e).from_select(columns, query))
    return done.rowcount or 0


UPDATE_MARGIN = timedelta(hours=1)  # an import's rows carry its start time, not its commit's
FULL_SCAN_EVERY = timedelta(days=1)
# The class of the advisory locks by which a tick's batch claims customers (PostgreSQL):
# two int4 keys, this one and the customer id (folded into int4).
CUSTOMER_CLAIM = 0x41525351


@dataclass(frozen=True)
class ScanMark:
    """Where a sequence's previous trigger scan left off (see `TriggerScan`)."""

    scanned_for: datetime
    scanned_at: datetime
    full_at: datetime
    max_invoice_id: int
    max_customer_id: int


async def scan_marks(
    conn: AsyncConnection, sequence_ids: Iterable[int], *, now: datetime
) -> dict[int, ScanMark]:
    """The mark each sequence scans from at `now`; absent when every target must be
    looked at: the first scan, the daily full scan, or a clock that went back (a re-run
    simulation)."""
    t = TriggerScan.__table__
    rows = await conn.execute(select(t).where(t.c.sequence_id.in_(list(sequence_ids))))
    wall = utcnow()
    fields = ("scanned_for", "scanned_at", "full_at", "max_invoice_id", "max_customer_id")
    return {
        row.sequence_id: ScanMark(*(getattr(row, name) for name in fields))
        for row in rows
        if now >= row.scanned_for and wall - row.full_at < FULL_SCAN_EVERY
    }


async def save_scan_mark(
    conn: AsyncConnection, sequence_id: int, *, now: datetime, started: ScanMark,
    full: bool,
) -> None:  # fmt: skip
    """Record a scan that `started` (wall time and highest invoice id before it) at `now`."""
    t = TriggerScan.__table__
    values = {"scanned_for": now, "scanned_at": started.scanned_at,
              "max_invoice_id": started.max_invoice_id,
              "max_customer_id": started.max_customer_id}  # fmt: skip
    if full:
        values["full_at"] = started.scanned_at
    updated = await conn.execute(update(t).where(t.c.sequence_id == sequence_id).values(values))
    if not updated.rowcount:
        first = {"sequence_id": sequence_id, "full_at": started.scanned_at} | values
        await conn.execute(insert(t).values(first))


async def scan_start(conn: AsyncConnection, now: datetime) -> ScanMark:
    """The wall time and highest ids as a scan starts (what `save_scan_mark` keeps)."""
    invoice = await conn.scalar(select(func.coalesce(func.max(Invoice.id), 0)))
    customer = await conn.scalar(select(func.coalesce(func.max(Customer.id), 0)))
    started = utcnow()
    return ScanMark(now, started, started, int(invoice or 0), int(customer or 0))


async def claim_due_enrollments(
    conn: AsyncConnection, *, now: datetime, limit: int
) -> Sequence[Row]:
    """Active enrollments due at `now`, oldest first, for whole customers.

    The first `limit` due rows name the customers; every due row of those customers is
    claimed with them, so one customer's touches are planned (and consolidated) together
    whatever the batch size. Every read goes through an index (due rows; a customer's).

    On PostgreSQL a customer is claimed with a transaction-scoped advisory lock, so two
    workers never split one customer: one whose lock another worker holds is passed
    over (the next due rows are looked at instead), and rows another transaction holds
    are skipped.
    """
    e = Enrollment.__table__
    due = and_(e.c.state == EnrollmentState.ACTIVE, e.c.next_action_at <= now)
    after: tuple[datetime, int] | None = None
    customers: list[int] = []
    while not customers:
        window = select(e.c.customer_id, e.c.next_action_at, e.c.id).where(due)
        if after is not None:
            window = window.where(tuple_(e.c.next_action_at, e.c.id) > tuple_(*after))
        rows = (await conn.execute(window.order_by(e.c.next_action_at, e.c.id).limit(limit))).all()
        if not rows:
            return []
        customers = list(dict.fromkeys(r.customer_id for r in rows))
        if conn.dialect.name == "postgresql":
            customers = await _lock_customers(conn, customers)
        after = (rows[-1].next_action_at, rows[-1].id)
    query = (
        select(e).where(due, e.c.customer_id.in_(customers)).order_by(e.c.next_action_at, e.c.id)
    )
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return (await conn.execute(query)).all()


async def _lock_customers(conn: AsyncConnection, customers: list[int]) -> list[int]:
    """The customers whose claim lock this transaction could take (PostgreSQL)."""
    taken = text(
        "SELECT c FROM unnest(:ids) AS c "
        "WHERE pg_try_advisory_xact_lock(:kind, (c % 2147483647)::int)"
    ).bindparams(bindparam("ids", type_=postgresql.ARRAY(BigInteger)))
    got = set((await conn.execute(taken, {"ids": customers, "kind": CUSTOMER_CLAIM})).scalars())
    return [c for c in customers if c in got]


async def last_customer_messages(
    conn: AsyncConnection, customer_ids: set[int]
) -> dict[int, datetime]:
    """When each customer was last sent (or is about to be sent) a message."""
    o = OutboxMessage.__table__
    rows = await conn.execute(
        select(o.c.customer_id, func.max(o.c.scheduled_for))
        .where(o.c.customer_id.in_(customer_ids), o.c.kind == "customer_message")
        .where(o.c.state.not_in([OutboxState.SKIPPED, OutboxState.FAILED]))
        .group_by(o.c.customer_id)
    )
    return {cid: at for cid, at in rows}


async def last_replies(conn: AsyncConnection, customer_ids: set[int]) -> dict[int, datetime]:
    """When each customer last answered (a `replied` event)."""
    ev = Event.__table__
    rows = await conn.execute(
        select(ev.c.customer_id, func.max(ev.c.at))
        .where(ev.c.customer_id.in_(customer_ids), ev.c.kind == "replied")
        .group_by(ev.c.customer_id)
    )
    return {cid: at for cid, at in rows}


async def disputed_invoices(conn: AsyncConnection, invoice_ids: set[int]) -> set[int]:
    """Which of these invoices have a dispute that is not resolved."""
    d = Dispute.__table__
    rows = await conn.execute(
        select(d.c.invoice_id).where(
            d.c.invoice_id.in_(invoice_ids), d.c.status != DisputeStatus.RESOLVED
        )
    )
    return set(rows.scalars())


async def active_pauses(
    conn: AsyncConnection,
    *,
    customer_ids: set[int],
    invoice_ids: set[int],
    sequence_names: set[str],
    now: datetime,
) -> list[Row]:
    """The pauses in force at `now` on any of these customers, invoices or sequences."""
    p = Pause.__table__
    scope = [
        and_(p.c.scope == PauseScope.CUSTOMER, p.c.customer_id.in_(customer_ids)),
        and_(p.c.scope == PauseScope.INVOICE, p.c.invoice_id.in_(invoice_ids)),
        and_(p.c.scope == PauseScope.SEQUENCE, p.c.sequence_name.in_(sequence_names)),
    ]
    query = select(p).where(
        or_(*scope), p.c.lifted_at.is_(None), or_(p.c.until.is_(None), p.c.until > now)
    )
    return list((await conn.execute(query)).all())


async def checklist_done(conn: AsyncConnection, customer_ids: set[int]) -> dict[int, set[str]]:
    """The onboarding checklist items each customer has done (from the audit trail)."""
    ev = Event.__table__
    rows = await conn.execute(
        select(ev.c.customer_id, ev.c.data).where(
            ev.c.customer_id.in_(customer_ids), ev.c.kind == "checklist_item_done"
        )
    )
    done: dict[int, set[str]] = {}
    for customer_id, data in rows:
        done.setdefault(customer_id, set()).add(str(data.get("item", "")))
    return done


async def move_enrollments(conn: AsyncConnection, moves: Sequence[dict[str, object]]) -> None:
    """Apply many enrollment updates, each a dict of `id` and the columns to set.

    Updates that set the same columns go in one executemany, so a batch of a tick
    costs a few statements instead of one per enrollment.
    """
    e = Enrollment.__table__
    by_columns: dict[tuple[str, ...], list[dict[str, object]]] = {}
    for move in moves:
        columns = tuple(sorted(k for k in move if k != "id"))
        params = {k: move[k] for k in columns} | {"enrollment_id": move["id"]}
        by_columns.setdefault(columns, []).append(params)
    for columns, params in by_columns.items():
        statement = (
            update(e)
            .where(e.c.id == bindparam("enrollment_id"))
            .values({c: bindparam(c, type_=e.c[c].type) for c in columns})
        )
        await conn.execute(statement, params)


async def add_outbox_messages(conn: AsyncConnection, rows: Sequence[dict[str, object]]) -> None:
    """Insert outbox rows in one executemany; a row whose idempotency key exists is skipped."""
    if not rows:
        return
    upsert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    statement = upsert(OutboxMessage.__table__).on_conflict_do_nothing(
        index_elements=["idempotency_key"]
    )
    await conn.execute(statement, list(rows))
