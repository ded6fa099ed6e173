"""Workers SIGKILLed at random moments while dispatching, and restarted: the crash test's
loop, shared by `tests/e2e/test_workers_postgres.py` and `bench/worker_kills_bench.py`.

`kill_at_marks` kills a random running worker each time the receiver's count passes a
mark and starts another in its place; `all_sent` then waits until the outbox (not the
receiver: some rows were sent but never recorded) says every row is sent.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable

from sqlalchemy.ext.asyncio import AsyncEngine

from tests.helpers.due_touches import outbox_states
from tests.helpers.workers import Worker, Workers


async def until(condition: Callable[[], bool], limit: float = 120) -> None:
    """Wait until `condition()` holds (a state the processes reach, not a time)."""
    async with asyncio.timeout(limit):
        while not condition():  # noqa: ASYNC110 (the receiver has no event to wait on)
            await asyncio.sleep(0.02)


async def all_sent(engine: AsyncEngine, count: int, limit: float = 120) -> None:
    """Wait until the outbox has `count` rows sent."""
    async with asyncio.timeout(limit):
        while (await outbox_states(engine)).get("sent", 0) < count:  # noqa: ASYNC110
            await asyncio.sleep(0.2)  # polling the database: it has no event to wait on


def random_marks(rng: random.Random, count: int, kills: int) -> list[int]:
    """`kills` distinct receiver counts at which to kill, spread over the run."""
    low, high = min(100, count // 10), max(count - 200, count * 9 // 10)
    return sorted(rng.sample(range(low, high), kills))


async def kill_at_marks(
    pool: Workers,
    workers: list[Worker],
    accepted: Callable[[], int],
    marks: list[int],
    rng: random.Random,
    *args: str,
) -> int:
    """Each time `accepted()` reaches a mark, SIGKILL one of `workers` (at random) and
    start another (`arseq ARGS`, default `worker`) in its place; the kills done.

    `workers` is changed in place: at the end it holds the ones still running.
    """
    for mark in marks:
        await until(lambda mark=mark: accepted() >= mark)
        victim = workers.pop(rng.randrange(len(workers)))
        await victim.kill()
        workers.append(await pool.start(*args))
    return len(marks)
