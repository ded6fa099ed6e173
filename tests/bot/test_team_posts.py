"""Tasks and escalations reach Slack once, in the right channel, mentioning the right people."""

from __future__ import annotations

import asyncio
from datetime import date

import pytest
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import select, update

from bot.settings import load_settings
from bot.slack.client import slack_client
from bot.slack.pacing import ChannelPacer
from bot.slack.team_posts import TeamPoster
from sequences.disputes import open_dispute
from sequences.engine import tick
from sequences.ledger import add_task
from storage.db import create_engine
from storage.models import Customer, Escalation, Task
from tests.fakes.slack_api import FakeSlackApi
from tests.sequences.engine_helpers import add_customer, add_invoice, utc

TASKS, ESCALATIONS = "C0TASKS01", "C0ESCAL01"
NOW = utc(2026, 2, 10, 10)


@pytest.fixture
def settings(monkeypatch, tmp_path, fake_slack: FakeSlackApi):
    monkeypatch.chdir(tmp_path)
    for name, value in {
        "SLACK_BOT_TOKEN": "xoxb-1-test", "SLACK_SIGNING_SECRET": "s3cret",
        "SLACK_API_URL": fake_slack.base_url, "ARSEQ_TASKS_CHANNEL": TASKS,
        "ARSEQ_ESCALATIONS_CHANNEL": ESCALATIONS, "ARSEQ_MANAGERS": "U0BOSS001,S0MANAGERS",
    }.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    return load_settings()


def _poster(settings, fake: FakeSlackApi) -> TeamPoster:
    return TeamPoster(settings, AsyncWebClient(token="xoxb-1-test", base_url=fake.base_url))


async def _dispute(engine) -> int:
    customer = await add_customer(engine)
    invoice = await add_invoice(engine, customer, "INV-9", issued=date(2026, 1, 1),
                                due=date(2026, 1, 31))  # fmt: skip
    async with engine.begin() as conn:
        await open_dispute(conn, invoice_id=invoice, reason="wrong quantity", actor="telegram",
                           now=NOW)  # fmt: skip
    await tick(engine, now=NOW)
    return customer


async def _chains(engine) -> list:
    async with engine.connect() as conn:
        return list((await conn.execute(select(Escalation.__table__))).all())


async def _tasks(engine) -> list:
    async with engine.connect() as conn:
        return list((await conn.execute(select(Task.__table__).order_by(Task.id))).all())


async def test_a_dispute_reaches_the_escalations_channel_once(engine, settings, fake_slack):
    await _dispute(engine)
    poster = _poster(settings, fake_slack)
    line = await poster.step(engine, NOW, "w1")
    assert line and line.startswith("1 task(s) posted")
    [message] = fake_slack.channel_messages(ESCALATIONS)
    assert "Customer C1" in message.text and "INV-9" in str(message.blocks)
    assert "wrong quantity" in str(message.blocks) and "telegram" in str(message.blocks)
    [chain] = await _chains(engine)
    assert (chain.slack_channel, chain.slack_ts) == (ESCALATIONS, message.ts)
    assert await _tasks(engine) == []  # the dispute is its chain's message, not a task
    assert await poster.step(engine, NOW, "w1") is None  # nothing new: nothing posted again
    assert len(fake_slack.calls_to("chat.postMessage")) == 1


async def test_an_escalation_task_mentions_the_managers(engine, settings, fake_slack):
    customer = await add_customer(engine)
    async with engine.begin() as conn:
        await add_task(conn, kind="escalation", customer_id=customer, now=NOW, key="k1",
                       title="Escalation (managers): Customer C1")  # fmt: skip
    await _poster(settings, fake_slack).step(engine, NOW, "w1")
    [message] = fake_slack.channel_messages(ESCALATIONS)
    assert "<@U0BOSS001>" in message.text and "<!subteam^S0MANAGERS>" in message.text


