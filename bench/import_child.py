"""Child side of the import benchmark: import one CSV into an existing database.

`python -m bench.import_child KIND DB CSV` prints {seconds, rows, inserted, updated,
errors, error_count, rss_start_mb, peak_rss_mb} as JSON (peaks in MiB, from VmHWM; the
first is the peak before the import starts). Run in a fresh interpreter so the peak
RSS is the importer's, not the harness's.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from typing import Any

from bench.proc import emit, peak_rss_mb
from storage.db import open_engine
from storage.importers import import_csv


async def run(kind: str, db: Path, csv_path: Path) -> dict[str, Any]:
    """Import `csv_path` as `kind` into the SQLite file `db`; return the figures."""
    rss_start = peak_rss_mb()
    async with open_engine(f"sqlite+aiosqlite:///{db}") as engine:
        started = time.perf_counter()
        report = await import_csv(engine, kind, csv_path, actor="bench")
        seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "rows": report.rows,
        "inserted": report.inserted,
        "updated": report.updated,
        "errors": [str(e) for e in report.errors[:5]],
        "error_count": len(report.errors),
        "rss_start_mb": rss_start,
        "peak_rss_mb": peak_rss_mb(),
    }


def main(argv: list[str]) -> int:
    """Entry point: KIND DB CSV."""
    if len(argv) != 3:
        print("usage: python -m bench.import_child KIND DB CSV", file=sys.stderr)
        return 2
    kind, db, csv_path = argv
    emit(asyncio.run(run(kind, Path(db), Path(csv_path))))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
