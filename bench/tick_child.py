"""Child side of the engine benchmarks: one measured tick, or scheduling reminders.

    python -m bench.tick_child tick DB NOW
        One `sequences.engine.tick(engine, now=NOW)` on the SQLite file DB. Prints
        {seconds, report, enroll_seconds, claim_seconds, claims, outbox, rss_start_mb,
        peak_rss_mb}. `enroll_seconds` is the time inside
        `enroll_new_targets` (the trigger step, every active sequence), `claim_seconds`
        inside `claim_due_enrollments` (reading the due rows, batch by batch).

    python -m bench.tick_child tick-replay DB NOW
        The same, and then the messages the tick rendered are rendered again alone:
        `rendered` (how many) and `render_seconds` are added. Kept apart from `tick`
        since holding every message's context inflates the peak RSS it reports.

    python -m bench.tick_child schedule DB NOW
        ARSeq's way of having one scheduled reminder per invoice of DB: an active
        enrollment in past-due-standard with `next_action_at` in the future, written in
        bulk through our storage (SQLAlchemy Core `insert(Enrollment.__table__)`
        executemany on `storage.db`'s engine, 10,000 rows a statement, one transaction).
        Then one tick at NOW, which finds none of them due. Prints {seconds, rows,
        tick_seconds, tick_enroll_seconds, report, rss_start_mb, peak_after_insert_mb,
        peak_rss_mb}.

    python -m bench.tick_child enroll DB NOW
        The set-based way the trigger itself enrolls every overdue invoice of DB:
        one `enroll_new_targets` call (INSERT ... SELECT ... WHERE NOT EXISTS). Prints
        {seconds, rows, peak_rss_mb}.

Each runs in a fresh interpreter, so peaks (VmHWM) are the engine's own.
"""

from __future__ import annotations

import asyncio
import random
import sys
import time
from collections.abc import Awaitable, Callable
from contextlib import ExitStack
from dataclasses import asdict
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select

from bench.patching import replace_everywhere
from bench.proc import emit, peak_rss_mb
from sequences.engine import EngineConfig, tick
from sequences.store import stored_by_name
from sequences.templates import render
from storage import queries
from storage.db import open_engine
from storage.models import Enrollment, Invoice, OutboxMessage

SCHEDULE_CHUNK = 10_000


