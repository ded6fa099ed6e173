"""Alembic migrations, run from code (`arseq db upgrade`) against an async engine."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(url: str | None = None) -> Config:
    """An Alembic config pointing at our migrations (no alembic.ini needed)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if url:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def _upgrade(connection: Connection, cfg: Config, revision: str) -> None:
    cfg.attributes["connection"] = connection
    command.upgrade(cfg, revision)


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    """Apply migrations up to `revision`; a database already there is left as it is."""
    cfg = alembic_config()
    async with engine.begin() as conn:
        await conn.run_sync(_upgrade, cfg, revision)


def _current(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


async def current_revision(engine: AsyncEngine) -> str | None:
    """The revision the database is at, or None for an empty database."""
    async with engine.connect() as conn:
        return await conn.run_sync(_current)


def head_revision() -> str | None:
    """The newest revision our migrations define."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


class SchemaNotReady(Exception):
    """The database is empty or behind the code's migrations."""


async def require_current_schema(engine: AsyncEngine) -> None:
    """Raise SchemaNotReady, saying what to run, unless the database is at head."""
    current = await current_revision(engine)
    head = head_revision()
    if current is None:
        raise SchemaNotReady("the database has no ARSeq tables yet: run `arseq db upgrade`")
    if current != head:
        raise SchemaNotReady(
            f"the database is at revision {current}, this version needs {head}: "
            "run `arseq db upgrade`"
        )
