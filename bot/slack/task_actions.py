"""The buttons of a collector task's message, and the Log call modal.

Each listener acks, changes the task through `sequences.tasks` (a conditional change:
a double click finds nothing to do and the presser gets a friendly ephemeral note), then
updates the message in place. The Log call modal checks its fields before anything is
written and shows a problem next to the field it is about.
"""

from __future__ import annotations

import json
import re
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack.app import SlackContext
from bot.slack.blocks import Block, mention
from bot.slack.ids import Action, View
from bot.slack.roles import NOT_ON_TEAM, may
from bot.slack.task_blocks import block_task_id, task_id_of
from bot.slack.team_posts import refresh_task
from sequences.ledger import LedgerError
from sequences.tasks import (
    CallLog,
    CallOutcome,
    complete_task,
    load_task,
    log_call,
    reassign_task,
    snooze_task,
)

AMOUNT = re.compile(r"^\d+(\.\d{1,2})?$")
SNOOZES = {Action.TASK_SNOOZE_1D: timedelta(days=1), Action.TASK_SNOOZE_3D: timedelta(days=3)}
OUTCOME_LABELS = {
    CallOutcome.REACHED: "Reached them",
    CallOutcome.NO_ANSWER: "No answer",
    CallOutcome.PROMISED: "Promised to pay",
    CallOutcome.DISPUTED: "Disputed",
}


class FieldError(ValueError):
    """A modal field's value is wrong: shown next to the field (`block`)."""

    def __init__(self, block: str, message: str) -> None:
        super().__init__(message)
        self.block = block


def parse_amount(text: str | None, block: str) -> Decimal | None:
    """An optional amount like 1250.50 (a dot, at most two decimals, more than 0)."""
    text = (text or "").strip().replace(",", "")
    if not text:
        return None
    if not AMOUNT.match(text):
        raise FieldError(block, f"'{text}' is not an amount: write it like 1250.50")
    try:
        amount = Decimal(text)
    except InvalidOperation:  # pragma: no cover - the pattern admits only numbers
        raise FieldError(block, f"'{text}' is not an amount") from None
    if amount <= 0:
        raise FieldError(block, "the amount must be more than 0")
    return amount


def field(values: dict[str, Any], block: str) -> dict[str, Any]:
    """The one element's state in a submitted modal block."""
    return next(iter(values.get(block, {}).values()), {})


def modal_input(block: str, label: str, element: Block, *, optional: bool = True,
           hint: str | None = None) -> Block:  # fmt: skip
    item: Block = {"type": "input", "block_id": block, "optional": optional, "element": element,
                   "label": {"type": "plain_text", "text": label}}  # fmt: skip
    if hint:
        item["hint"] = {"type": "plain_text", "text": hint}
    return item


def log_call_view(task_id: int, title: str) -> Block:
    """The Log call modal of a task."""
    options = [{"text": {"type": "plain_text", "text": label}, "value": str(outcome)}
               for outcome, label in OUTCOME_LABELS.items()]  # fmt: skip
    text = {"type": "plain_text_input", "action_id": "value"}
    return {
        "type": "modal", "callback_id": str(View.LOG_CALL),
        "private_metadata": json.dumps({"task": task_id}),
        "title": {"type": "plain_text", "text": "Log call"},
        "submit": {"type": "plain_text", "text": "Save"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": f"*{title[:200]}*"}},
            modal_input("outcome", "Outcome", {"type": "radio_buttons", "action_id": "value",
                                          "options": options}, optional=False),
            modal_input("promised_date", "Promised date",
                        {"type": "datepicker", "action_id": "value"},
                   hint="For a promise: the day they will pay by."),
            modal_input("promised_amount", "Promised amount", text,
                   hint="For a promise, if less than the whole invoice: e.g. 1250.50"),
            modal_input("reason", "Dispute reason", text, hint="For a dispute: what is wrong."),
            modal_input("note", "Note", {**text, "multiline": True}),
        ],
    }  # fmt: skip


def parse_call(values: dict[str, Any], today: date) -> CallLog:
    """The Log call modal's fields as a call; FieldError for the first wrong one."""
    chosen = (field(values, "outcome").get("selected_option") or {}).get("value")
    if chosen not in set(CallOutcome):
        raise FieldError("outcome", "choose how the call went")
    outcome = CallOutcome(chosen)
    raw_date = field(values, "promised_date").get("selected_date")
    promised = date.fromisoformat(raw_date) if raw_date else None
    amount = parse_amount(field(values, "promised_amount").get("value"), "promised_amount")
    reason = (field(values, "reason").get("value") or "").strip()
    if outcome is CallOutcome.PROMISED:
        if promised is None:
            raise FieldError("promised_date", "a promise needs the date they will pay by")
        if promised < today:
            raise FieldError("promised_date", f"{promised} is in the past")
    if outcome is CallOutcome.DISPUTED and not reason:
        raise FieldError("reason", "a dispute needs a reason")
    note = (field(values, "note").get("value") or "").strip()
    return CallLog(outcome, note, promised, amount, reason)


