"""Dispatch on SQLite and PostgreSQL: claim, re-check, send once, retry, fall back."""

from __future__ import annotations

import asyncio
import io
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import event as sa_event
from sqlalchemy import insert, select, update

from sequences.channels import (
    ConsoleChannel,
    OutgoingMessage,
    PermanentFailure,
    SendResult,
    TemporaryFailure,
)
from sequences.dispatch import DispatchPolicy, dispatch_all, dispatch_once
from storage.models import (
    Contact,
    Dispute,
    Event,
    Invoice,
    OutboxMessage,
    Pause,
    Promise,
    Task,
)
from tests.helpers.due_touches import outbox_states
from tests.sequences.engine_helpers import (
    add_contact,
    add_customer,
    add_invoice,
    add_sequence_row,
)

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


class ScriptedChannel:
    """A provider stand-in: fails as told, then accepts; records what it accepted."""

    def __init__(self, name: str, failures: list[Exception] | None = None) -> None:
        self.name = name
        self.failures = list(failures or [])
        self.sent: list[OutgoingMessage] = []

    async def send(self, message: OutgoingMessage) -> SendResult:
        if self.failures:
            raise self.failures.pop(0)
        self.sent.append(message)
        return SendResult(provider_message_id=f"{self.name}-{len(self.sent)}")


async def _ledger(engine, *, telegram: bool = False) -> dict[str, int]:
    customer = await add_customer(engine, email=None)
    return {
        "customer": customer,
        "email": await add_contact(engine, customer, "email", "ap@acme.test"),
        "chat": await add_contact(engine, customer, "telegram", "4242") if telegram else None,
        "invoice": await add_invoice(
            engine, customer, "INV-1", issued=date(2026, 1, 1), due=date(2026, 1, 31)
        ),
        "sequence": await add_sequence_row(
            engine, "past-due-standard", "past_due", "invoice_overdue"
        ),
    }


async def _queue(engine, ids, *, key="k1", due=NOW, channel="email", kind="customer_message"):
    async with engine.begin() as conn:
        return await conn.scalar(
            insert(OutboxMessage.__table__).returning(OutboxMessage.id).values(
                idempotency_key=key, channel=channel, kind=kind, customer_id=ids["customer"],
                contact_id=ids["email"] if channel == "email" else ids["chat"],
                sequence_id=ids["sequence"], invoice_ids=[ids["invoice"]],
                subject="Invoice INV-1 is overdue", body="Please pay INV-1.", payload={},
                scheduled_for=due, state="pending", attempts=0, next_attempt_at=due,
                created_at=NOW,
            )
        )  # fmt: skip


async def _row(engine, outbox_id):
    async with engine.connect() as conn:
        return (
            await conn.execute(select(OutboxMessage.__table__).where(OutboxMessage.id == outbox_id))
        ).one()


async def test_a_due_message_is_sent_once(engine):
    ids = await _ledger(engine)
    outbox = await _queue(engine, ids)
    email = ScriptedChannel("email")
    first = await dispatch_once(engine, {"email": email}, now=NOW, worker="w1")
    again = await dispatch_once(engine, {"email": email}, now=NOW + timedelta(hours=1), worker="w1")
    assert (first.sent, again.claimed) == (1, 0)
    assert [m.address for m in email.sent] == ["ap@acme.test"]
    row = await _row(engine, outbox)
    assert row.state == "sent" and row.sent_at == NOW and row.provider_message_id == "email-1"
    async with engine.connect() as conn:
        kinds = (await conn.execute(select(Event.kind).where(Event.outbox_id == outbox))).scalars()
        assert list(kinds) == ["message_sent"]


async def test_a_message_not_yet_due_waits(engine):
    ids = await _ledger(engine)
    await _queue(engine, ids, due=NOW + timedelta(minutes=1))
    report = await dispatch_once(engine, {"email": ScriptedChannel("email")}, now=NOW, worker="w")
    assert report.claimed == 0


