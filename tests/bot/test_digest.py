"""The daily digest against the fake Slack Web API, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import io
from datetime import date, time
from zoneinfo import ZoneInfo

import pytest
from PIL import Image
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.slack.aging_chart import aging_chart_png
from bot.slack.digest_blocks import delta, kpi_blocks
from bot.slack.digest_post import finish_chart_uploads, post_daily_digest
from bot.slack.kpi_reply import kpi_reply_blocks
from sequences.digest import claim_digest, digest_day
from sequences.kpi import compute_kpis
from sequences.kpi_report import kpis_data
from storage.db import create_engine
from storage.models import DailyClaim, KpiSnapshot
from tests.fakes.slack_api import FakeSlackApi
from tests.sequences.engine_helpers import utc
from tests.sequences.kpi_example import build_example

CHANNEL = "C0DIGEST1"
DAY = date(2026, 3, 16)
NOW = utc(2026, 3, 16, 9, 5)


def _client(fake: FakeSlackApi) -> AsyncWebClient:
    return AsyncWebClient(
        token="xoxb-test",
        base_url=fake.base_url,
        retry_handlers=[AsyncRateLimitErrorRetryHandler(max_retry_count=2)],
    )


async def _post(engine, fake, *, worker="w1", force=False, day=DAY, now=NOW, later=False):
    return await post_daily_digest(
        engine, _client(fake), channel=CHANNEL, day=day, now=now, worker=worker, force=force,
        chart_later=later,
    )  # fmt: skip


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(io.BytesIO(data)) as image:
        image.load()  # decodes every pixel: a broken PNG raises here
        return image.size


async def test_the_digest_is_posted_once_for_a_day(engine: AsyncEngine, fake_slack) -> None:
    await build_example(engine)

    first = await _post(engine, fake_slack)
    again = await _post(engine, fake_slack, worker="w2")

    assert first.posted and not again.posted
    assert again.reason == "the digest of 2026-03-16 was already posted"
    (message,) = fake_slack.channel_messages(CHANNEL)
    assert message.ts == first.ts
    assert message.blocks[0]["text"]["text"] == "AR digest 2026-03-16"
    text = str(message.blocks)
    assert "3650.00" in text and "73.82 days" in text  # the KPIs as of the day
    assert "▲ 1600.00 vs 30 days ago" in text  # USD AR against the snapshot of 02-14
    # Balances at the end of 03-16: the payment and the credit of 03-20 are added back.
    assert (
        "• Customer C (unassigned): 1000.00 EUR past due, 1 invoice(s), oldest due 2026-03-03\n"
        "• Customer A (<@U0ANNA01>): 850.00 USD past due, 2 invoice(s), oldest due 2026-02-04\n"
        "• Customer B (<@U0BOB001>): 300.00 USD past due, 1 invoice(s), oldest due 2025-12-01"
    ) in message.blocks[-5]["text"]["text"]
    (chart,) = fake_slack.files.values()
    assert chart.channel == CHANNEL and chart.filename == "aging-2026-03-16.png"
    assert _png_size(chart.data) == (600, 520)  # 6 x 2.6 inches per currency at 100 dpi
    async with engine.connect() as conn:
        snapshots = (await conn.execute(select(KpiSnapshot.as_of, KpiSnapshot.currency))).all()
        claim = (await conn.execute(select(DailyClaim.__table__))).one()
    # Today's and the two it compares with, per currency.
    assert sorted(snapshots) == sorted(
        (d, c) for d in (DAY, date(2026, 3, 15), date(2026, 2, 14)) for c in ("EUR", "USD")
    )
    assert (claim.job, claim.day, claim.claimed_by) == ("digest", DAY, "w1")
    assert claim.done_at is not None


async def test_force_posts_another(engine: AsyncEngine, fake_slack) -> None:
    await _post(engine, fake_slack)
    forced = await _post(engine, fake_slack, force=True)

    assert forced.posted
    assert len(fake_slack.channel_messages(CHANNEL)) == 2
    assert not (await _post(engine, fake_slack)).posted


async def test_two_engines_racing_for_the_day_post_once(db_url: str, fake_slack) -> None:
    engines = [create_engine(db_url) for _ in range(2)]
    try:
        await build_example(engines[0])
        outcomes = await asyncio.gather(
            *(_post(e, fake_slack, worker=f"w{n}") for n, e in enumerate(engines))
        )
    finally:
        for e in engines:
            await e.dispose()

    assert sorted(o.posted for o in outcomes) == [False, True]
    assert len(fake_slack.channel_messages(CHANNEL)) == 1
    assert len(fake_slack.files) == 1


async def test_many_claims_at_once_give_exactly_one_winner(db_url: str) -> None:
    engines = [create_engine(db_url) for _ in range(4)]
    try:
        wins = await asyncio.gather(
            *(claim_digest(e, day=DAY, worker=f"w{n}", now=NOW) for n, e in enumerate(engines))
        )
    finally:
        for e in engines:
            await e.dispose()
    assert sorted(wins) == [False, False, False, True]


async def test_a_failed_post_gives_the_day_back(engine: AsyncEngine, fake_slack) -> None:
    fake_slack.fail("chat.postMessage", error="channel_not_found")
    with pytest.raises(SlackApiError):
        await _post(engine, fake_slack)

    retried = await _post(engine, fake_slack)

    assert retried.posted
    assert len(fake_slack.channel_messages(CHANNEL)) == 1


async def test_a_chart_that_fails_is_reported_and_the_day_is_done(
    engine: AsyncEngine, fake_slack
) -> None:
    fake_slack.fail("files.getUploadURLExternal", error="not_allowed_token_type")

    first = await _post(engine, fake_slack)
    again = await _post(engine, fake_slack)

    assert first.posted and first.chart_error == "not_allowed_token_type"
    assert not again.posted  # the message went out: never posted twice for a chart
    assert len(fake_slack.channel_messages(CHANNEL)) == 1 and not fake_slack.files


async def test_the_clock_does_not_wait_for_the_chart_and_a_stop_waits_for_it(
    engine: AsyncEngine, fake_slack
) -> None:
    await build_example(engine)
    outcome = await _post(engine, fake_slack, later=True)
    assert outcome.posted and outcome.chart_later
    assert len(fake_slack.channel_messages(CHANNEL)) == 1 and not fake_slack.files  # drawing
    await finish_chart_uploads()
    (chart,) = fake_slack.files.values()
    assert _png_size(chart.data) == (600, 520)


async def test_a_chart_uploaded_later_that_fails_is_logged_and_the_day_is_done(
    engine: AsyncEngine, fake_slack, caplog: pytest.LogCaptureFixture
) -> None:
    fake_slack.fail("files.getUploadURLExternal", error="not_allowed_token_type")
    assert (await _post(engine, fake_slack, later=True)).posted
    await finish_chart_uploads()
    assert "chart of 2026-03-16 was not uploaded: not_allowed_token_type" in caplog.text
    assert not (await _post(engine, fake_slack)).posted and not fake_slack.files


async def test_a_rate_limited_post_waits_and_succeeds(engine: AsyncEngine, fake_slack) -> None:
    fake_slack.fail("chat.postMessage", status=429, retry_after=0)

    assert (await _post(engine, fake_slack)).posted
    assert len(fake_slack.calls_to("chat.postMessage")) == 2


async def test_a_stale_claim_of_a_dead_worker_is_taken_over(engine: AsyncEngine) -> None:
    assert await claim_digest(engine, day=DAY, worker="dead", now=utc(2026, 3, 16, 9))
    assert not await claim_digest(engine, day=DAY, worker="w2", now=utc(2026, 3, 16, 9, 30))
    assert await claim_digest(engine, day=DAY, worker="w2", now=utc(2026, 3, 16, 10, 30))


def test_the_digest_is_due_once_the_local_time_has_passed() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    assert digest_day(utc(2026, 3, 16, 7, 59), berlin, time(9)) is None
    assert digest_day(utc(2026, 3, 16, 8, 0), berlin, time(9)) == DAY
    # 00:30 the next local day: that day's digest is not due yet.
    assert digest_day(utc(2026, 3, 16, 23, 30), berlin, time(9)) is None


def test_deltas_have_arrows() -> None:
    assert (delta("10.00", "7.50"), delta("7.50", "10.00")) == ("▲ 2.50", "▼ 2.50")
    assert (delta("1.00", "1.00"), delta(None, "1.00"), delta("1.00", None)) == (
        "= 0.00", "–", "–",
    )  # fmt: skip


def test_an_empty_chart_is_still_a_png() -> None:
    assert _png_size(aging_chart_png("2026-03-16", {})) == (600, 260)


async def test_ar_kpi_blocks_show_the_same_numbers(engine: AsyncEngine) -> None:
    await build_example(engine)
    async with engine.connect() as conn:
        report = kpis_data(await compute_kpis(conn, as_of=date(2026, 3, 15)))

    text = str(kpi_blocks(report))
    assert str(await kpi_reply_blocks(engine, as_of=date(2026, 3, 15))) == text

    for figure in ("3650.00", "1150.00", "73.82 days", "54.16 days", "23.26 days", "37.84%",
                   "1000.00", "75.00 days"):  # fmt: skip
        assert figure in text
    assert "vs yesterday" not in text
    assert "no invoices" in str(kpi_blocks({"as_of": "2026-03-15", "currencies": {},
                                            "reason": "no invoices ..."}))  # fmt: skip
