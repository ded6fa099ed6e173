"""The Slack Web API client ARSeq uses: slack_sdk's AsyncWebClient with retries, on
kept-alive connections.

Without a session of its own, slack_sdk opens an HTTP session, a connection and (against
slack.com) a TLS handshake for every call, and closes them after. Our clients share one
session per event loop instead; whoever owns the loop closes it at the end
(`close_slack_session`).
"""

from __future__ import annotations

import asyncio
import weakref
from typing import Any

import aiohttp
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from bot.settings import Settings

TIMEOUT_S = 30  # slack_sdk's own default, which its per-call sessions carry
_SESSIONS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, aiohttp.ClientSession] = (
    weakref.WeakKeyDictionary()
)


class KeptAliveWebClient(AsyncWebClient):
    """AsyncWebClient whose calls share this event loop's HTTP session."""

    async def api_call(self, api_method: str, **kwargs: Any) -> AsyncSlackResponse:
        self.session = _session()
        return await super().api_call(api_method, **kwargs)


def _session() -> aiohttp.ClientSession:
    loop = asyncio.get_running_loop()
    session = _SESSIONS.get(loop)
    if session is None or session.closed:
        session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=TIMEOUT_S))
        _SESSIONS[loop] = session
    return session


async def close_slack_session() -> None:
    """Close this event loop's Slack session, if it has one (before the loop ends)."""
    session = _SESSIONS.pop(asyncio.get_running_loop(), None)
    if session is not None:
        await session.close()


def slack_client(settings: Settings) -> AsyncWebClient:
    """A client on SLACK_BOT_TOKEN and SLACK_API_URL; 429s wait for Retry-After and retry."""
    base_url = (settings.slack_api_url or "https://slack.com/api").rstrip("/") + "/"
    return KeptAliveWebClient(
        token=settings.slack_bot_token,
        base_url=base_url,
        timeout=TIMEOUT_S,
        retry_handlers=[
            AsyncConnectionErrorRetryHandler(max_retry_count=2),
            AsyncRateLimitErrorRetryHandler(max_retry_count=3),
        ],
    )