async def tell(client: AsyncWebClient, body: dict[str, Any], text: str) -> None:
    """A note only the person who pressed sees, in the message's channel."""
    user = body["user"]["id"]
    channel = (body.get("channel") or {}).get("id") or body.get("container", {}).get("channel_id")
    if channel is None:  # pressed in App Home: no channel to whisper in, so a DM
        await client.chat_postMessage(channel=user, text=text)
        return
    await client.chat_postEphemeral(channel=channel, user=user, text=text)


def register(app: AsyncApp, ctx: SlackContext) -> None:
    """The task buttons and the Log call modal."""

    async def refresh(client: AsyncWebClient, task_id: int) -> None:
        await refresh_task(client, ctx.engine, task_id, now=ctx.now(), settings=ctx.settings)

    @app.action(str(Action.TASK_DONE))
    async def done(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        task_id, user = task_id_of(body["actions"][0].get("value")), body["user"]["id"]
        if not await may(ctx, client, user):
            await tell(client, body, NOT_ON_TEAM)
            return
        async with ctx.engine.begin() as conn:
            changed = await complete_task(conn, task_id=task_id, actor=user, now=ctx.now())
            task = await load_task(conn, task_id)
        if not changed:
            by = f" by {mention(task.done_by)}" if task.done_by else ""
            await tell(client, body, f"Task #{task_id} is already {task.state}{by}: nothing to do.")
        await refresh(client, task_id)

    async def snooze(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        action = body["actions"][0]
        task_id, user, now = task_id_of(action.get("value")), body["user"]["id"], ctx.now()
        if not await may(ctx, client, user):
            await tell(client, body, NOT_ON_TEAM)
            return
        until = now + SNOOZES[Action(action["action_id"])]
        async with ctx.engine.begin() as conn:
            changed = await snooze_task(conn, task_id=task_id, until=until, actor=user, now=now)
            task = await load_task(conn, task_id)
        if not changed:
            await tell(client, body, f"Task #{task_id} is {task.state}: not snoozed again.")
        await refresh(client, task_id)

    for action in SNOOZES:
        app.action(str(action))(snooze)

    @app.action(str(Action.TASK_REASSIGN))
    async def reassign(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        task_id, user = block_task_id(body), body["user"]["id"]
        chosen = body["actions"][0].get("selected_user") or ""
        if not await may(ctx, client, user):
            await tell(client, body, NOT_ON_TEAM)
            return
        async with ctx.engine.begin() as conn:
            try:
                changed = await reassign_task(conn, task_id=task_id, assignee=chosen, actor=user,
                                              now=ctx.now())  # fmt: skip
            except LedgerError as exc:
                await tell(client, body, str(exc))
                return
            task = await load_task(conn, task_id)
        if not changed:
            state = "done" if not task.live else f"already {mention(task.assignee)}'s"
            await tell(client, body, f"Task #{task_id} is {state}: not reassigned.")
            return
        await refresh(client, task_id)

    @app.action(str(Action.TASK_LOG_CALL))
    async def open_log_call(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        task_id = task_id_of(body["actions"][0].get("value"))
        if not await may(ctx, client, body["user"]["id"]):
            await tell(client, body, NOT_ON_TEAM)
            return
        async with ctx.engine.connect() as conn:
            task = await load_task(conn, task_id)
        if not task.live:
            await tell(client, body, f"Task #{task_id} is already {task.state}.")
            return
        await client.views_open(
            trigger_id=body["trigger_id"], view=log_call_view(task_id, task.title)
        )

    @app.view(str(View.LOG_CALL))
    async def save_call(
        ack: AsyncAck, body: dict[str, Any], view: dict[str, Any], client: AsyncWebClient
    ) -> None:
        # Checked and written before the ack: a problem must reach the modal, next to its field.
        task_id = task_id_of(view.get("private_metadata"))
        user, now = body["user"]["id"], ctx.now()
        if not await may(ctx, client, user):
            await ack(response_action="errors", errors={"outcome": NOT_ON_TEAM})
            return
        try:
            call = parse_call(view["state"]["values"], now.date())
            async with ctx.engine.begin() as conn:
                changed = await log_call(conn, task_id=task_id, call=call, actor=user, now=now)
        except FieldError as exc:
            await ack(response_action="errors", errors={exc.block: str(exc)})
            return
        except LedgerError as exc:
            block = "reason" if "dispute" in str(exc) else "outcome"
            await ack(response_action="errors", errors={block: str(exc)})
            return
        if not changed:
            await ack(
                response_action="errors", errors={"outcome": f"task #{task_id} is already done"}
            )
            return
        await ack()
        await refresh(app.client, task_id)
