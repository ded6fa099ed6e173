"""The Slack Web API client ARSeq uses: slack_sdk's AsyncWebClient with retries."""

from __future__ import annotations

from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from bot.settings import Settings


def slack_client(settings: Settings) -> AsyncWebClient:
    """A client on SLACK_BOT_TOKEN and SLACK_API_URL; 429s wait for Retry-After and retry."""
    base_url = (settings.slack_api_url or "https://slack.com/api").rstrip("/") + "/"
    return AsyncWebClient(
        token=settings.slack_bot_token,
        base_url=base_url,
        retry_handlers=[
            AsyncConnectionErrorRetryHandler(max_retry_count=2),
            AsyncRateLimitErrorRetryHandler(max_retry_count=3),
        ],
    )
