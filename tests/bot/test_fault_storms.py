"""Fault storms from the fake providers: everything is delivered once, on the retry schedule.

SMTP 421/451 (greetings, MAIL and DATA), Telegram 429 and 5xx, Slack 429 bursts. Time
is a parameter: dispatch runs at `now`, and `now` jumps to the next row that is due, so
the backoff is checked against the audit trail, not waited for.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from itertools import pairwise

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.email import EmailChannel
from bot.settings import SmtpTls, load_settings
from bot.slack.client import slack_client
from bot.slack.pacing import ChannelPacer
from bot.slack.team_posts import TeamPoster
from bot.telegram.channel import TelegramChannel
from bot.telegram.limits import SendLimiter
from bot.telegram.mount import make_bot
from sequences.channels import Channel
from sequences.dispatch import DispatchPolicy, dispatch_once
from sequences.ledger import add_task
from storage.models import Event, OutboxMessage
from tests.fakes.slack_api import FakeSlackApi
from tests.fakes.smtp_sink import SmtpSink
from tests.fakes.telegram_api import FakeTelegramApi
from tests.helpers.due_touches import add_due_emails, chat_id, keys_seen
from tests.sequences.engine_helpers import add_customer, utc

NOW = utc(2026, 2, 10, 10)
POLICY = DispatchPolicy(batch=25)
TOKEN = "123456:TEST-token-abcdefghijklmnop"


async def _dispatch_until_done(
    engine: AsyncEngine, channels: dict[str, Channel], on_time=None
) -> datetime:
    """Dispatch at `now`, then jump `now` to the next due row, until none is left."""
    now = NOW
    o = OutboxMessage.__table__
    for _ in range(200):
        if on_time is not None:
            on_time(now)
        while (await dispatch_once(engine, channels, now=now, worker="w", policy=POLICY)).claimed:
            pass
        async with engine.connect() as conn:
            due = await conn.scalar(
                select(func.min(o.c.next_attempt_at)).where(o.c.state == "pending")
            )
        if due is None:
            return now
        assert due > now  # nothing due was left behind
        now = due
    raise AssertionError("the storm never ended")


async def _schedule(engine: AsyncEngine) -> dict[int, list]:
    """Each row's events in order: (at, kind, wait_s, attempt, reason)."""
    async with engine.connect() as conn:
        found = await conn.execute(
            select(Event.outbox_id, Event.at, Event.kind, Event.data, Event.reason)
            .where(Event.outbox_id.is_not(None))
            .order_by(Event.id)
        )
        trail: dict[int, list] = defaultdict(list)
        for row in found:
            data = row.data or {}
            trail[row.outbox_id].append(
                (row.at, row.kind, data.get("wait_s"), data.get("attempt"), row.reason or "")
            )
        return trail


def _check_schedule(trail: dict[int, list], retry_after: dict[str, float]) -> int:
    """Every retry waited the policy's backoff (or the provider's Retry-After, if later),
    and the next attempt came no earlier; each row ends sent, once. The retries counted."""
    retries = 0
    for events in trail.values():
        kinds = [kind for _, kind, *_ in events]
        assert kinds.count("message_sent") == 1 and kinds[-1] == "message_sent", kinds
        for (at, kind, wait_s, attempt, reason), later in pairwise(events):
            if kind != "message_retry":
                continue
            retries += 1
            hint = next((s for code, s in retry_after.items() if code in reason), None)
            assert wait_s == POLICY.backoff(attempt, hint).total_seconds(), (reason, attempt)
            assert later[0] >= at + timedelta(seconds=wait_s)  # never tried early
    return retries


@pytest.fixture
async def sink() -> AsyncIterator[SmtpSink]:
    async with SmtpSink() as server:
        yield server


