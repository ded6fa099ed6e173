"""Who may do what from Slack: ARSEQ_MANAGERS and ARSEQ_COLLECTORS (SPEC section 4).

Both hold user ids (`U…`, `W…`) and user group ids (`S…`). A group's members come from
`usergroups.users.list` and are kept for a few minutes, so a busy channel does not call
the API on every command and a change in Slack still shows soon. A group that cannot be
read counts as empty (logged), never as "everyone".
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from aiohttp import ClientError
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from storage.models import Role

if TYPE_CHECKING:  # app.py imports the feature modules, which import this one
    from bot.slack.app import SlackContext

log = logging.getLogger("arseq.slack")

GROUP_TTL = timedelta(minutes=5)
MEMBERS_METHOD = "usergroups.users.list"  # the Web API method (and scope) roles need
ROLES = "roles"  # ctx.extras key of the app's Roles resolver
NOT_ON_TEAM = (
    "Sorry, only the AR team (ARSEQ_COLLECTORS, ARSEQ_MANAGERS) can do that; nothing was changed."
)


class Roles:
    """Resolves a Slack user to MANAGER, COLLECTOR or VIEWER (anyone else)."""

    def __init__(
        self,
        *,
        managers: list[str],
        collectors: list[str],
        client: AsyncWebClient,
        now: Callable[[], datetime],
        ttl: timedelta = GROUP_TTL,
    ) -> None:
        self.managers = list(managers)
        self.collectors = list(collectors)
        self._client = client
        self._now = now
        self._ttl = ttl
        self._groups: dict[str, tuple[datetime, frozenset[str]]] = {}

    async def role_of(self, user_id: str) -> Role:
        """The highest role the user holds, directly or through a user group."""
        if await self._member(user_id, self.managers):
            return Role.MANAGER
        if await self._member(user_id, self.collectors):
            return Role.COLLECTOR
        return Role.VIEWER

    async def _member(self, user_id: str, principals: list[str]) -> bool:
        if user_id in principals:
            return True
        for group in (p for p in principals if p.startswith("S")):
            if user_id in await self.group_members(group):
                return True
        return False

    async def group_members(self, group_id: str) -> frozenset[str]:
        """The members of a user group, from the cache while it is fresh."""
        now = self._now()
        cached = self._groups.get(group_id)
        if cached is not None and now - cached[0] < self._ttl:
            return cached[1]
        try:
            response = await self._client.usergroups_users_list(usergroup=group_id)
        except (SlackApiError, ClientError, TimeoutError) as exc:
            # Not cached: the next command tries again.
            log.warning("cannot read user group %s: %s", group_id, exc)
            return frozenset()
        members = frozenset(response.get("users") or [])
        self._groups[group_id] = (now, members)
        return members


def allows(role: Role, needed: Role) -> bool:
    """Whether `role` may do what needs `needed` (managers may do everything)."""
    rank = {Role.VIEWER: 0, Role.COLLECTOR: 1, Role.MANAGER: 2}
    return rank[role] >= rank[needed]


def roles_of(ctx: SlackContext, client: AsyncWebClient) -> Roles:
    """The app's Roles resolver (one per app, so its group cache is shared)."""
    roles = ctx.extras.get(ROLES)
    if roles is None:
        roles = Roles(managers=ctx.settings.managers, collectors=ctx.settings.collectors,
                      client=client, now=ctx.now)  # fmt: skip
        ctx.extras[ROLES] = roles
    return roles


async def may(
    ctx: SlackContext, client: AsyncWebClient, user: str, needed: Role = Role.COLLECTOR
) -> bool:
    """Whether `user` holds `needed` or more, directly or through a user group."""
    return allows(await roles_of(ctx, client).role_of(user), needed)