@pytest.mark.parametrize(
    ("block", "reason"),
    [
        ("paid", "paid"),
        ("disputed", "disputed"),
        ("customer_paused", "paused"),
        ("invoice_paused", "paused"),
        ("sequence_paused", "paused"),
        ("promised", "promised"),
        ("opted_out", "opted_out"),
    ],
)
async def test_the_target_is_checked_again_right_before_sending(engine, block, reason):
    ids = await _ledger(engine)
    outbox = await _queue(engine, ids)
    later = NOW + timedelta(days=5)
    async with engine.begin() as conn:
        if block == "paid":
            await conn.execute(
                update(Invoice.__table__).values(open_amount=Decimal(0), status="paid")
            )
        elif block == "disputed":
            await conn.execute(insert(Dispute.__table__).values(
                invoice_id=ids["invoice"], customer_id=ids["customer"], reason="qty",
                status="open", opened_at=NOW))  # fmt: skip
        elif block.endswith("_paused"):
            scope = block.removesuffix("_paused")
            await conn.execute(insert(Pause.__table__).values(
                scope=scope, customer_id=ids["customer"] if scope == "customer" else None,
                invoice_id=ids["invoice"] if scope == "invoice" else None,
                sequence_name="past-due-standard" if scope == "sequence" else None,
                until=later, created_at=NOW))  # fmt: skip
        elif block == "promised":
            await conn.execute(insert(Promise.__table__).values(
                invoice_id=ids["invoice"], customer_id=ids["customer"],
                promised_date=date(2026, 3, 4), status="pending", source="telegram",
                created_at=NOW))  # fmt: skip
        else:
            await conn.execute(update(Contact.__table__).values(opted_out_at=NOW))
    email = ScriptedChannel("email")
    report = await dispatch_once(engine, {"email": email}, now=NOW, worker="w")
    assert report.skipped == {reason: 1} and email.sent == []
    row = await _row(engine, outbox)
    assert (row.state, row.skip_reason) == ("skipped", reason)


async def test_an_expired_pause_or_promise_does_not_block(engine):
    ids = await _ledger(engine)
    await _queue(engine, ids)
    async with engine.begin() as conn:
        await conn.execute(insert(Pause.__table__).values(
            scope="customer", customer_id=ids["customer"], until=NOW - timedelta(hours=1),
            created_at=NOW - timedelta(days=7)))  # fmt: skip
        # Promised for Feb 25, grace 3 days: it lapsed on Feb 28.
        await conn.execute(insert(Promise.__table__).values(
            invoice_id=ids["invoice"], customer_id=ids["customer"],
            promised_date=date(2026, 2, 25), status="pending", source="slack",
            created_at=NOW))  # fmt: skip
    report = await dispatch_once(engine, {"email": ScriptedChannel("email")}, now=NOW, worker="w")
    assert report.sent == 1


async def test_a_temporary_failure_waits_for_retry_after_then_sends(engine):
    ids = await _ledger(engine)
    outbox = await _queue(engine, ids)
    email = ScriptedChannel("email", [TemporaryFailure("429 slow down", retry_after=120)])
    first = await dispatch_once(engine, {"email": email}, now=NOW, worker="w")
    assert first.retried == 1
    row = await _row(engine, outbox)
    assert row.state == "pending" and row.next_attempt_at == NOW + timedelta(seconds=120)
    early = await dispatch_once(
        engine, {"email": email}, now=NOW + timedelta(minutes=1), worker="w"
    )
    assert early.claimed == 0
    done = await dispatch_once(engine, {"email": email}, now=NOW + timedelta(minutes=2), worker="w")
    assert done.sent == 1 and len(email.sent) == 1
    assert (await _row(engine, outbox)).attempts == 2


def test_backoff_doubles_up_to_its_cap_and_honours_retry_after():
    policy = DispatchPolicy()
    waits = [policy.backoff(n, None) for n in range(1, 10)]
    assert waits[:4] == [timedelta(minutes=m) for m in (1, 2, 4, 8)]
    assert waits[-1] == policy.backoff_cap
    assert policy.backoff(1, 900) == timedelta(seconds=900)


async def test_a_dead_email_falls_back_to_telegram(engine):
    ids = await _ledger(engine, telegram=True)
    outbox = await _queue(engine, ids)
    email = ScriptedChannel("email", [PermanentFailure("550 no such user")])
    telegram = ScriptedChannel("telegram")
    channels = {"email": email, "telegram": telegram}
    first = await dispatch_once(engine, channels, now=NOW, worker="w")
    assert (first.failed, first.fallbacks) == (1, 1)
    second = await dispatch_once(engine, channels, now=NOW, worker="w")
    assert second.sent == 1 and [m.address for m in telegram.sent] == ["4242"]
    assert (await _row(engine, outbox)).state == "failed"
    async with engine.connect() as conn:
        contact = (await conn.execute(
            select(Contact.__table__).where(Contact.id == ids["email"]))).one()  # fmt: skip
    assert contact.unreachable_at == NOW and "550" in contact.unreachable_reason


async def test_no_channel_left_becomes_a_task_for_the_owner(engine):
    ids = await _ledger(engine)
    await _queue(engine, ids)
    email = ScriptedChannel("email", [PermanentFailure("550 no such user")])
    report = await dispatch_once(engine, {"email": email}, now=NOW, worker="w")
    assert (report.failed, report.fallbacks, report.tasks) == (1, 0, 2)
    async with engine.connect() as conn:
        found = (await conn.execute(select(Task.__table__).order_by(Task.id))).all()
    assert [t.kind for t in found] == ["bounced", "unreachable"]
    assert {t.assignee_slack_id for t in found} == {"U0OWNER1"}
    assert all("550 no such user" in t.body for t in found)


