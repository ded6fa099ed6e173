"""The peer a user would otherwise pick: one APScheduler 3 job per reminder.

APScheduler side (`bench.apscheduler_child`): 100,000 date jobs added one by one to a
`SQLAlchemyJobStore` on a fresh SQLite file (sync SQLAlchemy, the store's defaults),
in a child; its time and peak RSS, and one idle wakeup of the store.

ARSeq side (`bench.tick_child schedule`): on a fresh copy of a ledger with 100,000 open
overdue invoices (`bench.tick_data.targets`) and no enrollments, 100,000 enrollments
with `next_action_at` 30 to 365 days ahead, bulk-inserted through our storage
(SQLAlchemy Core executemany on `storage.db`'s engine, one transaction); its time and
peak RSS, then one tick that finds none of them due. For reference, the set-based way
the trigger itself enrolls those invoices (`enroll_new_targets`, one INSERT ... SELECT)
is timed on another fresh copy (`bench.tick_child enroll`).

The figure is APScheduler's time to schedule the reminders: report-only (target 0, >=),
with ours beside it in the detail.
"""

from __future__ import annotations

from pathlib import Path
from statistics import median
from typing import Any

from bench import tick_data
from bench.proc import run_child
from bench.registry import Context, Result, benchmark

REMINDERS = 100_000


def _say(message: str) -> None:
    print(f"  {message}", flush=True)


def _fresh(path: Path) -> Path:
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    return path


def _side_by_side(rows: list[tuple[str, str, str]]) -> None:
    width = max(len(r[0]) for r in rows)
    left = max(len(r[1]) for r in rows)
    for label, peer, ours in rows:
        _say(f"{label:<{width}}  {peer:>{left}}  {ours}")


@benchmark("apscheduler_peer_seconds", "100,000 reminders: APScheduler jobs vs ARSeq enrollments")
def run(ctx: Context) -> list[Result]:
    """Schedule the reminders both ways, in children; report APScheduler's time."""
    count = ctx.size(REMINDERS)
    base = tick_data.targets(ctx.data_dir, count, say=_say)
    work = ctx.data_dir / "peer-run"
    work.mkdir(parents=True, exist_ok=True)
    peer: list[dict[str, Any]] = []
    ours: list[dict[str, Any]] = []
    enroll: list[dict[str, Any]] = []
    now = tick_data.NOW.isoformat()
    try:
        for attempt in range(1, ctx.repeat + 1):
            aps_db = _fresh(work / "apscheduler.db")
            out = run_child("bench.apscheduler_child", str(aps_db), str(count))
            peer.append(out)
            db = tick_data.copy(base, _fresh(work / "arseq.db"))
            before = db.stat().st_size
            mine = run_child("bench.tick_child", "schedule", str(db), now)
            if mine["rows"] != count or mine["report"]["due"] or mine["report"]["enrolled"]:
                raise RuntimeError(f"scheduling through our storage went wrong: {mine}")
            mine["db_growth_bytes"] = db.stat().st_size - before
            ours.append(mine)
            db = tick_data.copy(base, _fresh(work / "arseq.db"))
            enrolled = run_child("bench.tick_child", "enroll", str(db), now)
            if enrolled["rows"] != count:
                raise RuntimeError(f"the trigger enrolled {enrolled['rows']} of {count}")
            enroll.append(enrolled)
            _say(
                f"run {attempt}/{ctx.repeat}: APScheduler {out['seconds']:.2f} s, "
                f"ours {mine['seconds']:.2f} s + idle tick {mine['tick_seconds']:.2f} s"
            )
    finally:
        for path in work.iterdir():
            path.unlink()

    def med(runs: list[dict[str, Any]], key: str) -> float:
        return median(r[key] for r in runs)

    def worst(runs: list[dict[str, Any]], key: str) -> float:
        return max(r[key] for r in runs)

    aps_s, our_s = med(peer, "seconds"), med(ours, "seconds")
    _say(f"{count:,} scheduled reminders, side by side:")
    _side_by_side(
        [
            ("", "APScheduler 3", "ARSeq"),
            ("schedule them (s)", f"{aps_s:.2f}", f"{our_s:.2f} (bulk insert through storage)"),
            ("  per reminder (µs)", f"{aps_s / count * 1e6:,.0f}", f"{our_s / count * 1e6:,.1f}"),
            ("  set-based trigger (s)", "-", f"{med(enroll, 'seconds'):.2f} (enroll_new_targets)"),
            (
                "idle wakeup / tick (s)",
                f"{med(peer, 'wakeup_seconds'):.4f}",
                f"{med(ours, 'tick_seconds'):.2f} (of which trigger step "
                f"{med(ours, 'tick_enroll_seconds'):.2f})",
            ),
            (
                "peak RSS (MiB)",
                f"{worst(peer, 'peak_rss_mb'):.0f}",
                f"{worst(ours, 'peak_after_insert_mb'):.0f} (after the tick "
                f"{worst(ours, 'peak_rss_mb'):.0f})",
            ),
            (
                "  before starting (MiB)",
                f"{worst(peer, 'rss_start_mb'):.0f}",
                f"{worst(ours, 'rss_start_mb'):.0f}",
            ),
            (
                "bytes on disk (MiB)",
                f"{med(peer, 'db_bytes') / 2**20:.1f}",
                f"{med(ours, 'db_growth_bytes') / 2**20:.1f} (growth of the ledger file)",
            ),
        ]
    )
    return [
        Result(
            "apscheduler_peer_seconds",
            aps_s,
            "s",
            0,
            ">=",
            {
                "reminders": count,
                "quick": ctx.quick,
                "repeat": ctx.repeat,
                "note": "report-only; ours is in `arseq`",
                "apscheduler": {
                    "how": "BackgroundScheduler(paused) + SQLAlchemyJobStore(sqlite file), "
                    "one add_job(date trigger) per reminder",
                    "seconds": [round(r["seconds"], 3) for r in peer],
                    "per_reminder_us": round(aps_s / count * 1e6, 1),
                    "peak_rss_mb": round(worst(peer, "peak_rss_mb"), 1),
                    "rss_start_mb": round(worst(peer, "rss_start_mb"), 1),
                    "idle_wakeup_seconds": round(med(peer, "wakeup_seconds"), 4),
                    "db_mb": round(med(peer, "db_bytes") / 2**20, 1),
                    "psutil_sampled_peak_mb": round(worst(peer, "sampled_peak_rss_mb"), 1),
                },
                "arseq": {
                    "how": "enrollment rows, SQLAlchemy Core executemany through storage.db, "
                    "one transaction",
                    "seconds": [round(r["seconds"], 3) for r in ours],
                    "per_reminder_us": round(our_s / count * 1e6, 1),
                    "peak_rss_mb": round(worst(ours, "peak_after_insert_mb"), 1),
                    "rss_start_mb": round(worst(ours, "rss_start_mb"), 1),
                    "idle_tick_seconds": [round(r["tick_seconds"], 3) for r in ours],
                    "idle_tick_trigger_step_seconds": [
                        round(r["tick_enroll_seconds"], 3) for r in ours
                    ],
                    "peak_rss_after_tick_mb": round(worst(ours, "peak_rss_mb"), 1),
                    "db_growth_mb": round(med(ours, "db_growth_bytes") / 2**20, 1),
                    "set_based_enroll_seconds": [round(r["seconds"], 3) for r in enroll],
                },
                "apscheduler_over_arseq": round(aps_s / our_s, 1),
            },
        )
    ]
