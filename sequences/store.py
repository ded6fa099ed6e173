"""Sequence definitions in the database: versions, the active set, the built-in library.

`arseq sequences load` stores a new version only when a definition changed; running
enrollments keep pointing at the version they started with.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from sequences.definition_loading import load_library, sequence_to_yaml
from sequences.definitions import Sequence
from sequences.templates import LIBRARY_TEMPLATES
from storage.models import Sequence as SequenceRow


@dataclass(frozen=True)
class Stored:
    """A stored version: its row id, the definition, and where its templates are."""

    id: int
    version: int
    sequence: Sequence
    template_dirs: tuple[Path, ...]
    created_at: datetime


@dataclass(frozen=True)
class LoadResult:
    """What storing one definition did."""

    name: str
    version: int
    changed: bool


def _definition(sequence: Sequence, template_dirs: tuple[Path, ...]) -> dict[str, Any]:
    data = sequence.model_dump(mode="json", by_alias=True)
    data["template_dirs"] = [str(d) for d in template_dirs]
    return data


def from_row(row: Any) -> Stored:
    """A stored row back as a Sequence (with its template folders)."""
    data = dict(row.definition)
    dirs = tuple(Path(d) for d in data.pop("template_dirs", [])) or (LIBRARY_TEMPLATES,)
    return Stored(row.id, row.version, Sequence.model_validate(data), dirs, row.created_at)


async def store_sequences(
    conn: AsyncConnection,
    sequences: list[Sequence],
    *,
    template_dirs: tuple[Path, ...],
    actor: str | None,
    now: datetime,
) -> list[LoadResult]:
    """Store each definition as a new version if it differs from the latest one."""
    s = SequenceRow.__table__
    results = []
    for sequence in sequences:
        latest = (
            await conn.execute(
                select(s).where(s.c.name == sequence.name).order_by(s.c.version.desc()).limit(1)
            )
        ).first()
        definition = _definition(sequence, template_dirs)
        if latest is not None and latest.definition == definition:
            results.append(LoadResult(sequence.name, latest.version, changed=False))
            continue
        version = 1 if latest is None else latest.version + 1
        # New enrollments take the newest version; running ones keep theirs.
        await conn.execute(update(s).where(s.c.name == sequence.name).values(active=False))
        await conn.execute(
            insert(s).values(
                name=sequence.name, version=version, kind=str(sequence.kind),
                trigger=str(sequence.trigger), definition=definition,
                source=sequence_to_yaml(sequence), active=sequence.active, created_by=actor,
                created_at=now,
            )
        )  # fmt: skip
        results.append(LoadResult(sequence.name, version, changed=True))
    return results


async def ensure_library(conn: AsyncConnection, *, now: datetime) -> list[LoadResult]:
    """A new install runs the built-in sequences: store them if nothing is stored yet."""
    count = await conn.scalar(select(func.count()).select_from(SequenceRow.__table__))
    if count:
        return []
    return await store_sequences(
        conn, load_library(), template_dirs=(LIBRARY_TEMPLATES,), actor="arseq", now=now
    )


async def active_sequences(conn: AsyncConnection) -> list[Stored]:
    """The newest version of every active sequence."""
    s = SequenceRow.__table__
    rows = (await conn.execute(select(s).where(s.c.active.is_(True)).order_by(s.c.name))).all()
    return [from_row(row) for row in rows]


async def stored_by_id(conn: AsyncConnection, ids: set[int]) -> dict[int, Stored]:
    """Stored versions by row id (the versions running enrollments point at)."""
    s = SequenceRow.__table__
    rows = (await conn.execute(select(s).where(s.c.id.in_(ids)))).all() if ids else []
    return {row.id: from_row(row) for row in rows}


async def stored_by_name(conn: AsyncConnection, name: str) -> Stored | None:
    """The newest version of a sequence by name."""
    s = SequenceRow.__table__
    row = (
        await conn.execute(select(s).where(s.c.name == name).order_by(s.c.version.desc()).limit(1))
    ).first()
    return from_row(row) if row is not None else None
