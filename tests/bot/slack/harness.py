"""Signed Slack requests into ARSeq's real `/slack/events` endpoint, against the fake Web API.

`SlackHarness` builds the real bolt app (`bot.slack.app.build_slack_app`) on a database
and a fake Slack Web API, mounts it on a real aiohttp server on a free loopback port,
and sends what Slack would send: slash commands and interactivity as signed forms,
events as signed JSON. `process_before_response=True`, so a request has done its work
when it returns. Time is `harness.now` (set it; nothing sleeps).

    async with SlackHarness(engine, fake_slack) as slack:
        reply = await slack.command("help", user="U0COLLECT")
        assert reply.status == 200
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from aiohttp import ClientSession, web
from pydantic import AliasChoices
from slack_sdk.signature import SignatureVerifier
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.settings import Settings, load_settings
from bot.slack.app import SlackContext, build_slack_app
from bot.slack.mount import EVENTS_PATH, events_route
from tests.fakes.slack_api import FakeSlackApi

SIGNING_SECRET = "test-signing-secret"
BOT_TOKEN = "xoxb-test-token"
MANAGER = "U0MANAGER"
COLLECTOR = "U0COLLECT"
STRANGER = "U0STRANGE"


@dataclass
class Reply:
    """What the endpoint answered."""

    status: int
    text: str

    @property
    def json(self) -> Any:
        return json.loads(self.text) if self.text else None


def harness_settings(fake: FakeSlackApi, **overrides: Any) -> Settings:
    """Settings for Slack over HTTP against the fake, with one manager and one collector
    (`overrides` by field name: `collectors=[...]`)."""
    values: dict[str, Any] = {
        "slack_bot_token": BOT_TOKEN,
        "slack_signing_secret": SIGNING_SECRET,
        "slack_api_url": fake.base_url,
        "managers": [MANAGER],
        "collectors": [COLLECTOR],
        "tasks_channel": "C0TASKS01",
        "escalations_channel": "C0ESCAL01",
        "digest_channel": "C0DIGEST1",
    }
    # Settings are read by their variable names (ARSEQ_MANAGERS): a field name such as
    # `managers` would be ignored without a word, so each is given by its alias.
    return load_settings(**{_alias(k): v for k, v in (values | overrides).items()})


def _alias(field: str) -> str:
    alias = Settings.model_fields[field].validation_alias
    if isinstance(alias, AliasChoices):
        return str(alias.choices[0])
    return str(alias or field)


class SlackHarness:
    """The real Slack endpoint of ARSeq on loopback, driven with signed requests."""

    def __init__(
        self,
        engine: AsyncEngine,
        fake: FakeSlackApi,
        *,
        now: datetime | None = None,
        settings: Settings | None = None,
        signing_secret: str = SIGNING_SECRET,
    ) -> None:
        self.engine = engine
        self.fake = fake
        self.now = now or datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
        self.settings = settings or harness_settings(fake)
        self.verifier = SignatureVerifier(signing_secret)
        self.ctx: SlackContext | None = None
        self._runner: web.AppRunner | None = None
        self._session: ClientSession | None = None
        self.url = ""

    async def __aenter__(self) -> SlackHarness:
        bolt, self.ctx = build_slack_app(
            self.settings, self.engine, now=lambda: self.now, process_before_response=True
        )
        app = web.Application()
        app.router.add_routes([events_route(bolt)])
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host="127.0.0.1", port=0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}{EVENTS_PATH}"
        self._session = ClientSession()
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()
        if self._runner is not None:
            await self._runner.cleanup()

    def signed_headers(self, body: str, *, timestamp: int | None = None) -> dict[str, str]:
        """The headers Slack signs a request with (a stale `timestamp` for refusal tests)."""
        ts = str(int(time.time()) if timestamp is None else timestamp)
        return {
            "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": self.verifier.generate_signature(timestamp=ts, body=body),
        }

    async def post(
        self, body: str, content_type: str, headers: dict[str, str] | None = None
    ) -> Reply:
        """POST a raw body; signed unless `headers` are given (`{}`: unsigned)."""
        assert self._session is not None, "use `async with SlackHarness(...)`"
        signed = self.signed_headers(body) if headers is None else headers
        sent = {"Content-Type": content_type, **signed}
        async with self._session.post(self.url, data=body.encode(), headers=sent) as response:
            return Reply(response.status, await response.text())

    async def command(
        self, text: str, *, user: str = COLLECTOR, channel: str = "C0WORK001", command: str = "/ar"
    ) -> Reply:
        """A signed slash command (`/ar TEXT`), as Slack posts it."""
        form = {
            "token": "legacy", "team_id": "T0TEAM001", "team_domain": "acme",
            "channel_id": channel, "channel_name": "ar-team", "user_id": user,
            "user_name": user.lower(), "command": command, "text": text,
            "api_app_id": "A0ARSEQ01", "response_url": f"{self.fake.base_url}response?user={user}",
            "trigger_id": f"trigger-{user}-{time.monotonic_ns()}",
        }  # fmt: skip
        return await self.post(urlencode(form), "application/x-www-form-urlencoded")

    async def interact(self, payload: dict[str, Any]) -> Reply:
        """A signed interactivity request (button, select, modal submission)."""
        payload = {"team": {"id": "T0TEAM001"}, "api_app_id": "A0ARSEQ01", **payload}
        body = urlencode({"payload": json.dumps(payload)})
        return await self.post(body, "application/x-www-form-urlencoded")

    async def event(self, event: dict[str, Any], *, event_id: str = "Ev0001") -> Reply:
        """A signed Events API callback carrying `event`."""
        body = json.dumps(
            {
                "token": "legacy", "team_id": "T0TEAM001", "api_app_id": "A0ARSEQ01",
                "type": "event_callback", "event_id": event_id, "event_time": int(time.time()),
                "event": event,
            }
        )  # fmt: skip
        return await self.post(body, "application/json")

    def button(
        self, action_id: str, value: str, *, user: str = COLLECTOR, channel: str = "C0TASKS01",
        ts: str = "1700000000.000100", block_id: str = "b",
    ) -> dict[str, Any]:  # fmt: skip
        """The payload of a button press on a channel message."""
        return {
            "type": "block_actions",
            "user": {"id": user},
            "channel": {"id": channel},
            "container": {"type": "message", "channel_id": channel, "message_ts": ts},
            "message": {"ts": ts, "text": "", "blocks": []},
            "trigger_id": f"trigger-{user}-{time.monotonic_ns()}",
            "response_url": f"{self.fake.base_url}response?user={user}",
            "actions": [
                {"type": "button", "action_id": action_id, "block_id": block_id, "value": value}
            ],
        }
