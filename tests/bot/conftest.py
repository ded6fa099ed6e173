"""Fixtures for the bot's tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.slack.client import close_slack_session


@pytest.fixture(autouse=True)
async def _slack_session_closed() -> AsyncIterator[None]:
    # The Slack clients share one HTTP session per event loop; a process closes it at
    # its end, a test at its own (each test has its own loop).
    yield
    await close_slack_session()
