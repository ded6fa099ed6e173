"""The clock backs off after failed passes (the database gone away) and resets when one works."""

from __future__ import annotations

import io
from datetime import timedelta

from sqlalchemy.ext.asyncio import create_async_engine

from bot.clock import BACKOFF_CAP, Clock, engine_config
from bot.settings import load_settings
from sequences.channels import ConsoleChannel
from tests.sequences.engine_helpers import utc

NOW = utc(2026, 2, 10, 10)
EVERY = timedelta(seconds=10)


async def test_failed_passes_back_off_doubling_then_a_good_pass_resets(engine, tmp_path):
    gone = create_async_engine(f"sqlite+aiosqlite:///{tmp_path}/no-schema.db")
    channels = {"email": ConsoleChannel("email", io.StringIO())}
    clock = Clock(gone, channels, engine_config(load_settings()), EVERY, "w")
    try:
        await clock.run_pass(NOW)
        assert clock.failures == 1 and clock.retry_at == NOW + EVERY
        await clock.run_pass(NOW + EVERY / 2)  # backing off: not even tried
        assert clock.failures == 1
        await clock.run_pass(NOW + EVERY)
        assert clock.failures == 2 and clock.retry_at == NOW + 3 * EVERY
        waits = []
        for _ in range(6):  # the wait doubles up to the cap
            at = clock.retry_at
            await clock.run_pass(at)
            waits.append(clock.retry_at - at)
        assert waits == [4 * EVERY] + [BACKOFF_CAP] * 5
        assert clock.last_error and clock.passes == 0
        clock.engine = engine  # the database is back
        await clock.run_pass(clock.retry_at)
        assert clock.passes == 1 and clock.failures == 0 and clock.retry_at is None
        assert clock.last_error is None
    finally:
        await gone.dispose()
