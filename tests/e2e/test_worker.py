"""`arseq worker` as a real process on SQLite: one writer, SIGTERM, crash, rows released."""

from __future__ import annotations

import asyncio
import shutil
import signal
from datetime import UTC, datetime, timedelta

from aiohttp import ClientSession
from sqlalchemy import select

from storage.db import open_engine
from storage.models import OutboxMessage
from tests.fakes.smtp_sink import SmtpSink
from tests.helpers.due_touches import add_due_emails, keys_seen, outbox_states
from tests.helpers.workers import Worker, Workers, worker_env

TOUCHES = 200


async def _until(condition, limit: float = 60) -> None:
    """Wait until `condition()` holds (a state the processes reach, not a time)."""
    async with asyncio.timeout(limit):
        while not condition():  # noqa: ASYNC110 (the sink has no event to wait on)
            await asyncio.sleep(0.01)


def _refusal(other: Worker) -> str:
    lines = [line for line in other.lines if line.strip()]
    assert len(lines) == 1, other.text
    return lines[0]


async def test_one_worker_per_sqlite_file_then_sigterm_releases_and_exits_0(
    tmp_path, sqlite_template, cli
):
    db = tmp_path / "a.db"
    shutil.copy(sqlite_template, db)
    url = f"sqlite+aiosqlite:///{db}"
    now = datetime.now(UTC) - timedelta(minutes=1)
    async with open_engine(url) as engine:
        await add_due_emails(engine, TOUCHES, now)
    async with SmtpSink(delay=0.005) as sink:
        env = worker_env(url, sink.port, ARSEQ_DISPATCH_LEASE="2s")
        async with Workers(env, tmp_path) as pool:
            first = await (await pool.start()).wait_for()
            await _until(lambda: sink.accepted >= 20)
            sink.gate.clear()  # the sends in flight wait in the sink

            # A second worker, or `arseq run`, on the same file: one line, exit 1.
            second = await pool.start()
            assert await second.finish() == 1
            line = _refusal(second)
            assert (
                line.startswith("arseq: another arseq process (pid ") and "use PostgreSQL" in line
            )
            code, _, err = cli("run", "--http-port", "0", db_url=url)  # in-process: the same lock
            assert code == 1 and err.startswith("arseq: another arseq process (pid ")

            # SIGTERM mid-dispatch: the sends in flight finish, the rest is released, exit 0.
            first.proc.send_signal(signal.SIGTERM)
            await first.wait_for("stopping")
            sink.gate.set()  # the sends in flight end once the worker has been told to stop
            assert await first.finish() == 0
            assert "Traceback" not in first.text and "stopping" in first.text
            async with open_engine(url) as engine:
                states = await outbox_states(engine)
                async with engine.connect() as conn:
                    waiting = (await conn.execute(
                        select(OutboxMessage.claimed_by, OutboxMessage.lease_until,
                               OutboxMessage.attempts).where(OutboxMessage.state == "pending")
                    )).all()  # fmt: skip
            assert "sending" not in states  # nothing left claimed: released or recorded
            assert states["sent"] == sink.accepted and 0 < states["sent"] < TOUCHES
            assert states["sent"] + states["pending"] == TOUCHES
            assert {tuple(row) for row in waiting} == {(None, None, 0)}

            # SIGKILL does not leave the file locked: the next worker starts and finishes.
            killed = await (await pool.start()).wait_for()
            await killed.kill()
            last = await (await pool.start()).wait_for()
            async with open_engine(url) as engine:
                await _until(lambda: sink.accepted >= TOUCHES)
                assert await last.finish(signal.SIGTERM) == 0
                states = await outbox_states(engine)
            seen = keys_seen(m.data for m in sink.received)
            # SIGKILL may land between a send and its record: at most that batch again.
            assert set(seen) == {f"touch:{n}" for n in range(TOUCHES)}
            assert states == {"sent": TOUCHES}
            doubled = sum(n - 1 for n in seen.values())
            assert doubled <= 100, doubled  # at most one batch (DispatchPolicy.batch)


async def test_a_worker_with_a_health_port_answers_healthz(tmp_path, sqlite_template):
    """`--health-port`: /healthz alone, with the database and the clock's last pass."""
    db = tmp_path / "a.db"
    shutil.copy(sqlite_template, db)
    async with Workers(worker_env(f"sqlite+aiosqlite:///{db}", 1), tmp_path) as pool:
        worker = await (await pool.start("worker", "--health-port", "0")).wait_for()
        assert "only /healthz on port" in worker.text
        await worker.passed()  # the first pass starts at once; wait for its end
        status, body = await worker.healthz()
        assert status == 200 and body["status"] == "ok" and body["database"] == "ok"
        assert body["clock"]["last_pass_at"] and body["clock"]["late_seconds"] is None
        async with ClientSession() as session:  # the rest of `arseq run`'s app is not there
            url = f"http://127.0.0.1:{await worker.health_port()}/slack/events"
            async with session.post(url) as response:
                assert response.status == 404
        assert await worker.finish(signal.SIGTERM) == 0