@pytest.mark.parametrize(
    ("channel", "kind", "address"),
    [("email", "bounced", "ap@acme.test"), ("telegram", "telegram_blocked", "4242")],
)
async def test_a_dead_address_gives_the_owner_a_task_beside_the_fallback(
    engine, channel, kind, address
):
    ids = await _ledger(engine, telegram=True)
    await _queue(engine, ids, channel=channel)
    failing = ScriptedChannel(channel, [PermanentFailure("550 gone", contact_dead=True)])
    other = "telegram" if channel == "email" else "email"
    report = await dispatch_once(
        engine, {channel: failing, other: ScriptedChannel(other)}, now=NOW, worker="w"
    )
    assert (report.failed, report.fallbacks, report.tasks) == (1, 1, 1)
    async with engine.connect() as conn:
        task = (await conn.execute(select(Task.__table__))).one()
    assert task.kind == kind and task.assignee_slack_id == "U0OWNER1"
    assert address in task.title and address in task.body and "550 gone" in task.body


async def test_a_failure_that_is_not_the_address_gives_no_bounce_task(engine):
    ids = await _ledger(engine, telegram=True)
    await _queue(engine, ids)
    email = ScriptedChannel("email", [PermanentFailure("552 too big", contact_dead=False)])
    report = await dispatch_once(
        engine, {"email": email, "telegram": ScriptedChannel("telegram")}, now=NOW, worker="w"
    )
    assert (report.failed, report.fallbacks, report.tasks) == (1, 1, 0)
    async with engine.connect() as conn:
        assert (await conn.execute(select(Task.__table__))).all() == []


async def test_too_many_temporary_failures_end_as_a_failure(engine):
    ids = await _ledger(engine)
    outbox = await _queue(engine, ids)
    policy = DispatchPolicy(max_attempts=2)
    email = ScriptedChannel("email", [TemporaryFailure("421 busy")] * 2)
    await dispatch_once(engine, {"email": email}, now=NOW, worker="w", policy=policy)
    report = await dispatch_once(
        engine, {"email": email}, now=NOW + timedelta(hours=1), worker="w", policy=policy
    )
    assert report.failed == 1 and report.tasks == 1
    row = await _row(engine, outbox)
    assert row.state == "failed" and row.attempts == 2
    async with engine.connect() as conn:  # a busy server is not a dead address
        contact = (await conn.execute(
            select(Contact.__table__).where(Contact.id == ids["email"]))).one()  # fmt: skip
    assert contact.unreachable_at is None


async def test_a_row_whose_worker_died_is_claimed_again_after_its_lease(engine):
    ids = await _ledger(engine)
    outbox = await _queue(engine, ids)
    async with engine.begin() as conn:  # worker w1 claimed it, then died
        await conn.execute(update(OutboxMessage.__table__).values(
            state="sending", claimed_by="w1", attempts=1,
            lease_until=NOW + timedelta(minutes=5)))  # fmt: skip
    email = ScriptedChannel("email")
    during = await dispatch_once(engine, {"email": email}, now=NOW, worker="w2")
    after = await dispatch_once(
        engine, {"email": email}, now=NOW + timedelta(minutes=6), worker="w2"
    )
    assert (during.claimed, after.sent) == (0, 1)
    row = await _row(engine, outbox)
    assert (row.state, row.claimed_by, row.attempts) == ("sent", "w2", 2)


async def test_concurrent_dispatchers_send_each_message_exactly_once(engine):
    ids = await _ledger(engine)
    for n in range(60):
        await _queue(engine, ids, key=f"k{n}")
    console = ConsoleChannel("email", stream=io.StringIO())
    policy = DispatchPolicy(batch=7)

    async def worker(name: str) -> int:
        total = 0
        while (report := await dispatch_once(
            engine, {"email": console}, now=NOW, worker=name, policy=policy
        )).claimed:  # fmt: skip
            total += report.sent
        return total

    counts = await asyncio.gather(*(worker(f"w{n}") for n in range(3)))
    assert sum(counts) == 60
    keys = [m.idempotency_key for m in console.sent]
    assert sorted(keys) == sorted(f"k{n}" for n in range(60))


class ExplodingChannel(ScriptedChannel):
    """Accepts `accept` messages, then raises something no channel should (a bug)."""

    def __init__(self, name: str, accept: int) -> None:
        super().__init__(name)
        self.accept = accept

    async def send(self, message: OutgoingMessage) -> SendResult:
        if len(self.sent) == self.accept:
            raise RuntimeError("bug in a channel")
        return await super().send(message)


