"""Fixtures for the bot's tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.slack.client import close_slack_session
from bot.slack.digest_post import finish_chart_uploads


@pytest.fixture(autouse=True)
async def _slack_loose_ends() -> AsyncIterator[None]:
    # A process waits for the digest charts still uploading and closes the Slack clients'
    # shared HTTP session at its end; a test does at its own (each has its own loop).
    yield
    await finish_chart_uploads()
    await close_slack_session()
