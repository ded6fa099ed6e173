"""Dispatch: claim due outbox rows, check them again, send them, record what happened.

Each claimed row carries a lease; a worker that dies mid-batch leaves rows that are
claimed again once the lease runs out, so a touch is sent at most once more in that
case and never lost. Temporary failures are retried with exponential backoff (or the
provider's Retry-After, whichever is later); permanent ones mark the contact, fall
back to the customer's next channel, and then to a collector task. A dead address
(a bounce, a blocked chat) always gives the owner a task to fix it.

The sends of a batch overlap (at most `DispatchPolicy.concurrency` in flight), so a
provider's latency is paid once per wave, not once per message. When `halt` is set
(the process is stopping), no send is started any more: the sends in flight finish
and are recorded, and the rows not started are released (claim and lease cleared) so
another worker takes them at once. `dispatch_all` runs batch after batch; on PostgreSQL
it takes the next batch while one is sent.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from sequences.channels import (
    Channel,
    OutgoingMessage,
    PermanentFailure,
    SendResult,
    TemporaryFailure,
)
from sequences.dispatch_checks import CUSTOMER_MESSAGE, recheck
from sequences.ledger import add_task, record_events
from sequences.outbox_records import (
    Outcome,
    event_row,
    record_outcomes,
    release_claims,
)
from sequences.rewind import rewind_skipped
from storage.models import Contact, ContactChannel, OutboxMessage, OutboxState
from storage.queries import claim_outbox

__all__ = [
    "CUSTOMER_MESSAGE", "DispatchPolicy", "DispatchReport", "dispatch_all", "dispatch_once",
]  # fmt: skip
# The other channel to try when one is dead for a customer.
FALLBACK = {"email": "telegram", "telegram": "email"}
# The owner's task when a channel says the address itself is dead: (kind, title).
DEAD_CONTACT_TASKS = {
    "email": ("bounced", "Email to {address} bounced: check the customer's address"),
    "telegram": ("telegram_blocked", "Telegram chat {address} blocked the bot"),
}


@dataclass(frozen=True)
class DispatchPolicy:
    """How hard dispatch tries, how many sends overlap, and how long a claim lasts."""

    batch: int = 100
    concurrency: int = 16
    lease: timedelta = timedelta(minutes=5)
    max_attempts: int = 8
    backoff_base: timedelta = timedelta(minutes=1)
    backoff_cap: timedelta = timedelta(hours=2)
    promise_grace: timedelta = timedelta(days=3)

    def backoff(self, attempts: int, retry_after: float | None) -> timedelta:
        """The wait before the next attempt: doubling per attempt, at least Retry-After."""
        wait = min(self.backoff_base * 2 ** max(attempts - 1, 0), self.backoff_cap)
        if retry_after is not None:
            wait = max(wait, timedelta(seconds=retry_after))
        return wait


@dataclass
class DispatchReport:
    """What one dispatch pass did."""

    sent: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    retried: int = 0
    failed: int = 0
    fallbacks: int = 0
    tasks: int = 0
    released: int = 0

    @property
    def claimed(self) -> int:
        settled = self.sent + sum(self.skipped.values()) + self.retried + self.failed
        return settled + self.released

    def add(self, part: DispatchReport) -> None:
        """Count `part` (another pass) into this report."""
        self.sent += part.sent
        self.retried += part.retried
        self.failed += part.failed
        self.fallbacks += part.fallbacks
        self.tasks += part.tasks
        self.released += part.released
        for reason, count in part.skipped.items():
            self.skipped[reason] = self.skipped.get(reason, 0) + count


@dataclass
class _Batch:
    """A claimed batch, re-checked (skips recorded) and prepared: what is left to send."""

    claimed: int
    ready: list[tuple[Row, OutgoingMessage]]
    report: DispatchReport


async def dispatch_once(
    engine: AsyncEngine,
    channels: Mapping[str, Channel],
    *,
    now: datetime,
    worker: str,
    policy: DispatchPolicy | None = None,
    halt: asyncio.Event | None = None,
) -> DispatchReport:
    """Claim one batch of due rows and settle each: sent, skipped, retried or failed.

    The batch is re-checked together, each channel may prepare its part of it at once
    (`prepare`, e.g. the link tokens of every email), then the rows are sent, several at
    once; what was sent is recorded together at the end of the batch, even when a send
    raised something unexpected. A process that dies mid-batch leaves its sent rows
    claimed: they are sent once more after the lease (the guarantee in
    docs/operations.md). Once `halt` is set, rows not yet started are released.
    """
    policy = policy or DispatchPolicy()
    batch = await _take(engine, channels, now=now, worker=worker, policy=policy, halt=halt)
    return await _deliver(engine, channels, batch, now=now, policy=policy, halt=halt)


async def dispatch_all(
    engine: AsyncEngine,
    channels: Mapping[str, Channel],
    *,
    now: datetime,
    worker: str,
    policy: DispatchPolicy | None = None,
    halt: asyncio.Event | None = None,
) -> DispatchReport:
    """`dispatch_once` until a batch claims nothing or `halt` is set; all of it reported.

    On PostgreSQL the next batch is claimed, re-checked and prepared while this one is
    sent, so those round trips are off the sends' path; its sends start only once this
    batch is recorded, so a death still leaves at most one batch sent and not recorded.
    SQLite has one writer (a transaction that read fails to write after another
    connection's commit), so there the batches follow each other.
    """
    policy = policy or DispatchPolicy()
    total = DispatchReport()
    ahead = engine.dialect.name != "sqlite"

    async def take() -> _Batch:
        return await _take(engine, channels, now=now, worker=worker, policy=policy, halt=halt)

    batch = await take()
    while True:
        halted = halt is not None and halt.is_set()
        more = batch.claimed > 0 and not halted
        following = asyncio.create_task(take()) if ahead and more else None
        try:
            total.add(await _deliver(engine, channels, batch, now=now, policy=policy, halt=halt))
        except BaseException:
            if following is not None:  # claimed ahead, never to be sent by this pass
                async with engine.begin() as conn:
                    await release_claims(conn, [r for r, _ in (await following).ready])
            raise
        if not more or (halt is not None and halt.is_set()):
            if following is not None:  # halted: `_deliver` releases what it has not started
                total.add(await _deliver(engine, channels, await following, now=now,
                                         policy=policy, halt=halt))  # fmt: skip
            return total
        batch = await following if following is not None else await take()


async def _take(
    engine: AsyncEngine,
    channels: Mapping[str, Channel],
    *,
    now: datetime,
    worker: str,
    policy: DispatchPolicy,
    halt: asyncio.Event | None,
) -> _Batch:
    """Claim a batch, re-check it (recording the skipped), prepare the rest for sending."""
    report = DispatchReport()
    async with engine.begin() as conn:
        rows = await claim_outbox(
            conn, now=now, worker=worker, limit=policy.batch, lease=policy.lease
        )
    if not rows or (halt is not None and halt.is_set()):
        if rows:
            async with engine.begin() as conn:
                await release_claims(conn, rows)
            report.released = len(rows)
        return _Batch(len(rows), [], report)
    async with engine.connect() as conn:
        verdicts = await recheck(conn, rows, now=now, promise_grace=policy.promise_grace)
    skipped = [r for r in rows if verdicts[r.id].reason is not None]
    if skipped:
        async with engine.begin() as conn:
            await record_outcomes(
                conn, [_skip(r, verdicts[r.id].reason or "") for r in skipped], now
            )
            # The same transaction: a skipped message's other invoices keep their step.
            reasons = {r.id: verdicts[r.id].reason or "" for r in skipped}
            rewindable = [r for r in skipped if reasons[r.id] != "opted_out"]
            await rewind_skipped(conn, reasons, rewindable, now=now,
                                 promise_grace=policy.promise_grace)  # fmt: skip
        for row in skipped:
            reason = verdicts[row.id].reason or ""
            report.skipped[reason] = report.skipped.get(reason, 0) + 1
    ready = [(r, _outgoing(r, verdicts[r.id].address)) for r in rows if r not in skipped]
    await _prepare(channels, [message for _, message in ready])
    return _Batch(len(rows), ready, report)


async def _deliver(
    engine: AsyncEngine,
    channels: Mapping[str, Channel],
    batch: _Batch,
    *,
    now: datetime,
    policy: DispatchPolicy,
    halt: asyncio.Event | None,
) -> DispatchReport:
    """Send a taken batch, several at once; record what was sent, release what was not
    started (`halt`), together at the end."""
    report, ready = batch.report, batch.ready
    if not ready:
        return report
    sent: list[Outcome] = []
    started: set[int] = set()
    gate = asyncio.Semaphore(max(1, policy.concurrency))

    async def one(row: Row, message: OutgoingMessage) -> None:
        async with gate:
            if halt is not None and halt.is_set():
                return
            started.add(row.id)
            result = await _send(engine, channels, row, message, now=now, policy=policy,
                                 report=report)  # fmt: skip
            if result is not None:
                sent.append(_sent(row, now, result))

    try:
        done = await asyncio.gather(*(one(r, m) for r, m in ready), return_exceptions=True)
    finally:
        unstarted = [r for r, _ in ready if r.id not in started]
        if sent or unstarted:
            async with engine.begin() as conn:
                await record_outcomes(conn, sent, now)
                await release_claims(conn, unstarted)
            report.sent += len(sent)
            report.released += len(unstarted)
    for outcome in done:
        if isinstance(outcome, BaseException):
            raise outcome
    return report


async def _prepare(channels: Mapping[str, Channel], messages: list[OutgoingMessage]) -> None:
    """Let each channel do its batch-wide work for the messages it is about to send.

    On PostgreSQL it runs for the next batch while this one is sent: a channel keeps
    what it prepares per message (by outbox id), never per batch.
    """
    by_channel: dict[str, list[OutgoingMessage]] = {}
    for message in messages:
        by_channel.setdefault(message.channel, []).append(message)
    for name, part in by_channel.items():
        prepare = getattr(channels.get(name), "prepare", None)
        if prepare is not None:
            await prepare(part)


async def _send(
    engine: AsyncEngine,
    channels: Mapping[str, Channel],
    row: Row,
    message: OutgoingMessage,
    *,
    now: datetime,
    policy: DispatchPolicy,
    report: DispatchReport,
) -> SendResult | None:
    """Send one message; a failure is recorded at once (retry, or fail and fall back)."""
    channel = channels.get(row.channel)
    try:
        if channel is None:
            raise PermanentFailure(f"channel {row.channel} is not configured", contact_dead=False)
        return await channel.send(message)
    except TemporaryFailure as exc:
        if row.attempts < policy.max_attempts:
            wait = policy.backoff(row.attempts, exc.retry_after)
            async with engine.begin() as conn:
                await record_outcomes(conn, [_retry(row, now, wait, exc)], now)
            report.retried += 1
            return None
        await _fail(engine, row, now, PermanentFailure(str(exc), contact_dead=False), report)
    except PermanentFailure as exc:
        await _fail(engine, row, now, exc, report)
    return None


def _outgoing(row: Row, address: str | None) -> OutgoingMessage:
    return OutgoingMessage(
        outbox_id=row.id,
        idempotency_key=row.idempotency_key,
        channel=row.channel,
        kind=row.kind,
        address=address,
        subject=row.subject,
        body=row.body,
        scheduled_for=row.scheduled_for,
        payload=dict(row.payload or {}),
        customer_id=row.customer_id,
        contact_id=row.contact_id,
        invoice_ids=tuple(row.invoice_ids or ()),
    )


def _skip(row: Row, reason: str) -> Outcome:
    return Outcome(row, OutboxState.SKIPPED, "message_skipped", {"skip_reason": reason}, reason)


def _sent(row: Row, now: datetime, result: SendResult) -> Outcome:
    pid = result.provider_message_id
    return Outcome(
        row, OutboxState.SENT, "message_sent",
        {"sent_at": now, "provider_message_id": pid, "last_error": None},
        data={"provider_message_id": pid},
    )  # fmt: skip


def _retry(row: Row, now: datetime, wait: timedelta, exc: Exception) -> Outcome:
    return Outcome(
        row, OutboxState.PENDING, "message_retry",
        {"next_attempt_at": now + wait, "last_error": str(exc)}, str(exc),
        {"wait_s": wait.total_seconds()},
    )  # fmt: skip


async def _fail(
    engine: AsyncEngine, row: Row, now: datetime, exc: PermanentFailure, report: DispatchReport
) -> None:
    """Record the failure, mark a dead contact, then fall back: next channel, else a task."""
    async with engine.begin() as conn:
        failed = Outcome(row, OutboxState.FAILED, "message_failed", {"last_error": str(exc)},
                         str(exc))  # fmt: skip
        await record_outcomes(conn, [failed], now)
        report.failed += 1
        if row.kind != CUSTOMER_MESSAGE:
            return
        if exc.contact_dead and row.contact_id is not None:
            c = Contact.__table__
            await conn.execute(
                update(c)
                .where(c.c.id == row.contact_id, c.c.unreachable_at.is_(None))
                .values(unreachable_at=now, unreachable_reason=str(exc)[:255], updated_at=now)
            )
            if await _dead_contact_task(conn, row, now, str(exc)):
                report.tasks += 1
        if await _fallback_message(conn, row, now):
            report.fallbacks += 1
        elif await _fallback_task(conn, row, now, str(exc)):
            report.tasks += 1


async def _dead_contact_task(conn: AsyncConnection, row: Row, now: datetime, reason: str) -> bool:
    """Tell the owner the address is dead, whatever the fallback does: it needs fixing."""
    address = await conn.scalar(select(Contact.address).where(Contact.id == row.contact_id))
    kind, title = DEAD_CONTACT_TASKS.get(row.channel, ("contact_dead", "{address} is dead"))
    return await add_task(
        conn, kind=kind, customer_id=row.customer_id, now=now,
        key=f"{row.idempotency_key}:{kind}", enrollment_id=row.enrollment_id,
        title=title.format(address=address), body=f"{row.channel} {address}: {reason}",
    )  # fmt: skip


async def _fallback_message(conn: AsyncConnection, row: Row, now: datetime) -> bool:
    """Queue the same message on the customer's other channel, if it has a live contact."""
    other = FALLBACK.get(row.channel)
    if other is None:
        return False
    c = Contact.__table__
    contact = (
        await conn.execute(
            select(c.c.id, c.c.address)
            .where(
                c.c.customer_id == row.customer_id,
                c.c.channel == ContactChannel(other),
                c.c.opted_out_at.is_(None),
                c.c.unreachable_at.is_(None),
            )
            .order_by(c.c.is_primary.desc(), c.c.id)
            .limit(1)
        )
    ).first()
    if contact is None:
        return False
    o = OutboxMessage.__table__
    key = f"{row.idempotency_key}:fallback:{other}"
    if await conn.scalar(select(o.c.id).where(o.c.idempotency_key == key)):
        return True
    await conn.execute(
        insert(o).values(
            idempotency_key=key, channel=other, kind=row.kind, customer_id=row.customer_id,
            contact_id=contact.id, enrollment_id=row.enrollment_id, sequence_id=row.sequence_id,
            step_index=row.step_index, variant=row.variant, invoice_ids=row.invoice_ids,
            subject=row.subject, body=row.body, payload=row.payload,
            scheduled_for=row.scheduled_for, state=OutboxState.PENDING, attempts=0,
            next_attempt_at=now, created_at=now,
        )
    )  # fmt: skip
    await record_events(conn, [event_row(row, "message_fallback", now, to_channel=other)])
    return True


async def _fallback_task(conn: AsyncConnection, row: Row, now: datetime, reason: str) -> bool:
    """No channel left: a collector task to reach the customer by hand."""
    return await add_task(
        conn, kind="unreachable", customer_id=row.customer_id, now=now,
        key=f"{row.idempotency_key}:unreachable", enrollment_id=row.enrollment_id,
        title="Reach the customer by hand: no channel could deliver the reminder",
        body=f"{row.channel} failed: {reason}\n\n{row.subject or ''}\n{row.body}",
    )  # fmt: skip
