"""The SQLite pool: a connection comes back clean, without a driver call it does not need."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from storage.db import SQLITE_CACHE_SIZE, enlarge_cache, open_engine


async def _cache_size(conn) -> int:
    return (await conn.exec_driver_sql("PRAGMA cache_size")).scalar_one()


async def test_a_connection_comes_back_from_the_pool_outside_any_transaction(tmp_path: Path):
    async with open_engine(f"sqlite+aiosqlite:///{tmp_path / 'a.db'}", pool_size=1) as engine:
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE t (x INTEGER)"))
        with pytest.raises(RuntimeError):
            async with engine.begin() as conn:
                await conn.execute(text("INSERT INTO t VALUES (1)"))
                raise RuntimeError("a failure halfway")
        async with engine.connect() as conn:  # reads only: given back without a commit
            await conn.execute(text("SELECT count(*) FROM t"))
        async with engine.connect() as conn:
            raw = await conn.get_raw_connection()
            assert not raw.driver_connection.in_transaction
            assert (await conn.execute(text("SELECT count(*) FROM t"))).scalar_one() == 0
            await conn.execute(text("INSERT INTO t VALUES (2)"))
            await conn.commit()
        async with engine.connect() as conn:
            assert (await conn.execute(text("SELECT x FROM t"))).scalars().all() == [2]


async def test_an_enlarged_page_cache_is_shrunk_when_the_pool_gets_it_back(tmp_path: Path):
    async with open_engine(f"sqlite+aiosqlite:///{tmp_path / 'a.db'}", pool_size=1) as engine:
        async with engine.begin() as conn:
            await enlarge_cache(conn, 65_536)
            assert await _cache_size(conn) == -65_536
        async with engine.connect() as conn:
            assert await _cache_size(conn) == SQLITE_CACHE_SIZE