async def test_an_smtp_storm_of_421_and_451_delivers_each_email_once(engine, sink):
    count = 60
    await add_due_emails(engine, count, NOW)
    sink.reject_connections(3)  # 421 greetings
    sink.fail_next(10, "421 4.7.0 too many messages, slow down", at="MAIL")
    sink.fail_next(25, "451 4.3.0 mailbox busy, try again", at="DATA")
    sink.fail_next(5, "451 4.4.1 try later", at="RCPT")
    email = EmailChannel(engine, host="127.0.0.1", port=sink.port, tls=SmtpTls.NONE,
                         sender="ar@acme.test", public_url="https://arseq.acme.test")  # fmt: skip
    try:
        await _dispatch_until_done(engine, {"email": email})
    finally:
        await email.aclose()
    seen = keys_seen(m.data for m in sink.received)
    assert seen == Counter({f"touch:{n}": 1 for n in range(count)})
    retries = _check_schedule(await _schedule(engine), {})
    assert retries == 3 + 10 + 25 + 5  # each fault cost one retry, none was lost


class FakeClock:
    """The limiter's clock, moved with `now`."""

    def __init__(self) -> None:
        self.value = 0.0

    def __call__(self) -> float:
        return self.value

    def follow(self, now: datetime) -> None:
        self.value = (now - NOW).total_seconds()


async def test_a_telegram_storm_of_429_and_5xx_delivers_each_reminder_once(engine):
    count = 40
    await add_due_emails(engine, count, NOW, channel="telegram")
    clock = FakeClock()
    async with FakeTelegramApi() as fake:
        for _ in range(12):
            fake.fail("sendMessage", 429, retry_after=300)
        for status, text in [(502, "Bad Gateway")] * 6 + [(500, "Internal Server Error")] * 4:
            fake.fail("sendMessage", status, text)
        bot = make_bot(TOKEN, fake.base_url)
        limiter = SendLimiter(overall=10_000.0, clock=clock)  # the per-chat holds still apply
        channel = TelegramChannel(bot, engine, limiter=limiter)
        try:
            await _dispatch_until_done(engine, {"telegram": channel}, on_time=clock.follow)
        finally:
            await bot.session.close()
        per_chat = Counter(m.chat_id for m in fake.sent)
    assert per_chat == Counter({chat_id(n): 1 for n in range(count)})
    # A 429's retry_after (300 s) outweighs the first backoffs (1, 2, 4 minutes).
    retries = _check_schedule(await _schedule(engine), {"429": 300.0})
    assert retries == 12 + 6 + 4


async def test_a_slack_429_burst_posts_each_task_once(engine, monkeypatch, tmp_path):
    async def sleep(seconds: float) -> None:
        return None  # the pacing itself is tested in test_team_posts; no real waits here

    ticks = iter(float(n) for n in range(10_000))  # each post takes a second of the clock
    async with FakeSlackApi() as fake:
        monkeypatch.chdir(tmp_path)
        for name, value in {
            "SLACK_BOT_TOKEN": "xoxb-1-test", "SLACK_SIGNING_SECRET": "s3cret",
            "SLACK_API_URL": fake.base_url, "ARSEQ_TASKS_CHANNEL": "C0TASKS01",
        }.items():  # fmt: skip
            monkeypatch.setenv(name, value)
        settings = load_settings()
        for n in range(20):
            customer = await add_customer(engine, f"C{n}")
            async with engine.begin() as conn:
                await add_task(conn, kind="call", customer_id=customer, now=NOW, key=f"k{n}",
                               title=f"Call C{n}")  # fmt: skip
        # 5 answers of 429 in a row: the client retries each post 3 times (it waits for
        # Retry-After), so the first post gives up (released, posted on the next pass) and
        # the second gets through on its second try.
        fake.fail("chat.postMessage", status=429, retry_after=0, times=5)
        pacer = ChannelPacer(clock=lambda: next(ticks), sleep=sleep)
        poster = TeamPoster(settings, slack_client(settings), pacer)
        lines = [await poster.step(engine, NOW + timedelta(minutes=m), "w") for m in range(3)]
        titles = Counter(m.text for m in fake.channel_messages("C0TASKS01"))
        calls = len(fake.calls_to("chat.postMessage"))
    assert lines[0] == "19 task(s) posted to Slack, 1 not (Slack refused; next pass tries again)"
    assert lines[1] == "1 task(s) posted to Slack" and lines[2] is None
    assert len(titles) == 20 and set(titles.values()) == {1}
    assert calls == 20 + 4 + 1  # every post, the one that gave up, the second's retry
