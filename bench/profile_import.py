"""Where the invoices import spends its time, phase by phase.

`python -m bench.profile_import [--rows 200000] [--customers 20000] [--cprofile FILE]`

Imports generated customers, then invoices, into a fresh SQLite file with light
instrumentation: every `AsyncConnection.execute`/`run_sync` is timed and attributed to
the importer function that issued it, and the time spent inside the SQLite driver
(aiosqlite's thread) is separated from SQLAlchemy's own work (compiling, bind
processing) in the main thread. CSV reading and row validation are the rest of
`stage`. With `--cprofile` the same run is also profiled (slower; Python-side
times inflate) and the top functions are printed.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import shutil
import sys
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from sqlalchemy.connectors.asyncio import AsyncAdapt_dbapi_cursor
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncTransaction

from bench import datagen
from bench.registry import DATA_DIR
from storage import import_staging, importers
from storage.db import open_engine
from storage.migrate import upgrade


@dataclass
class Phase:
    """Accumulated time of one label: wall seconds, of which inside SQLite, and calls."""

    seconds: float = 0.0
    sqlite: float = 0.0
    calls: int = 0


class Recorder:
    """Collects `Phase`s by label; `open` is the label driver time is charged to."""

    def __init__(self) -> None:
        self.phases: dict[str, Phase] = defaultdict(Phase)
        self.open: list[str] = []

    async def timed(self, label: str, work: Awaitable[Any]) -> Any:
        """Await `work`, charging its wall time to `label`."""
        self.open.append(label)
        started = time.perf_counter()
        try:
            return await work
        finally:
            phase = self.phases[label]
            phase.seconds += time.perf_counter() - started
            phase.calls += 1
            self.open.pop()

    async def driver(self, work: Awaitable[Any]) -> Any:
        """Await a driver call, charging its time as SQLite time of the open label."""
        started = time.perf_counter()
        try:
            return await work
        finally:
            if self.open:
                self.phases[self.open[-1]].sqlite += time.perf_counter() - started


def _kind(statement: Any, params: Any) -> str:
    name = type(statement).__name__
    if getattr(statement, "select", None) is not None:
        name += "…select"
    if getattr(statement, "_post_values_clause", None) is not None:
        name += " upsert"
    if isinstance(params, list):
        name += " (executemany)"
    return name


def _caller() -> str:
    # Frame 0 is this function, 1 the patched method, 2 the importer coroutine awaiting it.
    return sys._getframe(2).f_code.co_name


@contextmanager
def instrument(rec: Recorder) -> Iterator[None]:
    """Patch SQLAlchemy's async layer and `import_staging.stage` to feed `rec`."""
    saved: list[tuple[object, str, Any]] = []

    def patch(owner: object, name: str, make: Callable[[Any], Any]) -> None:
        original = getattr(owner, name)
        saved.append((owner, name, original))
        setattr(owner, name, make(original))

    def execute(orig: Any) -> Any:
        async def wrapper(self: Any, statement: Any, parameters: Any = None, **kw: Any) -> Any:
            label = f"{_caller()}: {_kind(statement, parameters)}"
            return await rec.timed(label, orig(self, statement, parameters, **kw))

        return wrapper

    def run_sync(orig: Any) -> Any:
        async def wrapper(self: Any, fn: Any, *args: Any, **kw: Any) -> Any:
            label = f"{_caller()}: run_sync {getattr(fn, '__name__', fn)}"
            return await rec.timed(label, orig(self, fn, *args, **kw))

        return wrapper

    def exec_driver_sql(orig: Any) -> Any:
        # Not async: the label must be taken where the call is made, because the
        # importer schedules staging inserts as tasks that start later.
        def wrapper(self: Any, statement: str, parameters: Any = None, **kw: Any) -> Any:
            many = " (executemany)" if isinstance(parameters, list) else ""
            label = f"{_caller()}: {' '.join(statement.split()[:3])}{many}"
            return rec.timed(label, orig(self, statement, parameters, **kw))

        return wrapper

    def commit(orig: Any) -> Any:
        async def wrapper(self: Any) -> Any:
            return await rec.timed("commit", orig(self))

        return wrapper

    def driver(orig: Any) -> Any:
        async def wrapper(self: Any, *args: Any) -> Any:
            return await rec.driver(orig(self, *args))

        return wrapper

    def stage(orig: Any) -> Any:
        async def wrapper(*args: Any) -> Any:
            return await rec.timed("_stage (whole)", orig(*args))

        return wrapper

    patch(AsyncConnection, "execute", execute)
    patch(AsyncConnection, "run_sync", run_sync)
    patch(AsyncConnection, "exec_driver_sql", exec_driver_sql)
    patch(AsyncTransaction, "commit", commit)
    patch(AsyncAdapt_dbapi_cursor, "_execute_async", driver)
    patch(AsyncAdapt_dbapi_cursor, "_executemany_async", driver)
    patch(import_staging, "stage", stage)
    try:
        yield
    finally:
        for owner, name, original in reversed(saved):
            setattr(owner, name, original)