async def test_a_collector_task_goes_to_the_tasks_channel_and_mentions_its_owner(
    engine, settings, fake_slack
):
    customer = await add_customer(engine)
    async with engine.begin() as conn:
        await add_task(conn, kind="broken_promise", customer_id=customer, now=NOW, key="k1",
                       title="Promise broken: call them", body="promised 2026-02-01")  # fmt: skip
    await _poster(settings, fake_slack).step(engine, NOW, "w1")
    [message] = fake_slack.channel_messages(TASKS)
    assert "<@U0OWNER1>" in message.text and "promised 2026-02-01" in str(message.blocks)
    assert fake_slack.channel_messages(ESCALATIONS) == []


async def test_ledger_text_cannot_ping_the_channel(engine, settings, fake_slack):
    customer = await add_customer(engine)
    async with engine.begin() as conn:
        await conn.execute(update(Customer.__table__).values(name="Acme <!channel>"))
        await add_task(conn, kind="reply", customer_id=customer, now=NOW, key="k1",
                       title="Reply from <!here>")  # fmt: skip
    await _poster(settings, fake_slack).step(engine, NOW, "w1")
    [message] = fake_slack.channel_messages(TASKS)
    assert "<!channel>" not in str(message.blocks) and "<!here>" not in message.text
    assert "&lt;!channel&gt;" in str(message.blocks)


async def test_a_refused_post_is_tried_again_on_the_next_pass(engine, settings, fake_slack):
    await _dispute(engine)
    fake_slack.fail("chat.postMessage", error="channel_not_found")
    poster = _poster(settings, fake_slack)
    line = await poster.step(engine, NOW, "w1")
    assert line == "0 task(s) posted to Slack, 1 not (Slack refused; next pass tries again)"
    [chain] = await _chains(engine)
    assert chain.slack_channel is None and chain.slack_ts is None
    await poster.step(engine, NOW, "w1")
    assert len(fake_slack.channel_messages(ESCALATIONS)) == 1


async def test_two_workers_post_each_task_once(db_url, settings, fake_slack):
    first, second = create_engine(db_url), create_engine(db_url)
    try:
        for n in range(20):
            customer = await add_customer(first, f"C{n}")
            async with first.begin() as conn:
                await add_task(conn, kind="call", customer_id=customer, now=NOW, key=f"k{n}",
                               title=f"Call C{n}")  # fmt: skip
        await asyncio.gather(
            _poster(settings, fake_slack).step(first, NOW, "w1"),
            _poster(settings, fake_slack).step(second, NOW, "w2"),
        )
        titles = sorted(m.text for m in fake_slack.channel_messages(TASKS))
        assert len(titles) == 20 and len(set(titles)) == 20
    finally:
        await first.dispose()
        await second.dispose()


def test_no_poster_without_slack_or_channels(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    for name in ("SLACK_BOT_TOKEN", "ARSEQ_TASKS_CHANNEL", "ARSEQ_ESCALATIONS_CHANNEL"):
        monkeypatch.delenv(name, raising=False)
    assert TeamPoster.from_settings(load_settings()) is None


async def test_a_backlog_is_paced_one_message_a_second_per_channel(engine, settings, fake_slack):
    waits: list[float] = []
    clock = iter(float(n) / 10 for n in range(100))  # posting itself takes 0.1 s each time

    async def sleep(seconds: float) -> None:
        waits.append(round(seconds, 1))

    customer = await add_customer(engine)
    async with engine.begin() as conn:
        for n in range(3):
            await add_task(conn, kind="call", customer_id=customer, now=NOW, key=f"k{n}",
                           title=f"Call {n}")  # fmt: skip
    pacer = ChannelPacer(clock=lambda: next(clock), sleep=sleep)
    fake_slack.fail("chat.postMessage", status=429, retry_after=0)  # honoured, then retried
    poster = TeamPoster(settings, slack_client(settings), pacer)  # the retrying client
    assert await poster.step(engine, NOW, "w1") == "3 task(s) posted to Slack"
    assert len(fake_slack.channel_messages(TASKS)) == 3
    assert waits == [0.9, 0.9]  # the first goes at once; each next one a second after
