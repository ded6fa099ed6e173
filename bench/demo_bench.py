"""Demo benchmark: `arseq demo --days 60` as a newcomer runs it, wall time to the summary.

The installed script in a child process, its own temporary folder; `--quick` plays 6
days. `demo_seconds` is held to the issue's promise (60 days in under 60 seconds; the
quick run to the same bound, its start-up and opening backlog weigh most); its detail
has the child's CPU seconds and the demo's own breakdown (summary.json `timings`).
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.registry import ROOT, Context, Result, benchmark

DAYS = 60
TARGET_S = 60.0


def _child_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@benchmark("demo", "arseq demo --days 60 (6 with --quick): wall seconds to the summary")
def demo_bench(ctx: Context) -> list[Result]:
    days = ctx.size(DAYS)
    with tempfile.TemporaryDirectory(prefix="arseq-demo-bench-") as folder:
        script = Path(sys.executable).with_name("arseq")
        cpu, start = _child_cpu(), time.perf_counter()
        done = subprocess.run(
            [str(script), "demo", "--days", str(days), "--seed", "7", "--db", f"{folder}/demo.db"],
            capture_output=True, text=True, cwd=ROOT, timeout=1800,
        )  # fmt: skip
        seconds, cpu = time.perf_counter() - start, _child_cpu() - cpu
        if done.returncode != 0:
            raise RuntimeError(f"arseq demo failed: {done.stderr[-500:]}")
        summary = json.loads((Path(folder) / "summary.json").read_text())
    detail = {"days": days, "cpu_s": round(cpu, 1), "timings_s": summary["timings"],
              "messages": summary["messages"]}  # fmt: skip
    return [Result("demo_seconds", seconds, "s", TARGET_S, "<=", detail)]
