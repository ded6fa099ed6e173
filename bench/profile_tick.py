"""Where one engine tick spends its time, phase by phase.

`python -m bench.profile_tick [--enrollments 1000000] [--due 10000] [--cprofile FILE]`

Runs one `tick` on a fresh copy of a benchmark ledger (`bench.tick_data`, built on
first use) with light instrumentation. The engine's own steps are timed where
`sequences.engine` calls them: the trigger step (`enroll_new_targets`), claiming due
rows, loading a batch's facts (`_load`), the planner (`plan`) and rendering
(`render`). Every other statement is timed by the engine function that issued it
(`_move`: enrollment updates, `_send_group`: outbox inserts), and commits on their own;
building those statements (`.values()`, which makes a bind parameter of every value)
is timed apart from executing them.
Time inside the SQLite driver (aiosqlite's thread) is kept apart from SQLAlchemy's
work in the main thread. Times are exclusive: a statement inside `_load` counts for
`_load`. What is left is the engine's own Python (grouping, message context, keys).

With `--cprofile FILE` the same tick also runs under cProfile (slower; the Python
side inflates), and the top functions and the cumulative time of the planner's and
the renderer's main parts are printed.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import importlib
import pstats
import shutil
import sys
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from sqlalchemy.connectors.asyncio import AsyncAdapt_dbapi_connection, AsyncAdapt_dbapi_cursor
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.dml import ValuesBase

import sequences.engine as engine_module
from bench import tick_data
from bench.patching import replace_everywhere
from bench.registry import DATA_DIR
from storage.db import open_engine


@dataclass
class Phase:
    """Exclusive wall seconds of one label, of which inside SQLite, and calls."""

    seconds: float = 0.0
    sqlite: float = 0.0
    calls: int = 0


class Recorder:
    """Exclusive time per label: a label's time excludes the labels nested in it."""

    def __init__(self) -> None:
        self.phases: dict[str, Phase] = defaultdict(Phase)
        self.stack: list[list[Any]] = []  # [label, started, time of nested labels]

    def enter(self, label: str) -> None:
        self.stack.append([label, time.perf_counter(), 0.0])

    def leave(self) -> None:
        label, started, nested = self.stack.pop()
        elapsed = time.perf_counter() - started
        phase = self.phases[label]
        phase.seconds += elapsed - nested
        phase.calls += 1
        if self.stack:
            self.stack[-1][2] += elapsed

    async def timed(self, label: str, work: Awaitable[Any]) -> Any:
        self.enter(label)
        try:
            return await work
        finally:
            self.leave()

    def driver(self, seconds: float) -> None:
        if self.stack:
            self.phases[self.stack[-1][0]].sqlite += seconds


# The engine's steps: where each function may be defined (the first found is timed,
# wherever the engine calls it from), its label, and whether it is a coroutine function.
ENGINE_STEPS = (
    ((("storage.queries", "enroll_new_targets"),),
     "trigger enrollment (enroll_new_targets)", True),
    ((("storage.queries", "claim_due_enrollments"),),
     "claim due rows (claim_due_enrollments)", True),
    ((("sequences.batch", "load_batch"), ("sequences.engine", "_load")),
     "load batch facts (customers, invoices, contacts, ...)", True),
    ((("sequences.planner", "plan"),), "planner (plan, incl. timing rules)", False),
    ((("sequences.templates", "render"),), "rendering (render: Jinja2 + Babel)", False),
)  # fmt: skip


def _find(candidates: tuple[tuple[str, str], ...]) -> Any:
    for module, name in candidates:
        try:
            found = getattr(importlib.import_module(module), name, None)
        except ImportError:
            continue
        if found is not None:
            return found
    return None


@contextmanager
def instrument(rec: Recorder) -> Iterator[None]:
    """Patch the engine's steps, SQLAlchemy's async execute and the driver calls."""
    saved: list[tuple[object, str, Any]] = []

    def patch(owner: object, name: str, make: Callable[[Any], Any]) -> None:
        original = getattr(owner, name)
        saved.append((owner, name, original))
        setattr(owner, name, make(original))

    def step(label: str, is_async: bool) -> Callable[[Any], Any]:
        def make(orig: Any) -> Any:
            if is_async:

                async def wrapper(*args: Any, **kw: Any) -> Any:
                    return await rec.timed(label, orig(*args, **kw))

                return wrapper

            def sync_wrapper(*args: Any, **kw: Any) -> Any:
                rec.enter(label)
                try:
                    return orig(*args, **kw)
                finally:
                    rec.leave()

            return sync_wrapper

        return make

    def execute(orig: Any) -> Any:
        async def wrapper(self: Any, statement: Any, *args: Any, **kw: Any) -> Any:
            if rec.stack:  # inside a timed step: its own statement
                return await orig(self, statement, *args, **kw)
            caller = sys._getframe(1).f_code.co_name
            return await rec.timed(f"SQL from {caller}", orig(self, statement, *args, **kw))

        return wrapper

    def driver(orig: Any) -> Any:
        async def wrapper(self: Any, *args: Any) -> Any:
            started = time.perf_counter()
            try:
                return await orig(self, *args)
            finally:
                rec.driver(time.perf_counter() - started)

        return wrapper

    def commit(orig: Any) -> Any:
        def wrapper(self: Any) -> Any:
            rec.enter("commit")
            started = time.perf_counter()
            try:
                return orig(self)
            finally:
                rec.driver(time.perf_counter() - started)
                rec.leave()

        return wrapper

    missing = []
    with ExitStack() as steps:
        for candidates, label, is_async in ENGINE_STEPS:
            original = _find(candidates)
            if original is None or not steps.enter_context(
                replace_everywhere(original, step(label, is_async)(original))
            ):
                missing.append(label)
        if missing:
            print(f"not timed apart (not found in the engine): {', '.join(missing)}")
        # Statements are built per row before they are executed: `.values()` coerces every
        # value into a bind parameter, which is most of the building.
        patch(ValuesBase, "values", step("building statements (insert/update .values())", False))
        patch(AsyncConnection, "execute", execute)
        patch(AsyncConnection, "exec_driver_sql", execute)
        patch(AsyncAdapt_dbapi_cursor, "_execute_async", driver)
        patch(AsyncAdapt_dbapi_cursor, "_executemany_async", driver)
        patch(AsyncAdapt_dbapi_connection, "commit", commit)
        try:
            yield
        finally:
            for owner, name, original in reversed(saved):
                setattr(owner, name, original)


