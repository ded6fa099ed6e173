"""Several `arseq worker` processes on one PostgreSQL database, and workers that crash.

Every touch must reach the SMTP sink exactly once when workers share the outbox, and
nothing may be lost when workers are SIGKILLed mid-dispatch and restarted: a touch is
then sent again only if its worker died between the server accepting it and the commit
recording it (docs/operations.md), which at most doubles the batch in flight.
"""

from __future__ import annotations

import asyncio
import random
import signal
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from sequences.dispatch import DispatchPolicy
from storage.db import open_engine
from tests.conftest import fresh_postgres_database
from tests.fakes.smtp_sink import SmtpSink
from tests.helpers.crashes import all_sent, kill_at_marks, random_marks, until
from tests.helpers.due_touches import add_due_emails, keys_seen, outbox_states
from tests.helpers.workers import Workers, worker_env

postgres_only = pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
TOUCHES = 20_000
CRASH_TOUCHES = 3_000
KILLS = 6
SEED = 8


@pytest.fixture
def big_db_url() -> Iterator[str]:
    """A PostgreSQL database of its own, dropped at the end: emptying 20,000 customers'
    rows for the next test would take longer than the test."""
    with fresh_postgres_database("arseq_workers") as url:
        yield url


async def test_four_workers_send_20000_touches_exactly_once(big_db_url, tmp_path):
    db_url = big_db_url
    now = datetime.now(UTC) - timedelta(minutes=1)
    async with open_engine(db_url) as engine:
        await add_due_emails(engine, TOUCHES, now)
    async with SmtpSink() as sink:
        async with Workers(worker_env(db_url, sink.port), tmp_path) as pool:
            workers = [await pool.start() for _ in range(4)]
            await asyncio.gather(*(w.wait_for() for w in workers))
            await until(lambda: sink.accepted >= TOUCHES)
            codes = await asyncio.gather(*(w.finish(signal.SIGTERM) for w in workers))
        async with open_engine(db_url) as engine:
            states = await outbox_states(engine)
    assert codes == [0, 0, 0, 0], [w.text[-2000:] for w in workers]
    seen = keys_seen(m.data for m in sink.received)
    assert len(seen) == TOUCHES and set(seen.values()) == {1}  # each key once
    assert sink.accepted == TOUCHES and states == {"sent": TOUCHES}
    busy = [w for w in workers if "sent" in w.text]
    assert len(busy) >= 2  # the work was shared, not done by one worker alone


@postgres_only
async def test_workers_killed_at_random_lose_nothing(db_url, tmp_path):
    rng = random.Random(SEED)
    now = datetime.now(UTC) - timedelta(minutes=1)
    async with open_engine(db_url) as engine:
        await add_due_emails(engine, CRASH_TOUCHES, now)
    async with SmtpSink(delay=0.002) as sink:
        env = worker_env(db_url, sink.port, ARSEQ_DISPATCH_LEASE="2s")
        async with Workers(env, tmp_path) as pool:
            workers = [await pool.start() for _ in range(2)]
            # Kill a worker each time the sink passes a random count, then start another.
            marks = random_marks(rng, CRASH_TOUCHES, KILLS)
            await kill_at_marks(pool, workers, lambda: sink.accepted, marks, rng)
            async with open_engine(db_url) as engine:  # the outbox, not the sink, says done:
                await all_sent(engine, CRASH_TOUCHES)  # some were sent but not recorded
                codes = await asyncio.gather(*(w.finish(signal.SIGTERM) for w in workers))
                states = await outbox_states(engine)
    assert codes == [0] * len(workers)
    seen = keys_seen(m.data for m in sink.received)
    doubled = {key: n for key, n in seen.items() if n > 1}
    print(f"\n{KILLS} SIGKILLs: {CRASH_TOUCHES} touches, {len(doubled)} sent twice")
    assert set(seen) == {f"touch:{n}" for n in range(CRASH_TOUCHES)}  # nothing lost
    assert states == {"sent": CRASH_TOUCHES}
    # Only the window: each kill leaves at most its batch in flight sent but unrecorded,
    # sent again after the lease. A second kill can land on the worker re-sending that
    # same batch (seen in CI: a key sent 3 times), so the bound is per kill, in total.
    repeats = sum(n - 1 for n in seen.values())
    assert len(doubled) <= repeats <= KILLS * DispatchPolicy().batch
