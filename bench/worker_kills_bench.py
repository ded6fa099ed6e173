"""Crash benchmark: `arseq worker` processes SIGKILLed 50 times at random while dispatching.

Two workers (one on SQLite, which allows one writer) email 10,000 due touches to the
benchmark's receiver (`bench.lean_smtp`, 20 ms per message); each time the receiver's
count passes one of 50 random marks, a random running worker is SIGKILLed and a new one
started in its place (`tests.helpers.crashes`, the crash test's loop). The lease is 2 s,
so a killed worker's claimed rows are taken again soon. Then the outbox is awaited until
every row is recorded sent.

- `worker_kills_lost`: touches the receiver never saw (target 0: nothing is lost).
- `worker_kills_repeats_per_bound`: touches sent more than once over the documented bound
  (docs/operations.md: a kill may leave its batch in flight sent but not recorded, sent
  again after the lease: at most a batch, `DispatchPolicy.batch`, per kill), target <= 1.

PostgreSQL as in `bench.worker_bench` (a database of its own), else SQLite.
"""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import signal
import time
from contextlib import suppress
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.lean_smtp import LeanSmtp
from bench.registry import ROOT, Context, Result, benchmark
from bench.worker_bench import (
    LATENCY_S,
    MESSAGES,
    postgres_base,
    postgres_database,
    sqlite_database,
)
from sequences.dispatch import DispatchPolicy
from storage.db import open_engine
from tests.helpers.crashes import all_sent, kill_at_marks, random_marks
from tests.helpers.due_touches import add_due_emails, outbox_states
from tests.helpers.workers import Workers, worker_env

KILLS = 50
LEASE = "2s"
SEED = 50
# Generous: every kill costs a restart (a second or two) and its batch waits the lease.
LIMIT_S = 600


def _say(message: str) -> None:
    print(f"  {message}", flush=True)


async def _crash_run(url: str, count: int, kills: int, workers: int, cwd: Path) -> dict[str, Any]:
    """Fill the outbox, run the workers through the kills, wait for all sent; what happened."""
    rng = random.Random(SEED)
    async with open_engine(url) as engine:
        await add_due_emails(engine, count, datetime.now(UTC) - timedelta(minutes=1))
    start = time.perf_counter()
    async with LeanSmtp(delay=LATENCY_S) as sink:
        env = worker_env(url, sink.port, ARSEQ_DISPATCH_LEASE=LEASE)
        async with Workers(env, cwd) as pool:
            running = [await pool.start() for _ in range(workers)]
            marks = random_marks(rng, count, kills)
            done = await kill_at_marks(pool, running, lambda: sink.accepted, marks, rng)
            async with open_engine(url) as engine:
                with suppress(TimeoutError):  # what never went is counted below as lost
                    await all_sent(engine, count, limit=LIMIT_S)
                codes = await asyncio.gather(*(w.finish(signal.SIGTERM) for w in running))
                states = await outbox_states(engine)
        seen = sink.keys
    return {
        "kills": done, "seconds": round(time.perf_counter() - start, 1), "codes": codes,
        "states": states, "lost": sum(f"touch:{n}" not in seen for n in range(count)),
        "repeats": sum(n - 1 for n in seen.values()),
        "keys_sent_more_than_once": sum(n > 1 for n in seen.values()),
    }  # fmt: skip


@benchmark("worker_kills", "arseq workers SIGKILLed 50 times while dispatching: lost, repeats")
def worker_kills(ctx: Context) -> list[Result]:
    """Kills while two workers (one on SQLite) dispatch; lost touches and repeats."""
    count, kills = ctx.size(MESSAGES), ctx.size(KILLS)
    work = ctx.data_dir / "worker_kills"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    os.chdir(ROOT)
    base = postgres_base()
    sqlite = sqlite_database(work) if base is None else None

    async def run() -> dict[str, Any]:
        if sqlite is not None:
            return await _crash_run(sqlite, count, kills, 1, work)
        assert base is not None
        async with postgres_database(base) as url:
            return await _crash_run(url, count, kills, 2, work)

    found = asyncio.run(run())
    bound = found["kills"] * DispatchPolicy().batch
    detail: dict[str, Any] = {
        **found, "database": "sqlite" if base is None else "postgresql", "messages": count,
        "lease": LEASE, "repeat_bound": bound, "quick": ctx.quick,
    }  # fmt: skip
    _say(
        f"{found['kills']} SIGKILLs, {count} touches in {found['seconds']} s: "
        f"{found['lost']} lost, {found['repeats']} repeats (bound {bound}), "
        f"outbox {found['states']}"
    )
    return [
        Result("worker_kills_lost", found["lost"], "msgs", 0, "<=", detail),
        Result("worker_kills_repeats_per_bound", found["repeats"] / bound, "x", 1, "<=", detail),
    ]
