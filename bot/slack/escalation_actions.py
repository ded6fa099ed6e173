"""Acknowledge and Resolve on a dispute's message, and the Resolve modal.

Acknowledge stops the chain (`sequences.disputes.acknowledge_dispute`); a second press
finds the dispute acknowledged and only says so. Resolve opens a modal (resolution,
credit note amount); a wrong amount is shown next to its field and nothing is written;
a valid one closes the dispute and the invoice's sequences resume. The message is
updated in place after each.
"""

from __future__ import annotations

import json
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack.app import SlackContext
from bot.slack.escalation_blocks import dispute_id_of, who
from bot.slack.ids import Action, View
from bot.slack.roles import NOT_ON_TEAM, may
from bot.slack.task_actions import FieldError, field, modal_input, parse_amount, tell
from bot.slack.team_posts import refresh_escalation
from sequences.disputes import acknowledge_dispute, resolve_dispute
from sequences.ledger import LedgerError
from sequences.team_posts import escalation_of


def resolve_view(dispute_id: int, invoice: str) -> dict[str, Any]:
    """The Resolve modal of a dispute."""
    text = {"type": "plain_text_input", "action_id": "value"}
    return {
        "type": "modal", "callback_id": str(View.RESOLVE_DISPUTE),
        "private_metadata": json.dumps({"dispute": dispute_id}),
        "title": {"type": "plain_text", "text": "Resolve dispute"},
        "submit": {"type": "plain_text", "text": "Resolve"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": f"Invoice *{invoice[:100]}*"}},
            modal_input("resolution", "Resolution", {**text, "multiline": True}, optional=False),
            modal_input("credit", "Credit note amount", text,
                   hint="Leave empty for no credit note; e.g. 40.00 lowers the open amount."),
        ],
    }  # fmt: skip


def register(app: AsyncApp, ctx: SlackContext) -> None:
    """Acknowledge, Resolve and the Resolve modal."""

    @app.action(str(Action.ESCALATION_ACK))
    async def acknowledge(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        dispute_id, user = dispute_id_of(body["actions"][0].get("value")), body["user"]["id"]
        if not await may(ctx, client, user):
            await tell(client, body, NOT_ON_TEAM)
            return
        async with ctx.engine.begin() as conn:
            changed = await acknowledge_dispute(
                conn, dispute_id=dispute_id, actor=user, now=ctx.now()
            )
            view = await escalation_of(conn, dispute_id)
        if not changed and view is not None:
            by = view.acknowledged_by or view.resolved_by
            await tell(client, body, f"This dispute is already {view.dispute_status}"
                                      f"{' by ' + who(by) if by else ''}.")  # fmt: skip
        await refresh_escalation(client, ctx.engine, dispute_id)

    @app.action(str(Action.ESCALATION_RESOLVE))
    async def open_resolve(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        dispute_id = dispute_id_of(body["actions"][0].get("value"))
        if not await may(ctx, client, body["user"]["id"]):
            await tell(client, body, NOT_ON_TEAM)
            return
        async with ctx.engine.connect() as conn:
            view = await escalation_of(conn, dispute_id)
        if view is None or view.dispute_status == "resolved":
            await tell(client, body, "This dispute is already resolved.")
            return
        await client.views_open(trigger_id=body["trigger_id"],
                                view=resolve_view(dispute_id, view.invoice))  # fmt: skip

    @app.view(str(View.RESOLVE_DISPUTE))
    async def save_resolution(
        ack: AsyncAck, body: dict[str, Any], view: dict[str, Any], client: AsyncWebClient
    ) -> None:
        # Checked and written before the ack: a problem must reach the modal, next to its field.
        if not await may(ctx, client, body["user"]["id"]):
            await ack(response_action="errors", errors={"resolution": NOT_ON_TEAM})
            return
        dispute_id = dispute_id_of(view.get("private_metadata"))
        values = view["state"]["values"]
        resolution = (field(values, "resolution").get("value") or "").strip()
        try:
            if not resolution:
                raise FieldError("resolution", "say in a few words how it was settled")
            credit = parse_amount(field(values, "credit").get("value"), "credit")
            async with ctx.engine.begin() as conn:
                await resolve_dispute(
                    conn, dispute_id=dispute_id, resolution=resolution, credit_amount=credit,
                    actor=body["user"]["id"], now=ctx.now(),
                )  # fmt: skip
        except FieldError as exc:
            await ack(response_action="errors", errors={exc.block: str(exc)})
            return
        except LedgerError as exc:
            block = "credit" if "credit" in str(exc) else "resolution"
            await ack(response_action="errors", errors={block: str(exc)})
            return
        await ack()
        await refresh_escalation(app.client, ctx.engine, dispute_id)
