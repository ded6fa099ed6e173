"""The email channel's pool: the sends of a batch overlap, each on a reused connection."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from sequences.dispatch import DispatchPolicy, dispatch_once
from tests.bot.email_helpers import NOW, channel_for, ledger, queue
from tests.fakes.smtp_sink import SmtpSink


@pytest.fixture
async def sink() -> AsyncIterator[SmtpSink]:
    async with SmtpSink() as server:
        yield server


async def test_the_sends_of_a_batch_overlap_on_the_pool(engine, sink):
    ids = await ledger(engine)
    for n in range(12):
        await queue(engine, ids, key=f"touch:p{n}")
    email = channel_for(sink, engine, connections=4)
    sink.gate.clear()  # the sink answers no DATA until told
    batch = asyncio.create_task(
        dispatch_once(engine, {"email": email}, now=NOW, worker="w", policy=DispatchPolicy())
    )
    async with asyncio.timeout(30):
        while sink.open_connections < 4:  # noqa: ASYNC110 (the sink has no event for it)
            await asyncio.sleep(0.01)
    assert sink.accepted == 0 and not batch.done()  # four messages in flight at once
    sink.gate.set()
    report = await batch
    await email.aclose()
    assert report.sent == 12 and sink.connections == 4  # each connection reused
    assert len({m.parsed()["Message-ID"] for m in sink.received}) == 12


async def test_one_message_at_a_time_keeps_one_connection(engine, sink):
    ids = await ledger(engine)
    email = channel_for(sink, engine, connections=4)
    for n in range(3):
        await queue(engine, ids, key=f"touch:s{n}")
        report = await dispatch_once(engine, {"email": email}, now=NOW, worker="w")
        assert report.sent == 1
    await email.aclose()
    assert sink.connections == 1  # the pool hands back the connection used last
