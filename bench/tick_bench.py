"""Engine benchmarks: a tick's cost follows the due work, and what it costs over bare SQL.

`tick_scaling_ratio`: two ledgers (`bench.tick_data`), 100,000 and 1,000,000 active
enrollments in past-due-standard, the same 10,000 of them due at `NOW` with real work
(one overdue invoice per customer, send windows open: 10,000 customer messages). One
`tick(engine, now=NOW)` on a fresh copy of each, each in a fresh child interpreter
(`bench.tick_child`). As in steady running, a tick looked for new targets an hour
before (`tick_data.looked_before`), so the trigger takes its short look; the
once-a-day full look is timed once on the big ledger and shown beside. The figure is
big / small; `tick_seconds` is the big one.

`tick_vs_sql_ratio`: the tick on the 100,000 ledger against the floor of its work in
stdlib `sqlite3` on another fresh copy: select the same due rows, then one
`executemany` of the very outbox rows the tick wrote, in one transaction. Beside it,
the messages the tick rendered are rendered again alone, and (bare + that) / bare is
shown: what a tick costs that renders and does nothing else; and the tick against that
sum, which is what the engine's own work (planning, loading, keys, moves) costs.
"""

from __future__ import annotations

import sqlite3
import time
from contextlib import closing
from datetime import timedelta
from pathlib import Path
from statistics import median
from typing import Any

from bench import tick_data
from bench.proc import run_child
from bench.registry import Context, Result, benchmark
from storage.db import SQLITE_CACHE_SIZE

SMALL = 100_000
BIG = 1_000_000
DUE = 10_000
TARGET_SCALING = 1.5
TARGET_TICK_SECONDS = 60
TARGET_VS_SQL = 3
LAST_TICK_BEFORE = timedelta(hours=1)

# The claim query of `storage.queries.claim_due_enrollments`, without the batch limit.
DUE_ROWS_SQL = (
    "SELECT * FROM enrollments WHERE state = 'active' AND next_action_at <= ? "
    "ORDER BY next_action_at, id"
)


def _say(message: str) -> None:
    print(f"  {message}", flush=True)


def _work_dir(ctx: Context, name: str) -> Path:
    work = ctx.data_dir / name
    work.mkdir(parents=True, exist_ok=True)
    for old in work.iterdir():
        old.unlink()
    return work


def run_tick(
    base: Path, db: Path, shape: tick_data.Shape, *, full: bool = False, replay: bool = False
) -> dict[str, Any]:
    """One tick at NOW on a fresh copy of `base` (left at `db`), in a child; checked.

    As in steady running, the previous tick was an hour earlier, so the trigger takes
    its short look; with `full`, the once-a-day look at every open invoice instead.
    With `replay`, the child also renders the tick's messages again alone.
    """
    tick_data.copy(base, db)
    if not full:
        tick_data.looked_before(db, tick_data.NOW - LAST_TICK_BEFORE)
    mode = "tick-replay" if replay else "tick"
    out = run_child("bench.tick_child", mode, str(db), tick_data.NOW.isoformat())
    report = out["report"]
    if (report["due"], report["messages"], report["enrolled"]) != (shape.due, shape.due, 0):
        raise RuntimeError(f"the tick did not do the expected work on {shape.tag}: {report}")
    return out


def _rounded(values: list[float], places: int = 3) -> list[float]:
    return [round(v, places) for v in values]


