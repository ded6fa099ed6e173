"""`arseq sequences validate|load`: check definitions, store new versions of them."""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime
from pathlib import Path

from bot.commands.common import ready_engine
from bot.errors import CliError
from bot.settings import Settings
from sequences.definition_loading import check_directory, load_library, overlaps_with
from sequences.definitions import Problem, Sequence
from sequences.store import LoadResult, active_sequences, ensure_library, store_sequences
from sequences.templates import template_dirs_for


def format_problem(problem: Problem) -> str:
    """`FILE:LINE: message (hint: ...)`."""
    hint = f" (hint: {problem.hint})" if problem.hint else ""
    return f"{problem.source or '-'}:{problem.line}: {problem.message}{hint}"


def _report(problems: list[Problem], path: Path, *, stored: bool) -> CliError:
    for problem in problems:
        print(format_problem(problem), file=sys.stderr)
    tail = "; nothing stored" if stored else ""
    return CliError(f"{path}: {len(problems)} problem(s){tail}")


def _definitions(
    path: Path, *, stored: bool, against: list[Sequence] | None = None
) -> list[Sequence]:
    """Every definition at `path` (a file or a folder), or every problem and exit 1
    (overlaps with `against` included)."""
    if not path.exists():
        raise CliError(f"no such file or folder: {path}")
    if path.is_dir() and not [*path.glob("*.yml"), *path.glob("*.yaml")]:
        raise CliError(f"no *.yml or *.yaml files in {path}")
    sequences, problems = check_directory(path, against or ())
    if problems:
        raise _report(sorted(problems, key=_where), path, stored=stored)
    return sequences


def _where(problem: Problem) -> tuple[str, int]:
    return problem.source, problem.line


def validate(path: Path) -> None:
    """Print every problem with its line (exit 1), or how many definitions are fine.

    Needs no database: overlaps are checked against the built-in library, which a new
    install runs (`load` checks against what is stored)."""
    sequences = _definitions(path, stored=False, against=load_library())
    print(f"{len(sequences)} sequence(s) OK")


def load(settings: Settings, path: Path) -> None:
    """Validate, then store a new version of each changed definition; print what happened."""
    sequences = _definitions(path, stored=True)
    for result in asyncio.run(_store(settings, path, sequences)):
        state = "new" if result.changed else "unchanged"
        print(f"{result.name}: version {result.version} ({state})")


async def _store(settings: Settings, path: Path, sequences: list[Sequence]) -> list[LoadResult]:
    now = datetime.now(UTC)
    async with ready_engine(settings) as engine, engine.begin() as conn:
        # As the first tick would: so what runs does not depend on which came first.
        await ensure_library(conn, now=now)
        stored = [s.sequence for s in await active_sequences(conn)]
        if problems := overlaps_with(sequences, stored):
            raise _report(problems, path, stored=True)
        results: list[LoadResult] = []
        for source in dict.fromkeys(s._source for s in sequences):
            results += await store_sequences(
                conn, [s for s in sequences if s._source == source],
                template_dirs=template_dirs_for(Path(source)), actor="cli", now=now,
            )  # fmt: skip
    return results
