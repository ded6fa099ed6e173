"""`arseq import KIND FILE`: bulk import with a progress bar and a one-line summary."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from bot.commands.common import is_terminal, ready_engine
from bot.errors import CliError
from bot.settings import Settings
from storage.importers import ImportFileError, import_csv


def import_file(settings: Settings, kind: str, path: Path, *, dry_run: bool) -> None:
    """Import `path`; print every bad row and fail (exit 1) if there is any."""
    if not path.is_file():
        raise CliError(f"no such file: {path}")
    asyncio.run(_import(settings, kind, path, size=path.stat().st_size or 1, dry_run=dry_run))


async def _import(settings: Settings, kind: str, path: Path, *, size: int, dry_run: bool) -> None:
    async with ready_engine(settings) as engine:
        progress = Progress(
            TextColumn(f"importing {kind}"),
            BarColumn(),
            TextColumn("{task.fields[rows]:,} rows"),
            TimeRemainingColumn(),
            transient=True,
            disable=not is_terminal(),
        )
        with progress:
            task = progress.add_task(kind, total=size, rows=0)

            def advance(chars: int, rows: int) -> None:
                progress.update(task, completed=min(chars, size), rows=rows)

            try:
                report = await import_csv(
                    engine, kind, path, dry_run=dry_run, actor="cli", progress=advance
                )
            except ImportFileError as exc:
                raise CliError(str(exc)) from None
    for error in report.errors:
        print(f"{path.name}: {error}", file=sys.stderr)
    for number, credit, currency in report.overpayments:
        print(
            f"overpayment: invoice {number} overpaid by {credit:.2f} {currency}, kept as a credit"
        )
    if not report.ok:
        raise CliError(report.summary())
    print(report.summary())
