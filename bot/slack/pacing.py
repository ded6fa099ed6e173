"""At most one message per second per channel, as Slack asks of a bot posting a backlog."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable


class ChannelPacer:
    """Spaces posts to one channel `gap` seconds apart; other channels are not held up.

    The wait is an `asyncio.sleep`, so the event loop (Slack's acks, Telegram) runs on
    meanwhile. `clock` and `sleep` are parameters so a test can watch the pacing
    without waiting for it.
    """

    def __init__(
        self,
        gap: float = 1.0,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.gap = gap
        self.clock = clock
        self.sleep = sleep
        self._last: dict[str, float] = {}

    async def wait(self, channel: str) -> None:
        """Return when a message may go to `channel`, and count it as sent."""
        last = self._last.get(channel)
        if last is not None and (left := last + self.gap - self.clock()) > 0:
            await self.sleep(left)
        self._last[channel] = self.clock()
