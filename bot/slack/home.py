"""App Home: published when a user opens it, and again after they act from it.

Done and Snooze are the task buttons of `bot/slack/task_actions.py` (the same ids and
values); Status DMs the account's open invoices, Pause holds the account until
`/ar resume` (as the forewarning's Hold does).
"""

from __future__ import annotations

import logging
from typing import Any

from pydantic import ValidationError
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack.app import SlackContext
from bot.slack.blocks import escape
from bot.slack.forewarning import CustomerRef
from bot.slack.home_blocks import home_view
from bot.slack.ids import Action
from bot.slack.roles import NOT_ON_TEAM, may
from sequences.attention import attention_for
from sequences.forewarning import hold_account
from sequences.ledger import LedgerError
from sequences.lookup import open_invoices
from sequences.templates import money

log = logging.getLogger("arseq.slack")


async def publish_home(ctx: SlackContext, client: AsyncWebClient, user: str) -> None:
    """Publish `user`'s Home tab as it stands now."""
    now = ctx.now()
    async with ctx.engine.connect() as conn:
        data = await attention_for(conn, user=user, today=now.astimezone(ctx.settings.zone).date(),
                                   now=now)  # fmt: skip
    await client.views_publish(user_id=user, view=home_view(data))


def _customer(body: dict[str, Any]) -> int | None:
    try:
        return CustomerRef.model_validate_json(body["actions"][0]["value"]).customer_id
    except (KeyError, IndexError, ValidationError):
        return None


def register(app: AsyncApp, ctx: SlackContext) -> None:
    """`app_home_opened`, and the Status and Pause buttons of the Home tab."""

    @app.event("app_home_opened")
    async def _opened(event: dict[str, Any], client: AsyncWebClient) -> None:
        if event.get("tab", "home") != "home":
            return
        try:
            await publish_home(ctx, client, event["user"])
        except SlackClientError as exc:
            log.warning("App Home of %s not published: %s", event["user"], exc)

    async def _acting_on(body: dict[str, Any], client: AsyncWebClient) -> int | None:
        """The customer a Home button names, if the presser is on the AR team (else told)."""
        customer_id, user = _customer(body), body["user"]["id"]
        if customer_id is not None and not await may(ctx, client, user):
            await client.chat_postMessage(channel=user, text=NOT_ON_TEAM)
            return None
        return customer_id

    @app.action(str(Action.HOME_STATUS))
    async def _status(ack: Any, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        user, customer_id = body["user"]["id"], await _acting_on(body, client)
        if customer_id is None:
            return
        async with ctx.engine.connect() as conn:
            invoices = await open_invoices(conn, customer_id)
        lines = [f"• {escape(i.number)}: {money(i.open_amount, i.currency)} due {i.due_date}"
                 for i in invoices] or ["No open invoices."]  # fmt: skip
        await client.chat_postMessage(channel=user, text="\n".join(lines))

    @app.action(str(Action.HOME_PAUSE))
    async def _pause(ack: Any, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        user, customer_id = body["user"]["id"], await _acting_on(body, client)
        if customer_id is None:
            return
        try:
            async with ctx.engine.begin() as conn:
                await hold_account(conn, customer_id=customer_id, actor=user, now=ctx.now())
        except LedgerError as exc:
            await client.chat_postMessage(channel=user, text=f":warning: {exc}")
            return
        await client.chat_postMessage(
            channel=user, text="Paused: the account's touches wait until `/ar resume CUSTOMER`."
        )
        await publish_home(ctx, client, user)
