"""Events API deliveries seen before: Slack retries an event it believes was not
acknowledged in time (up to three times, over about an hour), so a retry must do nothing
twice. Each event id is remembered for longer than Slack keeps retrying.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from slack_bolt.response import BoltResponse

KEEP = timedelta(hours=2)


class SeenEvents:
    """Event ids delivered within `keep`, oldest first."""

    def __init__(self, now: Callable[[], datetime], keep: timedelta = KEEP) -> None:
        self._now = now
        self._keep = keep
        self._seen: OrderedDict[str, datetime] = OrderedDict()

    def first_time(self, event_id: str) -> bool:
        """True the first time `event_id` is offered (within `keep`), False after."""
        now = self._now()
        while self._seen and next(iter(self._seen.values())) < now - self._keep:
            self._seen.popitem(last=False)
        if event_id in self._seen:
            return False
        self._seen[event_id] = now
        return True

    async def middleware(
        self, body: dict[str, Any], next: Callable[[], Awaitable[None]]
    ) -> BoltResponse | None:
        """Bolt global middleware: an event delivered again is acknowledged and dropped."""
        event_id = body.get("event_id") if body.get("type") == "event_callback" else None
        if event_id and not self.first_time(str(event_id)):
            return BoltResponse(status=200, body="")
        return await next()  # type: ignore[func-returns-value]
