"""Child side of the peer benchmark: one APScheduler 3 job per reminder.

`python -m bench.apscheduler_child DB COUNT` schedules COUNT reminders in APScheduler's
`SQLAlchemyJobStore` (sync SQLAlchemy on the SQLite file DB, its defaults): a
`BackgroundScheduler` started paused (its thread then never runs jobs or competes for
the GIL while we add), and one `add_job(remind, "date", run_date=...)` per reminder,
30 to 365 days ahead of the wall clock. Each `add_job` is one INSERT of the pickled job
in its own transaction: that is how the job store works. Then the work of one scheduler
wakeup that finds nothing due: `get_due_jobs(now)` and `get_next_run_time()` on the
store.

Prints {seconds, jobs, stored, wakeup_seconds, rss_start_mb, peak_rss_mb, db_bytes}.
"""

from __future__ import annotations

import random
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler

from bench.proc import emit, peak_rss_mb

REMIND = "bench.apscheduler_child:remind"


def remind(enrollment_id: int) -> None:
    """The job: a reminder for one target (never runs here; the dates are in the future)."""


def schedule(db: Path, count: int) -> dict[str, Any]:
    """Add `count` date jobs through the scheduler; time it and one idle wakeup."""
    rss_start = peak_rss_mb()
    store = SQLAlchemyJobStore(url=f"sqlite:///{db}")
    scheduler = BackgroundScheduler(jobstores={"default": store}, timezone=UTC)
    scheduler.start(paused=True)
    rng = random.Random(count)
    now = datetime.now(UTC)
    runs = [
        now + timedelta(days=rng.randrange(30, 366), seconds=rng.randrange(86_400))
        for _ in range(count)
    ]
    try:
        started = time.perf_counter()
        for i, run_date in enumerate(runs):
            scheduler.add_job(
                REMIND, "date", run_date=run_date, args=(i,), id=f"reminder-{i}",
                misfire_grace_time=3600,
            )  # fmt: skip
        seconds = time.perf_counter() - started
        started = time.perf_counter()
        due = store.get_due_jobs(datetime.now(UTC))
        store.get_next_run_time()
        wakeup = time.perf_counter() - started
        if due:
            raise RuntimeError(f"{len(due)} reminders are due already")
        stored = len(store.get_all_jobs()) if count <= 10_000 else None
    finally:
        scheduler.shutdown(wait=False)
    return {
        "seconds": seconds,
        "jobs": count,
        "stored": stored,
        "wakeup_seconds": wakeup,
        "rss_start_mb": rss_start,
        "peak_rss_mb": peak_rss_mb(),
        "db_bytes": db.stat().st_size,
    }


def main(argv: list[str]) -> int:
    """Entry point: DB COUNT."""
    if len(argv) != 2:
        print("usage: python -m bench.apscheduler_child DB COUNT", file=sys.stderr)
        return 2
    emit(schedule(Path(argv[0]), int(argv[1])))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