class _Timer:
    """Sums the wall time of an async function wherever the engine calls it from."""

    def __init__(self, original: Callable[..., Awaitable[Any]]) -> None:
        self.original = original
        self.seconds = 0.0
        self.calls = 0
        self._patch: ExitStack | None = None

    async def __call__(self, *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return await self.original(*args, **kwargs)
        finally:
            self.seconds += time.perf_counter() - started
            self.calls += 1

    def __enter__(self) -> _Timer:
        self._patch = ExitStack()
        if not self._patch.enter_context(replace_everywhere(self.original, self)):
            raise RuntimeError(f"the engine no longer calls {self.original.__name__}")
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._patch is not None
        self._patch.close()


def _url(db: Path) -> str:
    return f"sqlite+aiosqlite:///{db}"


async def timed_tick(db: Path, now: datetime, *, replay: bool = False) -> dict[str, Any]:
    """One tick at `now`, with the trigger and claim steps timed on their own. With
    `replay`, the messages it rendered are then rendered again alone (`render_seconds`:
    templates compiled, caches warm): what rendering costs without the rest of the tick."""
    rendered: list[tuple[Any, ...]] = []

    def recording(name: str, context: Any, dirs: Any = None, *, channel: str = "email") -> Any:
        rendered.append((name, context, dirs, channel))
        return render(name, context, dirs, channel=channel)

    async with open_engine(_url(db)) as engine:
        with (
            _Timer(queries.enroll_new_targets) as enroll,
            _Timer(queries.claim_due_enrollments) as claim,
            ExitStack() as patches,
        ):
            if replay and not patches.enter_context(replace_everywhere(render, recording)):
                raise RuntimeError("the engine no longer calls templates.render")
            started = time.perf_counter()
            report = await tick(engine, now=now)
            seconds = time.perf_counter() - started
        async with engine.connect() as conn:
            outbox = await conn.scalar(select(func.count()).select_from(OutboxMessage.__table__))
    out = {
        "seconds": seconds,
        "report": asdict(report),
        "enroll_seconds": enroll.seconds,
        "claim_seconds": claim.seconds,
        "claims": claim.calls,
        "outbox": outbox,
    }
    if replay:
        started = time.perf_counter()
        for name, context, dirs, channel in rendered:
            render(name, context, dirs, channel=channel)
        out |= {"rendered": len(rendered), "render_seconds": time.perf_counter() - started}
    return out


def _reminders(invoices: list[Any], sequence_id: int, now: datetime) -> list[dict[str, Any]]:
    rng = random.Random(len(invoices))
    rows = []
    for invoice_id, customer_id in invoices:
        later = timedelta(days=rng.randrange(30, 366), seconds=rng.randrange(86_400))
        row = {
            "sequence_id": sequence_id, "target_type": "invoice", "customer_id": customer_id,
            "invoice_id": invoice_id, "state": "active", "current_step": 0, "repeat_count": 0,
            "next_action_at": now + later, "started_at": now,
        }  # fmt: skip
        rows.append(row)
    return rows


async def schedule(db: Path, now: datetime) -> dict[str, Any]:
    """Bulk-insert one future enrollment per invoice through our storage, then tick."""
    rss_start = peak_rss_mb()
    i = Invoice.__table__
    async with open_engine(_url(db)) as engine:
        async with engine.connect() as conn:
            stored = await stored_by_name(conn, "past-due-standard")
            invoices = (await conn.execute(select(i.c.id, i.c.customer_id).order_by(i.c.id))).all()
        assert stored is not None
        started = time.perf_counter()
        async with engine.begin() as conn:
            for first in range(0, len(invoices), SCHEDULE_CHUNK):
                chunk = invoices[first : first + SCHEDULE_CHUNK]
                await conn.execute(insert(Enrollment.__table__), _reminders(chunk, stored.id, now))
        seconds = time.perf_counter() - started
        peak_after_insert = peak_rss_mb()
    ticked = await timed_tick(db, now)
    return {
        "seconds": seconds,
        "rows": len(invoices),
        "tick_seconds": ticked["seconds"],
        "tick_enroll_seconds": ticked["enroll_seconds"],
        "report": ticked["report"],
        "rss_start_mb": rss_start,
        "peak_after_insert_mb": peak_after_insert,
        "peak_rss_mb": peak_rss_mb(),
    }


async def enroll(db: Path, now: datetime) -> dict[str, Any]:
    """The trigger's own set-based enrollment of every overdue invoice (due at `now`)."""
    async with open_engine(_url(db)) as engine:
        async with engine.connect() as conn:
            stored = await stored_by_name(conn, "past-due-standard")
        assert stored is not None
        started = time.perf_counter()
        async with engine.begin() as conn:
            rows = await queries.enroll_new_targets(
                conn, sequence_id=stored.id, sequence_name=stored.sequence.name,
                trigger=str(stored.sequence.trigger), now=now, since=stored.created_at,
                min_balance=EngineConfig().min_balance, exclude_tag="no-reminders",
            )  # fmt: skip
        seconds = time.perf_counter() - started
    return {"seconds": seconds, "rows": rows, "peak_rss_mb": peak_rss_mb()}


async def _tick_mode(db: Path, now: datetime, *, replay: bool = False) -> dict[str, Any]:
    rss_start = peak_rss_mb()
    out = await timed_tick(db, now, replay=replay)
    return {**out, "rss_start_mb": rss_start, "peak_rss_mb": peak_rss_mb()}


async def _tick_replay_mode(db: Path, now: datetime) -> dict[str, Any]:
    return await _tick_mode(db, now, replay=True)


MODES = {"tick": _tick_mode, "tick-replay": _tick_replay_mode, "schedule": schedule,
         "enroll": enroll}  # fmt: skip


def main(argv: list[str]) -> int:
    """Entry point: MODE DB NOW."""
    if len(argv) != 3 or argv[0] not in MODES:
        print(f"usage: python -m bench.tick_child {{{','.join(MODES)}}} DB NOW", file=sys.stderr)
        return 2
    mode, db, now = argv
    emit(asyncio.run(MODES[mode](Path(db), datetime.fromisoformat(now))))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
