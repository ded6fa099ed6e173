"""Engines and sessions: SQLite pragmas for the embedded default, a pool for PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import PoolResetState

SQLITE_BUSY_TIMEOUT_MS = 10_000
SQLITE_CACHE_SIZE = -8_192  # KiB (negative: a size, not a page count)
# In a pooled connection's info: its page cache was enlarged (reset when given back).
ENLARGED_CACHE = "arseq_enlarged_cache"


def is_sqlite(url: str) -> bool:
    """True for any SQLite URL."""
    return make_url(url).get_backend_name() == "sqlite"


def create_engine(url: str, *, echo: bool = False, pool_size: int = 5) -> AsyncEngine:
    """An async engine for `url`, configured for how ARSeq uses that database.

    SQLite: WAL (a CLI command may write beside `arseq run`), foreign keys on,
    a busy timeout, and explicit BEGIN so a transaction really covers every
    statement in it (the driver's implicit transactions skip DDL).
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        # The pool's reset is done by `_configure_sqlite` (only when a transaction is open).
        engine = create_async_engine(
            url, echo=echo, connect_args={"timeout": 30}, pool_reset_on_return=None
        )
        _configure_sqlite(engine)
        return engine
    kwargs: dict[str, Any] = {
        "pool_size": pool_size,
        "max_overflow": pool_size,
        "pool_pre_ping": True,
    }
    return create_async_engine(url, echo=echo, **kwargs)


def _configure_sqlite(engine: AsyncEngine) -> None:
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Take transaction control away from the driver; we emit BEGIN ourselves.
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute(f"PRAGMA cache_size = {SQLITE_CACHE_SIZE}")
        cursor.close()

    @event.listens_for(sync_engine.pool, "reset")
    def _on_reset(dbapi_conn: Any, record: Any, state: PoolResetState) -> None:
        # Each call to the driver is a hop to its thread and back (about 0.2 ms): a
        # connection given back after its commit has nothing to roll back, and only an
        # import's connection has a page cache to shrink back.
        if state.terminate_only or not state.asyncio_safe:
            return
        if dbapi_conn.driver_connection.in_transaction:
            dbapi_conn.rollback()
        if record.info.pop(ENLARGED_CACHE, False):
            dbapi_conn.cursor().execute(f"PRAGMA cache_size = {SQLITE_CACHE_SIZE}")

    @event.listens_for(sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN")


async def enlarge_cache(conn: AsyncConnection, kib: int) -> None:
    """On SQLite, give this connection a page cache of `kib` KiB until the pool gets it back."""
    if conn.dialect.name == "sqlite":
        await conn.exec_driver_sql(f"PRAGMA cache_size = -{kib}")
        (await conn.get_raw_connection()).info[ENLARGED_CACHE] = True


async def take_write_lock(conn: AsyncConnection) -> None:
    """On SQLite, make this transaction the writer now, before it reads anything.

    A deferred SQLite transaction that reads, then writes after another connection
    committed, fails at once on its stale snapshot (SQLITE_BUSY_SNAPSHOT) instead of
    waiting. A write that changes nothing takes the lock (waiting up to the busy
    timeout) while there is still no snapshot to go stale. PostgreSQL needs nothing.
    """
    if conn.dialect.name == "sqlite":
        await conn.exec_driver_sql("UPDATE daily_claims SET id = id WHERE 0")


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions that keep loaded attributes after commit (handlers render after saving)."""
    return async_sessionmaker(engine, expire_on_commit=False)


@asynccontextmanager
async def open_engine(url: str, **kwargs: Any) -> AsyncIterator[AsyncEngine]:
    """An engine that is disposed on exit."""
    engine = create_engine(url, **kwargs)
    try:
        yield engine
    finally:
        await engine.dispose()


def upsert_insert(conn: AsyncConnection) -> Any:
    """The dialect's `insert` (with `on_conflict_do_update` / `_do_nothing`) for `conn`."""
    return postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