async def test_what_was_sent_before_an_unexpected_error_is_recorded_as_sent(engine):
    ids = await _ledger(engine)
    outboxes = [await _queue(engine, ids, key=f"k{n}") for n in range(3)]
    email = ExplodingChannel("email", accept=2)
    with pytest.raises(RuntimeError, match="bug in a channel"):
        await dispatch_once(engine, {"email": email}, now=NOW, worker="w1")
    states = [(await _row(engine, o)).state for o in outboxes]
    # The two accepted are sent (never sent again); the third waits for its lease.
    assert states == ["sent", "sent", "sending"]
    later = NOW + DispatchPolicy().lease + timedelta(seconds=1)
    email.accept = 99
    report = await dispatch_once(engine, {"email": email}, now=later, worker="w2")
    assert report.sent == 1 and len(email.sent) == 3


async def test_a_batch_is_checked_with_the_same_statements_whatever_its_size(engine):
    """The re-check is set-based: a batch of 12 reads the ledger as often as a batch of 2."""
    ids = await _ledger(engine)
    counts = []
    for size, start in ((2, 0), (12, 100)):
        for n in range(size):
            await _queue(engine, ids, key=f"k{start + n}")
        seen: list[str] = []

        def before(conn, cursor, statement, *args, seen: list[str] = seen) -> None:
            seen.append(statement)

        sa_event.listen(engine.sync_engine, "before_cursor_execute", before)
        try:
            report = await dispatch_once(engine, {"email": ScriptedChannel("email")}, now=NOW,
                                         worker="w")  # fmt: skip
        finally:
            sa_event.remove(engine.sync_engine, "before_cursor_execute", before)
        assert report.sent == size
        counts.append(len(seen))
    assert counts[0] == counts[1]


class RecordWatchingChannel(ScriptedChannel):
    """Notes, at each send, how many it accepted that are not yet recorded sent."""

    def __init__(self, name: str, engine, halt_after: int | None = None) -> None:
        super().__init__(name)
        self.engine, self.halt_after = engine, halt_after
        self.unrecorded: list[int] = []
        self.halt = asyncio.Event()

    async def send(self, message: OutgoingMessage) -> SendResult:
        recorded = (await outbox_states(self.engine)).get("sent", 0)
        self.unrecorded.append(len(self.sent) - recorded)
        if self.halt_after is not None and len(self.sent) + 1 >= self.halt_after:
            self.halt.set()
        return await super().send(message)


async def test_dispatch_all_sends_a_batch_only_once_the_one_before_is_recorded(engine):
    """On PostgreSQL the next batch is taken while one is sent; still, at most one batch
    is ever sent and not recorded (what a death may send again)."""
    ids = await _ledger(engine)
    for n in range(25):
        await _queue(engine, ids, key=f"k{n}")
    email = RecordWatchingChannel("email", engine)
    report = await dispatch_all(
        engine, {"email": email}, now=NOW, worker="w1", policy=DispatchPolicy(batch=10)
    )
    assert (report.sent, report.claimed, len(email.sent)) == (25, 25, 25)
    assert max(email.unrecorded) < 10
    assert await outbox_states(engine) == {"sent": 25}


async def test_dispatch_all_halted_releases_what_it_took_and_did_not_start(engine):
    ids = await _ledger(engine)
    for n in range(25):
        await _queue(engine, ids, key=f"k{n}")
    email = RecordWatchingChannel("email", engine, halt_after=12)
    report = await dispatch_all(
        engine, {"email": email}, now=NOW, worker="w1",
        policy=DispatchPolicy(batch=10, concurrency=1), halt=email.halt,
    )  # fmt: skip
    states = await outbox_states(engine)
    assert states == {"sent": len(email.sent), "pending": 25 - len(email.sent)}
    assert report.sent == len(email.sent) and 12 <= report.sent < 20
    async with engine.connect() as conn:
        waiting = (await conn.execute(
            select(OutboxMessage.claimed_by, OutboxMessage.attempts)
            .where(OutboxMessage.state == "pending")
        )).all()  # fmt: skip
    assert {tuple(row) for row in waiting} == {(None, 0)}  # released, the attempt undone


async def test_dispatch_all_gives_back_the_batch_taken_ahead_when_a_send_raises(engine):
    ids = await _ledger(engine)
    for n in range(25):
        await _queue(engine, ids, key=f"k{n}")
    email = ExplodingChannel("email", accept=15)
    with pytest.raises(RuntimeError, match="bug in a channel"):
        await dispatch_all(
            engine, {"email": email}, now=NOW, worker="w1", policy=DispatchPolicy(batch=10)
        )
    # The second batch: 5 sent, 5 wait for their lease; the third was never sent: pending.
    assert await outbox_states(engine) == {"sent": 15, "sending": 5, "pending": 5}
