"""The App Home view of one collector: open tasks, and accounts needing attention."""

from __future__ import annotations

from typing import Any

from bot.slack.blocks import Block, context, escape, section
from bot.slack.forewarning import CustomerRef
from bot.slack.ids import Action
from bot.slack.task_blocks import task_value
from sequences.attention import Attention
from sequences.templates import money


def _button(text: str, action: Action, value: str, style: str | None = None) -> Block:
    button: Block = {"type": "button", "text": {"type": "plain_text", "text": text},
                     "action_id": str(action), "value": value}  # fmt: skip
    if style:
        button["style"] = style
    return button


def _account_buttons(customer_id: int) -> Block:
    value = CustomerRef(customer_id=customer_id).model_dump_json()
    return {"type": "actions", "elements": [
        _button("Status", Action.HOME_STATUS, value),
        _button("Pause", Action.HOME_PAUSE, value),
    ]}  # fmt: skip


def _header(text: str) -> Block:
    return {"type": "header", "text": {"type": "plain_text", "text": text}}


def home_view(data: Attention) -> dict[str, Any]:
    """The Home tab for `views.publish`."""
    blocks: list[Block] = [_header(f"Your open tasks ({len(data.tasks)})")]
    if not data.tasks:
        blocks.append(context("Nothing open. :tada:"))
    for task in data.tasks:
        about = f" · {escape(task.customer)}" if task.customer else ""
        blocks.append(section(f"*{escape(task.title)}*{about}\n_{task.kind}, task #{task.id}_"))
        value = task_value(task.id)
        blocks.append({"type": "actions", "elements": [
            _button("Done", Action.TASK_DONE, value, "primary"),
            _button("Snooze 1d", Action.TASK_SNOOZE_1D, value),
        ]})  # fmt: skip
    blocks.append({"type": "divider"})
    blocks.append(_header("Your accounts needing attention"))
    if not (data.overdue or data.broken_promises or data.disputes):
        blocks.append(context("None of your accounts needs attention."))
    for row in data.overdue:
        blocks.append(section(
            f"*{escape(row.name)}* ({escape(row.external_id)}): {money(row.amount, row.currency)} "
            f"overdue on {row.invoices} invoice(s), the oldest due {row.oldest_due:%d %b %Y}"
        ))  # fmt: skip
        blocks.append(_account_buttons(row.customer_id))
    for row in data.broken_promises:
        amount = f" {money(row.amount)}" if row.amount is not None else ""
        what = f"broke a promise{amount} for {escape(row.number)} due {row.promised_date:%d %b}"
        blocks.append(section(f":broken_heart: *{escape(row.name)}* {what}"))
        blocks.append(_account_buttons(row.customer_id))
    for row in data.disputes:
        state = "acknowledged" if row.acknowledged else "not acknowledged"
        blocks.append(section(f":warning: *{escape(row.name)}* disputes {escape(row.number)} "
                              f"({state}): {escape(row.reason)}"))  # fmt: skip
        blocks.append(_account_buttons(row.customer_id))
    return {"type": "home", "blocks": blocks[:100]}
