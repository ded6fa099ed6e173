"""The service's clock and HTTP front: passes, /healthz, start and graceful stop."""

from __future__ import annotations

import asyncio
import io
import shutil
from datetime import date, timedelta

from aiohttp import ClientSession
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy.ext.asyncio import create_async_engine

from bot.clock import Clock, engine_config
from bot.runtime import serve
from bot.settings import load_settings
from bot.web import build_app
from sequences.channels import ConsoleChannel
from tests.sequences.engine_helpers import add_customer, add_invoice, outbox, utc

NOW = utc(2026, 2, 10, 10)  # a Tuesday, inside the send window


def _clock(engine, channel: ConsoleChannel, every: timedelta = timedelta(minutes=1)) -> Clock:
    return Clock(engine, {"email": channel}, engine_config(load_settings()), every, "test-worker")


async def test_a_pass_plans_and_sends_what_is_due(engine):
    customer = await add_customer(engine)
    await add_invoice(engine, customer, "INV-1", issued=date(2026, 1, 1), due=date(2026, 2, 3))
    channel = ConsoleChannel("email", io.StringIO())
    clock = _clock(engine, channel)
    await clock.run_pass(NOW)
    assert clock.passes == 1 and clock.last_pass_at == NOW and clock.last_error is None
    [message] = channel.sent
    assert "INV-1" in message.body and message.scheduled_for == NOW
    [row] = await outbox(engine)
    assert row.state == "sent"
    await clock.run_pass(NOW)  # the same instant again: nothing new, nothing doubled
    assert len(channel.sent) == 1 and clock.passes == 2


async def test_a_failing_pass_is_recorded_and_the_clock_goes_on(tmp_path):
    broken = create_async_engine(f"sqlite+aiosqlite:///{tmp_path}/no-schema.db")
    try:
        clock = _clock(broken, ConsoleChannel("email", io.StringIO()))
        await clock.run_pass(NOW)  # no tables: the pass fails, the clock does not
        assert clock.passes == 0 and clock.last_error and "OperationalError" in clock.last_error
    finally:
        await broken.dispose()


async def test_healthz_reports_database_and_clock(engine):
    clock = _clock(engine, ConsoleChannel("email", io.StringIO()))
    async with TestClient(TestServer(build_app(engine, clock))) as client:
        fresh = await client.get("/healthz")
        assert fresh.status == 200
        body = await fresh.json()
        assert body["database"] == "ok" and body["clock"]["last_pass_at"] is None
        await clock.run_pass()
        body = await (await client.get("/healthz")).json()
        assert body["status"] == "ok" and body["clock"]["passes"] == 1
        # A clock whose last pass is long gone is late: reported, with a 503.
        clock.last_pass_at = clock.last_pass_at - timedelta(hours=1)
        late = await client.get("/healthz")
        assert late.status == 503
        assert (await late.json())["clock"]["late_seconds"] >= 3600 - 5 * 60


async def test_healthz_says_when_the_database_is_unreachable(engine):
    # Nothing listens on port 1: the connection is refused at once.
    gone = create_async_engine("postgresql+asyncpg://postgres@127.0.0.1:1/arseq")
    try:
        clock = _clock(engine, ConsoleChannel("email", io.StringIO()))
        async with TestClient(TestServer(build_app(gone, clock))) as client:
            response = await client.get("/healthz")
            assert response.status == 503
            body = await response.json()
            assert body["status"] == "failing" and body["database"].startswith("unreachable")
    finally:
        await gone.dispose()


def test_the_clock_is_late_only_after_several_periods():
    clock = Clock(None, {}, engine_config(load_settings()), timedelta(minutes=1), "w")  # type: ignore[arg-type]
    clock.last_pass_at = NOW
    assert clock.late_by(NOW + timedelta(minutes=5)) is None  # the floor: 5 minutes
    assert clock.late_by(NOW + timedelta(minutes=6)) == timedelta(minutes=1)
    clock.every = timedelta(minutes=10)
    assert clock.late_by(NOW + timedelta(minutes=29)) is None  # three periods


async def test_serve_answers_healthz_then_stops_cleanly_on_request(
    tmp_path, sqlite_template, monkeypatch
):
    db = tmp_path / "a.db"
    shutil.copy(sqlite_template, db)
    monkeypatch.setenv("ARSEQ_DATABASE_URL", f"sqlite+aiosqlite:///{db}")
    settings = load_settings()
    stop = asyncio.Event()
    seen: dict[str, object] = {}

    async def ready(clock: Clock, port: int | None) -> None:
        await clock.idle()  # the first pass starts at once; wait for it, not for time
        async with (
            ClientSession() as session,
            session.get(f"http://127.0.0.1:{port}/healthz") as response,
        ):
            seen["status"], seen["body"] = response.status, await response.json()
        stop.set()

    await asyncio.wait_for(serve(settings, http_port=0, stop=stop, ready=ready), 30)
    assert seen["status"] == 200
    assert seen["body"]["database"] == "ok"  # type: ignore[index]