def summarize(rec: Recorder, total: float) -> list[tuple[str, float, float]]:
    """Group the labels into the importer's phases: (phase, seconds, of which SQLite)."""
    p = rec.phases
    staged = [v for k, v in p.items() if k.startswith("stage: ")]
    in_stage = sum(v.seconds for v in staged)
    in_sqlite = sum(v.sqlite for v in staged)
    groups: list[tuple[str, float, float]] = [
        ("CSV read + parse/validate rows (Python)", p["_stage (whole)"].seconds - in_stage, 0.0),
        # Staging batches are written while the next is parsed: the overlap counts here.
        ("staging inserts: Python side of the driver", in_stage - in_sqlite, 0.0),
        ("staging inserts: inside SQLite", in_sqlite, in_sqlite),
    ]
    buckets = {
        "set-based checks (index, duplicates, unknown customers)": (
            "run_sync index_keys",
            "duplicates:",
            "unknown_references:",
        ),
        "merge upsert into invoices": ("_merge_invoices: Insert",),
        "keep-payments update": ("_merge_invoices: Update",),
        "row counts before/after merge": ("_count:",),
        "commit": ("commit",),
    }
    for name, keys in buckets.items():
        hit = [v for k, v in p.items() if any(key in k for key in keys)]
        groups.append((name, sum(v.seconds for v in hit), sum(v.sqlite for v in hit)))
    groups.append(("other (staging DDL, event row, drop)", total - sum(g[1] for g in groups), 0.0))
    return groups


async def _prepare(db: Path, customers_csv: Path) -> None:
    async with open_engine(f"sqlite+aiosqlite:///{db}") as engine:
        await upgrade(engine)
        report = await importers.import_csv(engine, "customers", customers_csv)
        if not report.ok:
            raise RuntimeError(report.summary())


async def _import(db: Path, invoices_csv: Path, rec: Recorder) -> tuple[float, int]:
    async with open_engine(f"sqlite+aiosqlite:///{db}") as engine:
        with instrument(rec):
            started = time.perf_counter()
            report = await importers.import_csv(engine, "invoices", invoices_csv)
            seconds = time.perf_counter() - started
    if not report.ok:
        raise RuntimeError(report.summary())
    return seconds, report.rows


def main(argv: list[str] | None = None) -> int:
    """Run one instrumented import and print where its time went."""
    parser = argparse.ArgumentParser(prog="python -m bench.profile_import")
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--cprofile", type=Path, metavar="FILE", help="also cProfile into FILE")
    parser.add_argument("--top", type=int, default=30, help="cProfile functions to print")
    args = parser.parse_args(argv)
    console = Console()
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    customers_csv = datagen.customers_csv(DATA_DIR, args.customers)
    invoices_csv = datagen.invoices_csv(DATA_DIR, args.rows, args.customers)
    work = DATA_DIR / "profile-run"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    rec = Recorder()
    profiler = cProfile.Profile() if args.cprofile else None
    try:
        db = work / "arseq.db"
        asyncio.run(_prepare(db, customers_csv))
        if profiler:
            profiler.enable()
        seconds, rows = asyncio.run(_import(db, invoices_csv, rec))
        if profiler:
            profiler.disable()
    finally:
        shutil.rmtree(work, ignore_errors=True)

    note = " (under cProfile: Python-side times inflated)" if profiler else ""
    console.print(
        f"invoices import: {rows:,} rows in {seconds:.2f} s = {rows / seconds:,.0f} rows/s{note}"
    )
    raw = Table(title="by statement (caller: statement)", title_justify="left")
    for col in ("label", "calls", "seconds", "in SQLite"):
        raw.add_column(col, justify="left" if col == "label" else "right")
    for label, ph in sorted(rec.phases.items(), key=lambda kv: -kv[1].seconds):
        raw.add_row(label, str(ph.calls), f"{ph.seconds:.3f}", f"{ph.sqlite:.3f}")
    console.print(raw)
    grouped = Table(title="by phase", title_justify="left")
    for col in ("phase", "seconds", "share", "of which in SQLite"):
        grouped.add_column(col, justify="left" if col == "phase" else "right")
    for name, secs, sqlite_secs in summarize(rec, seconds):
        grouped.add_row(name, f"{secs:.3f}", f"{secs / seconds:.0%}", f"{sqlite_secs:.3f}")
    grouped.add_row("total", f"{seconds:.3f}", "100%", "")
    console.print(grouped)
    if profiler and args.cprofile:
        profiler.dump_stats(args.cprofile)
        stats = pstats.Stats(profiler).strip_dirs().sort_stats("tottime")
        stats.print_stats(args.top)
        console.print(f"cProfile data in {args.cprofile} (e.g. `python -m pstats {args.cprofile}`)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
