"""The `/slack/events` endpoint: bolt checks Slack's signature on every request."""

from __future__ import annotations

import time

from tests.bot.slack.harness import SlackHarness


async def test_a_bad_signature_is_refused(engine, fake_slack):
    async with SlackHarness(engine, fake_slack) as slack:
        body = "command=%2Far&text=help&user_id=U0COLLECT"
        headers = slack.signed_headers(body)
        headers["X-Slack-Signature"] = "v0=" + "0" * 64
        reply = await slack.post(body, "application/x-www-form-urlencoded", headers)
    assert reply.status == 401


async def test_a_stale_timestamp_is_refused_even_when_signed(engine, fake_slack):
    async with SlackHarness(engine, fake_slack) as slack:
        body = "command=%2Far&text=help&user_id=U0COLLECT"
        stale = slack.signed_headers(body, timestamp=int(time.time()) - 10 * 60)
        reply = await slack.post(body, "application/x-www-form-urlencoded", stale)
    assert reply.status == 401


async def test_an_unsigned_request_is_refused(engine, fake_slack):
    async with SlackHarness(engine, fake_slack) as slack:
        reply = await slack.post("command=%2Far&text=help", "application/x-www-form-urlencoded", {})
    assert reply.status == 401
