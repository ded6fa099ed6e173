"""Running a measurement in a fresh child interpreter, and reading peak memory.

A child process gives a clean peak-RSS figure: nothing the parent allocated (generated
data, earlier benchmarks) is counted. The child prints one JSON object as its last
line of stdout; everything else it prints is passed through for the log.

Peak RSS is read from `VmHWM` in /proc/self/status, not from `ru_maxrss`: on Linux
`ru_maxrss` survives exec, so a child started from a big parent reports the parent's
size at fork time. The parent also samples the child's RSS with psutil as a check.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.registry import ROOT

SAMPLE_EVERY_S = 0.02


def peak_rss_mb() -> float:
    """This process's peak resident set size so far, in MiB."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 2**10  # kB
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Not Linux: macOS reports bytes (and no inherited maximum), others KiB.
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


def emit(payload: dict[str, Any]) -> None:
    """Child side: hand the result to the parent (the last stdout line)."""
    print(json.dumps(payload), flush=True)


def _sample_peak(proc: subprocess.Popen[str]) -> float | None:
    """Poll the child's RSS until it exits; the largest value seen, in MiB."""
    try:
        import psutil
    except ImportError:
        proc.wait()
        return None
    peak = 0
    try:
        child = psutil.Process(proc.pid)
        while proc.poll() is None:
            peak = max(peak, child.memory_info().rss)
            time.sleep(SAMPLE_EVERY_S)
    except psutil.Error:
        pass  # it exited between two samples
    proc.wait()
    return peak / 2**20


def run_child(module: str, *args: str) -> dict[str, Any]:
    """Run `python -m module args...` from the project root; return its JSON result.

    The result gains `sampled_peak_rss_mb`: the parent's own psutil reading of the
    child's largest RSS (None without psutil), to cross-check the child's figure.
    Output goes to temporary files, so a chatty child can never block on a full pipe.
    """
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", module, *args], cwd=ROOT, stdout=out, stderr=err, text=True
        )
        sampled = _sample_peak(proc)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read().strip()
    if proc.returncode != 0:
        raise RuntimeError(f"child {module} exited with {proc.returncode}:\n{stderr}")
    lines = stdout.strip().splitlines()
    if not lines:
        raise RuntimeError(f"child {module} printed no result; stderr:\n{stderr}")
    for line in lines[:-1]:
        print(line)
    result: dict[str, Any] = json.loads(lines[-1])
    result["sampled_peak_rss_mb"] = sampled
    return result
