"""The benchmark registry: what a benchmark is, what it gets and what it returns."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = Path(__file__).resolve().parent / "data"
RESULTS_PATH = Path(__file__).resolve().parent / "results.json"

# Modules that define benchmarks, in run order. A new benchmark adds its module here.
MODULES: tuple[str, ...] = (
    "bench.import_bench",
    "bench.tick_bench",
    "bench.apscheduler_bench",
    "bench.kpi_bench",
    "bench.email_bench",
    "bench.telegram_bench",
    "bench.slack_status_bench",
    "bench.worker_bench",
    "bench.worker_kills_bench",
    "bench.demo_bench",
)

Op = Literal[">=", "<="]


@dataclass(frozen=True)
class Result:
    """One measured figure and the target it is held to (`op` says which way)."""

    name: str
    value: float
    unit: str
    target: float
    op: Op
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        """True when the value is on the right side of the target."""
        return self.value >= self.target if self.op == ">=" else self.value <= self.target

    @property
    def ratio(self) -> float:
        """value / target: above 1 is good for `>=`, at most 1 is good for `<=`."""
        return self.value / self.target if self.target else float("inf")

    def as_json(self) -> dict[str, Any]:
        """The results.json form: name, value, unit, target, pass, detail."""
        return {
            "name": self.name,
            "value": round(self.value, 3),
            "unit": self.unit,
            "target": self.target,
            "pass": self.passed,
            "detail": {"op": self.op, **self.detail},
        }


@dataclass(frozen=True)
class Context:
    """What every benchmark gets: quick mode, how many repetitions, where data goes.

    A benchmark that honours `repeat` reports the median time (and worst memory).
    """

    quick: bool = False
    repeat: int = 1
    data_dir: Path = DATA_DIR

    @property
    def scale(self) -> int:
        """Sizes are divided by this (10 with --quick)."""
        return 10 if self.quick else 1

    def size(self, full: int) -> int:
        """A full-run size scaled for this run."""
        return max(1, full // self.scale)


BenchFn = Callable[[Context], list[Result]]


@dataclass(frozen=True)
class Benchmark:
    """A registered benchmark: its name (for --only), a one-line summary and its body."""

    name: str
    summary: str
    run: BenchFn


REGISTRY: dict[str, Benchmark] = {}


def benchmark(name: str, summary: str) -> Callable[[BenchFn], BenchFn]:
    """Register the decorated function as the benchmark `name`."""

    def register(fn: BenchFn) -> BenchFn:
        if name in REGISTRY:
            raise ValueError(f"benchmark {name!r} registered twice")
        REGISTRY[name] = Benchmark(name, summary, fn)
        return fn

    return register


def load_all() -> dict[str, Benchmark]:
    """Import every benchmark module so they register; return the registry."""
    for module in MODULES:
        importlib.import_module(module)
    return REGISTRY
