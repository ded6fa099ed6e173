"""Shared fixtures: one database per test, on SQLite and (when configured) PostgreSQL.

Tests that take `engine` or `db_url` run once per backend. PostgreSQL needs
ARSEQ_TEST_POSTGRES_URL (`.ci/run` sets it); elsewhere those runs are skipped with
the reason shown, and in CI (CI=true) a missing URL is an error instead.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.db import create_engine
from storage.migrate import upgrade
from storage.models import Base
from tests.fakes.slack_api import FakeSlackApi

PG_ENV = "ARSEQ_TEST_POSTGRES_URL"
SHARED = Path(__file__).resolve().parents[2] / "shared"
TESTDATA = SHARED / "testdata"


def _run(coro: object) -> object:
    return asyncio.run(coro)  # type: ignore[arg-type]


async def _migrate(url: str) -> None:
    engine = create_engine(url)
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()


def postgres_base_url() -> str:
    """The server to test against; skips (or, in CI, fails) when none is configured."""
    base = os.environ.get(PG_ENV)
    if not base:
        if os.environ.get("CI"):
            pytest.fail(f"{PG_ENV} is not set: PostgreSQL tests must run in CI")
        pytest.skip(
            f"PostgreSQL tests skipped: set {PG_ENV} "
            "(e.g. postgresql+asyncpg://postgres@127.0.0.1:5432/test)"
        )
    return base


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied for each test (faster than migrating each time)."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    _run(_migrate(f"sqlite+aiosqlite:///{path}"))
    return path


async def _admin(url: str, statement: str) -> None:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text(statement))
    finally:
        await engine.dispose()


@contextmanager
def fresh_postgres_database(prefix: str) -> Iterator[str]:
    """A new, migrated PostgreSQL database named `prefix_<random>`, dropped at the end."""
    base = postgres_base_url()
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    _run(_admin(base, f'CREATE DATABASE "{name}"'))
    url = make_url(base).set(database=name).render_as_string(hide_password=False)
    try:
        _run(_migrate(url))
        yield url
    finally:
        _run(_admin(base, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """A fresh, migrated PostgreSQL database for this test session, dropped at the end."""
    with fresh_postgres_database("arseq_test") as url:
        yield url


async def _empty(url: str) -> None:
    # DELETE, children first, in one transaction: many times faster than TRUNCATE on
    # small tables. Ids are not reset, so tests never assume them.
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            for table in reversed(Base.metadata.sorted_tables):
                await conn.execute(table.delete())
    finally:
        await engine.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database URL with the current schema and no rows, per backend."""
    if request.param == "sqlite":
        path = tmp_path / "arseq.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite+aiosqlite:///{path}"
    url: str = request.getfixturevalue("postgres_database")
    _run(_empty(url))
    return url


@pytest.fixture
async def engine(db_url: str) -> AsyncIterator[AsyncEngine]:
    """An async engine on an empty, migrated database (SQLite and PostgreSQL)."""
    eng = create_engine(db_url)
    try:
        yield eng
    finally:
        await eng.dispose()


@pytest.fixture
def testdata() -> Path:
    """The shared external test data (read only)."""
    if not TESTDATA.is_dir():
        pytest.skip(f"shared test data not found at {TESTDATA}")
    return TESTDATA


@pytest.fixture(params=["sqlite", "postgres"])
def empty_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database with no tables at all, per backend (for migration tests)."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"
        return
    base = postgres_base_url()
    name = f"arseq_empty_{uuid.uuid4().hex[:10]}"
    _run(_admin(base, f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(base).set(database=name).render_as_string(hide_password=False)
    finally:
        _run(_admin(base, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
async def fake_slack() -> AsyncIterator[FakeSlackApi]:
    """A fake Slack Web API on a free loopback port (tests/fakes/slack_api.py)."""
    async with FakeSlackApi() as fake:
        yield fake
