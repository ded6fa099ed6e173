"""The afternoon forewarning DM, its Hold / Send now buttons, and Skip step.

After each scheduler pass, once the team's local `ARSEQ_FOREWARN_TIME` has passed, each
account owner with customer touches tomorrow gets one direct message listing them
(customer, invoice, step, the customer's local send time), once a day across workers.
Hold pauses the account (until `/ar resume`); Send now lets the next pass send the
touch (window and frequency cap still apply). `/ar sequence show` offers Skip step per
enrollment with `skip_step_button`.
"""

from __future__ import annotations

import logging
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ValidationError
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackClientError
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.settings import Settings
from bot.slack.app import SlackContext
from bot.slack.blocks import Block, context, escape, section
from bot.slack.client import slack_client
from bot.slack.ids import Action
from bot.slack.roles import NOT_ON_TEAM, may
from sequences.forewarning import (
    Touch,
    claim_forewarning,
    forewarn_day,
    forewarning_sent,
    hold_account,
    release_forewarning,
    tomorrows_touches,
)
from sequences.ledger import LedgerError
from sequences.step_moves import send_now, skip_step
from sequences.templates import money

log = logging.getLogger("arseq.slack")

SHOWN_TOUCHES = 20  # a message holds at most 50 blocks; two per touch plus a header


class CustomerRef(BaseModel):
    """A button's value naming a customer."""

    customer_id: int


class EnrollmentRef(BaseModel):
    """A button's value naming an enrollment (and, for Skip step, the step it is at)."""

    enrollment_id: int
    step: int | None = None


def _button(text: str, action: Action, value: BaseModel, style: str | None = None) -> Block:
    button: Block = {
        "type": "button",
        "text": {"type": "plain_text", "text": text},
        "action_id": str(action),
        "value": value.model_dump_json(),
    }
    if style:
        button["style"] = style
    return button


def skip_step_button(enrollment_id: int, step: int) -> Block:
    """The Skip step button of one enrollment at `step` (1-based), an accessory or element
    for `/ar sequence show`; a second click after the enrollment moved skips nothing."""
    return _button("Skip step", Action.SKIP_STEP, EnrollmentRef(enrollment_id=enrollment_id,
                                                               step=step))  # fmt: skip


def touch_line(touch: Touch) -> str:
    """One touch as mrkdwn: customer, invoice, step, local send time."""
    local = touch.local_send_at()
    invoice = ""
    if touch.invoice:
        amount = money(touch.open_amount, touch.currency) if touch.currency else ""
        invoice = f" · invoice {escape(touch.invoice)}" + (f" ({amount})" if amount else "")
    return (
        f"*{escape(touch.customer)}* ({escape(touch.external_id)}){invoice}\n"
        f"{escape(touch.sequence)} step {touch.step_number} ({escape(touch.what)}) · "
        f"{local:%a %H:%M} {escape(touch.timezone)}"
    )


def forewarning_blocks(day: date, touches: list[Touch]) -> tuple[str, list[Block]]:
    """The DM: (notification text, blocks), one section and one button row per touch."""
    tomorrow = f"{touches[0].local_send_at():%a %d %b}" if touches else str(day)
    text = f"Tomorrow ({tomorrow}): {len(touches)} customer touch(es) for your accounts"
    blocks = [section(f":crystal_ball: *{text}*")]
    for touch in touches[:SHOWN_TOUCHES]:
        blocks.append(section(touch_line(touch)))
        blocks.append({"type": "actions", "block_id": f"touch-{touch.enrollment_id}",
                       "elements": [
            _button("Hold account", Action.FOREWARN_HOLD,
                    CustomerRef(customer_id=touch.customer_id)),
            _button("Send now", Action.FOREWARN_SEND_NOW,
                    EnrollmentRef(enrollment_id=touch.enrollment_id), style="primary"),
        ]})  # fmt: skip
    if len(touches) > SHOWN_TOUCHES:
        blocks.append(context(f"and {len(touches) - SHOWN_TOUCHES} more; `/ar tasks` and "
                              "`/ar status CUSTOMER` show them"))  # fmt: skip
    blocks.append(context(
        "Hold: the account's touches wait until `/ar resume CUSTOMER`. "
        "Send now: the next pass sends it (send window and cap apply)."
    ))  # fmt: skip
    return text, blocks


