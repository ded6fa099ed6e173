"""Telegram's send limits, kept inside the channel: 1 message per second per chat, about
25 per second overall (Telegram allows about 30; the margin absorbs clock jitter).

`reserve` hands out send slots spaced by those rates. A slot a moment away is awaited;
one further than `max_wait` is refused, so dispatch reschedules the message instead of
holding the whole batch behind one busy chat. A chat Telegram answered with 429 is held
for its retry_after.
"""

from __future__ import annotations

import time
from collections.abc import Callable

PER_CHAT_PER_S = 1.0
OVERALL_PER_S = 25.0
MAX_WAIT_S = 1.0
# Forget chats idle for longer than this (their slot is long past).
_PRUNE_AT = 10_000


class Busy(Exception):
    """No slot soon enough; `retry_after` seconds until there would be one."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"Telegram send limit: next slot in {retry_after:.1f}s")
        self.retry_after = retry_after


class SendLimiter:
    """Slots for sends, per chat and overall (monotonic seconds; `clock` for tests)."""

    def __init__(
        self,
        *,
        per_chat: float = PER_CHAT_PER_S,
        overall: float = OVERALL_PER_S,
        max_wait: float = MAX_WAIT_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.chat_gap, self.overall_gap = 1.0 / per_chat, 1.0 / overall
        self.max_wait, self.clock = max_wait, clock
        self._next_overall = 0.0
        self._next_chat: dict[str, float] = {}

    def reserve(self, chat: str) -> float:
        """Take the next slot for `chat`; seconds to wait for it, or Busy."""
        now = self.clock()
        start = max(now, self._next_overall, self._next_chat.get(chat, 0.0))
        if start - now > self.max_wait:
            raise Busy(start - now)
        self._next_overall = start + self.overall_gap
        self._next_chat[chat] = start + self.chat_gap
        if len(self._next_chat) > _PRUNE_AT:
            self._next_chat = {c: t for c, t in self._next_chat.items() if t > now}
        return start - now

    def hold(self, chat: str, seconds: float) -> None:
        """No slot for `chat` for `seconds` (Telegram said retry_after)."""
        until = self.clock() + seconds
        self._next_chat[chat] = max(self._next_chat.get(chat, 0.0), until)
