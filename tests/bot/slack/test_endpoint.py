"""The `/slack/events` endpoint: bolt checks Slack's signature on every request."""

from __future__ import annotations

import time

from aiohttp import web

from bot.channels import build_adapters
from bot.slack.mount import EVENTS_PATH
from tests.bot.slack.harness import SlackHarness, harness_settings


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


async def test_slack_over_http_mounts_the_events_route(engine, fake_slack):
    settings = harness_settings(fake_slack)
    adapters = build_adapters(settings, engine)
    app = web.Application()
    for add in adapters.routes:
        add(app)
    paths = {r.resource.canonical for r in app.router.routes() if r.method == "POST"}
    assert EVENTS_PATH in paths
    assert not adapters.services  # no Socket Mode without SLACK_APP_TOKEN


async def test_slack_with_an_app_token_runs_over_socket_mode(engine, fake_slack):
    settings = harness_settings(fake_slack, slack_app_token="xapp-1-A0-1-abc")
    adapters = build_adapters(settings, engine)
    app = web.Application()
    for add in adapters.routes:
        add(app)
    assert EVENTS_PATH not in {r.resource.canonical for r in app.router.routes()}
    assert len(adapters.services) == 1


async def test_slack_off_adds_nothing(engine, fake_slack):
    settings = harness_settings(fake_slack, slack_bot_token=None, slack_signing_secret=None)
    adapters = build_adapters(settings, engine)
    app = web.Application()
    for add in adapters.routes:
        add(app)
    assert EVENTS_PATH not in {r.resource.canonical for r in app.router.routes()}