@benchmark("tick_scaling_ratio", "tick with 10,000 due: 1,000,000- vs 100,000-enrollment ledger")
def scaling(ctx: Context) -> list[Result]:
    """Time one tick on the small and on the big ledger; report big / small."""
    due = ctx.size(DUE)
    small = tick_data.Shape.of(ctx.size(SMALL), due)
    big = tick_data.Shape.of(ctx.size(BIG), due)
    started = time.perf_counter()
    bases = {shape: tick_data.ledger(ctx.data_dir, shape, say=_say) for shape in (small, big)}
    _say(f"ledgers ready in {time.perf_counter() - started:.1f} s")
    work = _work_dir(ctx, "tick-run")
    runs: dict[tick_data.Shape, list[dict[str, Any]]] = {small: [], big: []}
    try:
        for attempt in range(1, ctx.repeat + 1):
            for shape in (small, big):
                out = run_tick(bases[shape], work / "arseq.db", shape)
                runs[shape].append(out)
                _say(
                    f"run {attempt}/{ctx.repeat} {shape.enrollments:,} enrollments: "
                    f"tick {out['seconds']:.2f} s, of which trigger step "
                    f"{out['enroll_seconds']:.2f} s, claiming {out['claim_seconds']:.2f} s "
                    f"({out['claims']} claims); peak RSS {out['peak_rss_mb']:.0f} MiB"
                )
        full = run_tick(bases[big], work / "arseq.db", big, full=True)
        _say(
            f"once a day, the full look on {big.enrollments:,} enrollments: tick "
            f"{full['seconds']:.2f} s, of which trigger step {full['enroll_seconds']:.2f} s"
        )
    finally:
        for path in work.iterdir():
            path.unlink()

    def seconds(shape: tick_data.Shape, key: str = "seconds") -> list[float]:
        return [run[key] for run in runs[shape]]

    ratios = [b / s for b, s in zip(seconds(big), seconds(small), strict=True)]
    without = [
        (b["seconds"] - b["enroll_seconds"]) / (s["seconds"] - s["enroll_seconds"])
        for b, s in zip(runs[big], runs[small], strict=True)
    ]
    common = {"due": due, "now": tick_data.NOW.isoformat(), "quick": ctx.quick}
    common["repeat"] = ctx.repeat
    per_ledger = {
        f"{shape.enrollments}": {
            "enrollments": shape.enrollments,
            "customers": shape.customers,
            "tick_seconds": _rounded(seconds(shape)),
            "trigger_step_seconds": _rounded(seconds(shape, "enroll_seconds")),
            "claim_seconds": _rounded(seconds(shape, "claim_seconds")),
            "peak_rss_mb": round(max(seconds(shape, "peak_rss_mb")), 1),
        }
        for shape in (small, big)
    }
    _say(
        f"big / small: {median(ratios):.2f}; without the trigger step: {median(without):.2f}; "
        f"trigger step on the big ledger {median(seconds(big, 'enroll_seconds')):.2f} s"
    )
    return [
        Result(
            "tick_scaling_ratio",
            median(ratios),
            "x",
            TARGET_SCALING,
            "<=",
            {
                **common,
                "ratios": _rounded(ratios, 2),
                "ratio_without_trigger_step": round(median(without), 2),
                "ledgers": per_ledger,
            },
        ),
        Result(
            "tick_seconds",
            median(seconds(big)),
            "s",
            TARGET_TICK_SECONDS,
            "<=",
            {
                **common,
                "enrollments": big.enrollments,
                "seconds": _rounded(seconds(big)),
                "trigger_step_seconds": _rounded(seconds(big, "enroll_seconds")),
                "per_due_enrollment_ms": round(median(seconds(big)) / due * 1000, 3),
                "daily_full_look_tick_seconds": round(full["seconds"], 3),
                "daily_full_look_trigger_seconds": round(full["enroll_seconds"], 3),
                "note": "target is report-only",
            },
        ),
    ]


def _connect(db: Path) -> sqlite3.Connection:
    """stdlib sqlite3 with the pragmas `storage.db` gives every connection."""
    con = sqlite3.connect(db, isolation_level=None)
    con.execute("PRAGMA foreign_keys = ON")
    con.execute("PRAGMA journal_mode = WAL")
    con.execute("PRAGMA synchronous = NORMAL")
    con.execute(f"PRAGMA cache_size = {SQLITE_CACHE_SIZE}")
    return con