async def _tick(db: Path, rec: Recorder, profiler: cProfile.Profile | None) -> tuple[float, Any]:
    async with open_engine(f"sqlite+aiosqlite:///{db}") as engine:
        with instrument(rec):
            if profiler:
                profiler.enable()
            started = time.perf_counter()
            report = await engine_module.tick(engine, now=tick_data.NOW)
            seconds = time.perf_counter() - started
            if profiler:
                profiler.disable()
    return seconds, report


# Functions whose cumulative cProfile time splits the planner and the renderer.
FOCUS = (
    "plan", "_exit_reason", "position_day", "parse_offset", "apply_offset", "local_day",
    "day_start", "latest_due", "next_send_time", "window_of", "is_business_day",
    "render", "customer_locale", "get_template", "format_currency", "format_date", "_context",
    "model_dump", "_asdict", "execute", "_execute_async", "commit",
)  # fmt: skip


def _focus(stats: pstats.Stats, console: Console) -> None:
    table = Table(title="cumulative time of selected functions (cProfile)", title_justify="left")
    for col in ("function", "calls", "cumulative s", "own s"):
        table.add_column(col, justify="left" if col == "function" else "right")
    rows: dict[str, list[float]] = defaultdict(lambda: [0, 0.0, 0.0])
    for (path, _line, name), (_cc, calls, own, cumulative, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        ours = "site-packages" not in path or name in ("format_currency", "format_date")
        if name in FOCUS and ours:
            key = f"{Path(path).stem}.{name}"
            rows[key][0] += calls
            rows[key][1] += cumulative
            rows[key][2] += own
    for key, (calls, cumulative, own) in sorted(rows.items(), key=lambda kv: -kv[1][1]):
        table.add_row(key, f"{int(calls):,}", f"{cumulative:.3f}", f"{own:.3f}")
    console.print(table)


def main(argv: list[str] | None = None) -> int:
    """Run one instrumented tick and print where its time went."""
    parser = argparse.ArgumentParser(prog="python -m bench.profile_tick")
    parser.add_argument("--enrollments", type=int, default=1_000_000)
    parser.add_argument("--due", type=int, default=10_000)
    parser.add_argument("--cprofile", type=Path, metavar="FILE", help="also cProfile into FILE")
    parser.add_argument("--top", type=int, default=30, help="cProfile functions to print")
    args = parser.parse_args(argv)
    console = Console(width=max(Console().width, 110))
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    shape = tick_data.Shape.of(args.enrollments, args.due)
    base = tick_data.ledger(DATA_DIR, shape, say=console.print)
    work = DATA_DIR / "profile-tick-run"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    rec = Recorder()
    profiler = cProfile.Profile() if args.cprofile else None
    try:
        db = tick_data.copy(base, work / "arseq.db")
        seconds, report = asyncio.run(_tick(db, rec, profiler))
    finally:
        shutil.rmtree(work, ignore_errors=True)

    note = " (under cProfile: Python-side times inflated)" if profiler else ""
    console.print(f"tick on {shape.tag}: {seconds:.2f} s{note}; {report.summary()}")
    table = Table(title="by phase (exclusive times)", title_justify="left")
    for col in ("phase", "calls", "seconds", "share", "of which inside SQLite"):
        table.add_column(col, justify="left" if col == "phase" else "right")
    accounted = 0.0
    for label, ph in sorted(rec.phases.items(), key=lambda kv: -kv[1].seconds):
        accounted += ph.seconds
        table.add_row(
            label, f"{ph.calls:,}", f"{ph.seconds:.3f}", f"{ph.seconds / seconds:.0%}",
            f"{ph.sqlite:.3f}",
        )  # fmt: skip
    rest = seconds - accounted
    table.add_row("engine's own Python (grouping, context, keys) + rest", "", f"{rest:.3f}",
                  f"{rest / seconds:.0%}", "")  # fmt: skip
    table.add_row("total", "", f"{seconds:.3f}", "100%", "")
    console.print(table)
    if profiler and args.cprofile:
        profiler.dump_stats(args.cprofile)
        stats = pstats.Stats(profiler).strip_dirs()
        _focus(pstats.Stats(profiler), console)
        stats.sort_stats("tottime").print_stats(args.top)
        console.print(f"cProfile data in {args.cprofile} (e.g. `python -m pstats {args.cprofile}`)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