class Forewarner:
    """The forewarning step of each scheduler pass."""

    def __init__(self, settings: Settings, client: AsyncWebClient) -> None:
        self.settings = settings
        self.client = client

    @classmethod
    def from_settings(cls, settings: Settings) -> Forewarner | None:
        """None when Slack is off."""
        return cls(settings, slack_client(settings)) if settings.slack_enabled else None

    async def step(self, engine: AsyncEngine, now: datetime, worker: str) -> str | None:
        """DM each owner tomorrow's touches once the forewarning time has passed today."""
        day = forewarn_day(now, self.settings.zone, self.settings.forewarn_time)
        if day is None:
            return None
        async with engine.connect() as conn:
            per_owner = await tomorrows_touches(conn, day=day, zone=self.settings.zone, now=now)
        sent = failed = 0
        for owner, touches in sorted(per_owner.items()):
            if not await claim_forewarning(engine, owner=owner, day=day, worker=worker, now=now):
                continue  # sent already, here or by another worker
            text, blocks = forewarning_blocks(day, touches)
            try:
                await self.client.chat_postMessage(channel=owner, text=text, blocks=blocks)
            except SlackClientError as exc:
                await release_forewarning(engine, owner=owner, day=day, worker=worker)
                log.warning("forewarning to %s not sent: %s", owner, exc)
                failed += 1
                continue
            await forewarning_sent(engine, owner=owner, day=day, now=now)
            sent += 1
        if not sent and not failed:
            return None
        later = f", {failed} not (Slack refused; next pass tries again)" if failed else ""
        return f"forewarning of {day} sent to {sent} collector(s){later}"


def _value(body: dict[str, Any], model: type[BaseModel]) -> Any:
    try:
        return model.model_validate_json(body["actions"][0]["value"])
    except (KeyError, IndexError, ValidationError):
        return None


def register(app: AsyncApp, ctx: SlackContext) -> None:
    """Hold, Send now and Skip step."""

    async def act(body: dict[str, Any], respond: Any, client: AsyncWebClient,
                  model: type[BaseModel], work: Any) -> None:  # fmt: skip
        user = body["user"]["id"]
        if not await may(ctx, client, user):
            await respond(text=NOT_ON_TEAM, response_type="ephemeral", replace_original=False)
            return
        ref = _value(body, model)
        if ref is None:
            await respond(text="That button is out of date; run the command again.",
                          response_type="ephemeral", replace_original=False)  # fmt: skip
            return
        try:
            async with ctx.engine.begin() as conn:
                text = await work(conn, ref, user, ctx.now())
        except LedgerError as exc:
            text = f":warning: {exc}"
        await respond(text=text, response_type="ephemeral", replace_original=False)

    async def hold(conn: Any, ref: CustomerRef, user: str, now: datetime) -> str:
        if await hold_account(conn, customer_id=ref.customer_id, actor=user, now=now):
            return "Held: this account's touches wait until `/ar resume CUSTOMER`."
        return "This account is already held; `/ar resume CUSTOMER` releases it."

    async def now_(conn: Any, ref: EnrollmentRef, user: str, now: datetime) -> str:
        moved = await send_now(conn, enrollment_id=ref.enrollment_id, actor=user, now=now)
        return (f"Step {moved.left_step} of {moved.sequence} goes with the next pass "
                "(inside the customer's send window and the frequency cap).")  # fmt: skip

    async def skip(conn: Any, ref: EnrollmentRef, user: str, now: datetime) -> str:
        moved = await skip_step(conn, enrollment_id=ref.enrollment_id, actor=user, now=now,
                                at_step=ref.step)  # fmt: skip
        after = "the sequence is complete" if moved.next_step is None else (
            f"next is step {moved.next_step}")  # fmt: skip
        return f"Skipped step {moved.left_step} of {moved.sequence}; {after}."

    @app.action(str(Action.FOREWARN_HOLD))
    async def _hold(ack: Any, body: dict[str, Any], respond: Any, client: AsyncWebClient) -> None:
        await ack()
        await act(body, respond, client, CustomerRef, hold)

    @app.action(str(Action.FOREWARN_SEND_NOW))
    async def _send_now(
        ack: Any, body: dict[str, Any], respond: Any, client: AsyncWebClient
    ) -> None:
        await ack()
        await act(body, respond, client, EnrollmentRef, now_)

    @app.action(str(Action.SKIP_STEP))
    async def _skip(ack: Any, body: dict[str, Any], respond: Any, client: AsyncWebClient) -> None:
        await ack()
        await act(body, respond, client, EnrollmentRef, skip)
