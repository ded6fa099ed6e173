"""PostgreSQL restarted under a running `arseq worker`: it logs, backs off, reconnects, goes on.

In CI (CI=true, `pg_ctlcluster` installed) the test restarts the server the suite uses
with `pg_ctlcluster --skip-systemctl-redirect <version> main restart`; elsewhere it runs
only when ARSEQ_TEST_PG_RESTART holds a shell command that restarts the server of
ARSEQ_TEST_POSTGRES_URL (e.g. a private one), and is skipped otherwise. It returns only
once the server accepts connections again, so the tests after it find it up.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from storage.db import open_engine
from storage.models import Event, OutboxMessage
from tests.fakes.smtp_sink import SmtpSink
from tests.helpers.due_touches import add_due_emails, keys_seen, outbox_states
from tests.helpers.workers import Workers, worker_env

TOUCHES = 2_000
RESTART_ENV = "ARSEQ_TEST_PG_RESTART"


def _restart_command() -> str:
    """The shell command that restarts the test server, or skip with the reason."""
    if os.environ.get(RESTART_ENV):
        return os.environ[RESTART_ENV]
    if os.environ.get("CI") and shutil.which("pg_ctlcluster") and Path("/etc/postgresql").is_dir():
        [version] = os.listdir("/etc/postgresql")
        return f"pg_ctlcluster --skip-systemctl-redirect {version} main restart"
    pytest.skip(
        f"restarting PostgreSQL needs CI (CI=true and pg_ctlcluster) or {RESTART_ENV} set "
        "to a command that restarts the server of ARSEQ_TEST_POSTGRES_URL"
    )


async def _server_back(url: str) -> None:
    """Wait until pg_isready says the server accepts connections."""
    parsed = make_url(url)
    host, port = parsed.host or "127.0.0.1", str(parsed.port or 5432)
    async with asyncio.timeout(60):
        while True:
            ready = await asyncio.create_subprocess_exec(
                "pg_isready", "-q", "-h", host, "-p", port,
            )  # fmt: skip
            if await ready.wait() == 0:
                return
            await asyncio.sleep(0.2)


async def _until(condition, limit: float = 120) -> None:
    async with asyncio.timeout(limit):
        while not condition():  # noqa: ASYNC110 (the sink has no event to wait on)
            await asyncio.sleep(0.02)


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
async def test_a_worker_survives_postgresql_restarting_under_it(db_url, tmp_path):
    command = _restart_command()
    now = datetime.now(UTC) - timedelta(minutes=1)
    async with open_engine(db_url) as engine:
        await add_due_emails(engine, TOUCHES, now)
    async with SmtpSink(delay=0.005) as sink:
        env = worker_env(db_url, sink.port, ARSEQ_DISPATCH_LEASE="2s")
        async with Workers(env, tmp_path) as pool:
            worker = await (await pool.start()).wait_for()
            await _until(lambda: sink.accepted >= TOUCHES // 5)
            restart = await asyncio.create_subprocess_shell(command)
            try:
                assert await restart.wait() == 0
            finally:
                await _server_back(db_url)  # whatever happened, the suite needs its server
            async with open_engine(db_url) as engine:
                async with asyncio.timeout(120):
                    while (await outbox_states(engine)).get("sent", 0) < TOUCHES:  # noqa: ASYNC110
                        await asyncio.sleep(0.2)  # polling the database
                assert await worker.finish(signal.SIGTERM) == 0
                states = await outbox_states(engine)
                async with engine.connect() as conn:
                    per_row = await conn.execute(
                        select(Event.outbox_id, func.count())
                        .where(Event.kind == "message_sent")
                        .group_by(Event.outbox_id)
                    )
                    events = dict(per_row.all())
                    unsent_ids = await conn.scalar(
                        select(func.count()).where(OutboxMessage.provider_message_id.is_(None))
                    )
    log = worker.text
    assert "scheduler pass failed" in log and "worked again" in log, log[-3000:]
    assert "Traceback" not in log.split("worked again")[-1]  # quiet once it is back
    seen = keys_seen(m.data for m in sink.received)
    assert set(seen) == {f"touch:{n}" for n in range(TOUCHES)}  # nothing lost
    assert states == {"sent": TOUCHES} and unsent_ids == 0
    # Nothing half-written: each row recorded sent once, with its one event.
    assert len(events) == TOUCHES and set(events.values()) == {1}
    doubled = sum(n - 1 for n in seen.values())
    print(f"\nPostgreSQL restarted: {TOUCHES} touches, {doubled} sent twice")
    assert doubled <= 100  # at most the batch whose record the outage cut off