def written_by_tick(db: Path) -> tuple[list[str], list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """The outbox rows the tick wrote (columns but id, as stored) and the enrollments'
    new (current_step, repeat_count, next_action_at, id)."""
    with closing(sqlite3.connect(db)) as con:
        cursor = con.execute("SELECT * FROM outbox_messages ORDER BY id")
        columns = [c[0] for c in cursor.description][1:]
        outbox = [row[1:] for row in cursor]
        moved = con.execute(
            "SELECT current_step, repeat_count, next_action_at, id FROM enrollments "
            "WHERE id IN (SELECT value FROM outbox_messages, json_each(payload, '$.enrollments'))"
        ).fetchall()
    return columns, outbox, moved


def bare(
    db: Path,
    columns: list[str],
    outbox: list[tuple[Any, ...]],
    moved: list[tuple[Any, ...]] | None = None,
) -> tuple[float, int]:
    """The baseline on `db`, in one transaction: select the due rows, executemany the
    outbox rows (and, given `moved`, the enrollments' new positions). (seconds, rows)."""
    insert = (
        f"INSERT INTO outbox_messages ({', '.join(columns)}) "
        f"VALUES ({', '.join('?' * len(columns))})"
    )
    con = _connect(db)
    try:
        started = time.perf_counter()
        con.execute("BEGIN")
        rows = con.execute(DUE_ROWS_SQL, (tick_data.stamp(tick_data.NOW),)).fetchall()
        con.executemany(insert, outbox)
        if moved is not None:
            con.executemany(
                "UPDATE enrollments SET current_step = ?, repeat_count = ?, "
                "next_action_at = ? WHERE id = ?",
                moved,
            )
        con.execute("COMMIT")
        return time.perf_counter() - started, len(rows)
    finally:
        con.close()


@benchmark("tick_vs_sql_ratio", "tick planning 10,000 touches vs bare select + executemany")
def versus_sql(ctx: Context) -> list[Result]:
    """Tick on the 100,000 ledger; baseline: the same due rows and outbox rows in sqlite3."""
    shape = tick_data.Shape.of(ctx.size(SMALL), ctx.size(DUE))
    base = tick_data.ledger(ctx.data_dir, shape, say=_say)
    work = _work_dir(ctx, "tick-sql-run")
    ticks: list[dict[str, Any]] = []
    baselines: list[dict[str, float]] = []
    try:
        for attempt in range(1, ctx.repeat + 1):
            db = work / "arseq.db"
            ticks.append(run_tick(base, db, shape, replay=True))
            columns, outbox, moved = written_by_tick(db)
            if len(outbox) != shape.due or len(moved) != shape.due:
                raise RuntimeError(f"expected {shape.due} outbox rows, found {len(outbox)}")
            seconds, rows = bare(tick_data.copy(base, work / "bare.db"), columns, outbox)
            updated, _ = bare(tick_data.copy(base, work / "bare.db"), columns, outbox, moved)
            if rows != shape.due:
                raise RuntimeError(f"the bare select found {rows} due rows")
            baselines.append({"seconds": seconds, "with_updates_seconds": updated})
            _say(
                f"run {attempt}/{ctx.repeat}: tick {ticks[-1]['seconds']:.2f} s "
                f"(trigger step {ticks[-1]['enroll_seconds']:.2f} s); bare select + "
                f"executemany {seconds:.3f} s, with the enrollment updates {updated:.3f} s; "
                f"rendering its {ticks[-1]['rendered']:,} messages alone "
                f"{ticks[-1]['render_seconds']:.2f} s"
            )
    finally:
        for path in work.iterdir():
            path.unlink()
    ratios = [t["seconds"] / b["seconds"] for t, b in zip(ticks, baselines, strict=True)]
    with_updates = [
        t["seconds"] / b["with_updates_seconds"] for t, b in zip(ticks, baselines, strict=True)
    ]
    no_trigger = [
        (t["seconds"] - t["enroll_seconds"]) / b["seconds"]
        for t, b in zip(ticks, baselines, strict=True)
    ]
    # The least a tick that renders can cost: the bare statements plus rendering alone.
    floors = [
        (b["seconds"] + t["render_seconds"]) / b["seconds"]
        for t, b in zip(ticks, baselines, strict=True)
    ]
    # The tick against a baseline that renders too: what is left is the engine's own cost.
    vs_rendering = [
        t["seconds"] / (b["seconds"] + t["render_seconds"])
        for t, b in zip(ticks, baselines, strict=True)
    ]
    _say(
        f"tick / bare: {median(ratios):.1f}x (without the trigger step {median(no_trigger):.1f}x; "
        f"vs a baseline that also updates the enrollments {median(with_updates):.1f}x); "
        f"bare + rendering alone, with nothing else of the tick: {median(floors):.1f}x; "
        f"tick / (bare + rendering alone): {median(vs_rendering):.1f}x"
    )
    return [
        Result(
            "tick_vs_sql_ratio",
            median(ratios),
            "x",
            TARGET_VS_SQL,
            "<=",
            {
                "enrollments": shape.enrollments,
                "due": shape.due,
                "quick": ctx.quick,
                "repeat": ctx.repeat,
                "baseline": "sqlite3: select the due rows + executemany the tick's outbox rows",
                "tick_seconds": _rounded([t["seconds"] for t in ticks]),
                "tick_trigger_step_seconds": _rounded([t["enroll_seconds"] for t in ticks]),
                "bare_seconds": _rounded([b["seconds"] for b in baselines], 4),
                "bare_with_updates_seconds": _rounded(
                    [b["with_updates_seconds"] for b in baselines], 4
                ),
                "ratios": _rounded(ratios, 1),
                "ratio_without_trigger_step": round(median(no_trigger), 1),
                "ratio_vs_baseline_with_updates": round(median(with_updates), 1),
                "rendered_messages": ticks[0]["rendered"],
                "render_alone_seconds": _rounded([t["render_seconds"] for t in ticks]),
                "bare_plus_render_alone_ratio": round(median(floors), 2),
                "tick_vs_bare_plus_render_ratio": round(median(vs_rendering), 2),
            },
        )
    ]
