"""Customers' owners as Slack knows them: name and email from `users.info`.

Kept in the `users` table, they sign the customer messages (the templates' `collector`)
and are the emails' Reply-To. An owner is read when first seen and again once a day; the
step looks at most once an hour, so a large ledger is not scanned on every pass.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.owner_queries import owners_to_refresh, save_profile

log = logging.getLogger("arseq.slack")

REFRESH = timedelta(days=1)
LOOK_EVERY = timedelta(hours=1)
BATCH = 50  # users.info calls of one look (Slack's tier 4: 100 a minute)
# Answers that mean "there is nothing to read": remembered, not asked again until REFRESH.
GONE = {"user_not_found", "user_not_visible", "account_inactive"}


def profile_of(user: dict[str, Any]) -> tuple[str | None, str | None]:
    """The name to sign with and the email of a `users.info` user."""
    profile = user.get("profile") or {}
    name = user.get("real_name") or profile.get("real_name") or profile.get("display_name")
    return (name or None), (profile.get("email") or None)


class OwnerProfiles:
    """After-pass step: read unknown or day-old owners from Slack into `users`."""

    def __init__(self, client: AsyncWebClient) -> None:
        self.client = client
        self._looked: datetime | None = None

    async def step(self, engine: AsyncEngine, now: datetime, worker: str) -> str | None:
        """Read the owners due a refresh; a line saying how many, or None."""
        if self._looked is not None and abs(now - self._looked) < LOOK_EVERY:
            return None
        self._looked = now
        async with engine.connect() as conn:
            due = await owners_to_refresh(conn, stale_before=now - REFRESH, limit=BATCH)
        profiles: dict[str, tuple[str | None, str | None]] = {}
        for user_id in due:
            try:
                answer = await self.client.users_info(user=user_id)
            except SlackApiError as exc:
                error = str(exc.response.get("error", ""))
                if error not in GONE:
                    log.warning("users.info %s failed (%s): tried again later", user_id, error)
                    break
                profiles[user_id] = (None, None)
                continue
            except SlackClientError as exc:
                log.warning("users.info %s failed (%s): tried again later", user_id, exc)
                break
            profiles[user_id] = profile_of(answer.get("user") or {})
        if not profiles:
            return None
        async with engine.begin() as conn:
            for user_id, (name, email) in profiles.items():
                await save_profile(conn, slack_user_id=user_id, name=name, email=email, now=now)
        return f"owners read from Slack: {len(profiles)}"
