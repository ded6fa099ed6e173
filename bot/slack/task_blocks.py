"""A collector task's Slack message: what to do, about whom, its state, and its buttons.

The same builder makes the first post and every update in place, so a message always
shows the task as the database has it. Each kind of task (a sequence's call, a broken
promise, a bounce, a blocked Telegram chat, a reply, an "I've paid" claim) has its icon
and the words of its Done button.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from bot.slack.blocks import Block, context, escape, mention, section
from bot.slack.ids import Action
from sequences.tasks import TaskView
from sequences.templates import money

# kind: (icon, what the kind is, Done button label)
KINDS: dict[str, tuple[str, str, str]] = {
    "sequence_task": (":telephone_receiver:", "follow-up", "Done"),
    "broken_promise": (":broken_heart:", "broken promise", "Done"),
    "bounced": (":envelope_with_arrow:", "email bounced", "Address fixed"),
    "telegram_blocked": (":no_entry_sign:", "Telegram chat blocked", "Contact fixed"),
    "unreachable": (":mag:", "no channel reached them", "Reached them"),
    "contact_dead": (":warning:", "dead contact", "Contact fixed"),
    "reply": (":speech_balloon:", "customer replied", "Answered"),
    "paid_claim": (":moneybag:", "says they paid: verify", "Payment verified"),
    "escalation": (":rotating_light:", "escalation", "Done"),
}
DEFAULT_KIND = (":clipboard:", "task", "Done")


def task_value(task_id: int) -> str:
    """A task button's typed value."""
    return json.dumps({"task": task_id})


def task_id_of(value: str | None) -> int:
    """The task id a button's value names (ValueError for anything else)."""
    data = json.loads(value or "")
    if not isinstance(data, dict) or not isinstance(data.get("task"), int):
        raise ValueError(f"not a task button value: {value!r}")
    return int(data["task"])


def when(instant: datetime) -> str:
    """An instant in each reader's own time zone (Slack formats it), with a UTC fallback."""
    fallback = instant.strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{int(instant.timestamp())}^{{date_short_pretty}} {{time}}|{fallback}>"


def _button(action: Action, label: str, value: str, style: str | None = None) -> Block:
    button: Block = {"type": "button", "action_id": str(action), "value": value,
                     "text": {"type": "plain_text", "text": label}}  # fmt: skip
    if style:
        button["style"] = style
    return button


def _about(task: TaskView, now: datetime) -> str:
    parts = [escape(task.customer)] if task.customer else []
    if task.invoice:
        parts.append(f"invoice {escape(task.invoice)}")
    if task.open_amount is not None and task.currency:
        parts.append(money(task.open_amount, task.currency))
    if task.due_date is not None and (late := (now.date() - task.due_date).days) > 0:
        parts.append(f"{late} day{'s' if late != 1 else ''} overdue")
    return " · ".join(parts)


def _state_line(task: TaskView) -> str | None:
    if task.state == "done":
        who = mention(task.done_by) if task.done_by else "someone"
        at = f" {when(task.done_at)}" if task.done_at else ""
        said = f" ({escape(task.outcome)})" if task.outcome else ""
        return f":white_check_mark: Done by {who}{at}{said}"
    if task.state == "cancelled":
        return ":heavy_multiplication_x: Cancelled"
    lines = []
    if task.state == "snoozed" and task.snoozed_until is not None:
        lines.append(f":zzz: Snoozed until {when(task.snoozed_until)}")
    if task.outcome:
        lines.append(f":telephone_receiver: Last call: {escape(task.outcome)}")
    return "\n".join(lines) or None


def task_actions(task: TaskView) -> Block:
    """The buttons of a live task (no snooze while snoozed: it comes back by itself)."""
    _, _, done = KINDS.get(task.kind, DEFAULT_KIND)
    value = task_value(task.id)
    elements = [_button(Action.TASK_DONE, done, value, "primary")]
    if task.state == "open":
        elements += [_button(Action.TASK_SNOOZE_1D, "Snooze 1d", value),
                     _button(Action.TASK_SNOOZE_3D, "Snooze 3d", value)]  # fmt: skip
    elements.append({
        "type": "users_select", "action_id": str(Action.TASK_REASSIGN),
        "placeholder": {"type": "plain_text", "text": "Reassign"},
        **({"initial_user": task.assignee} if task.assignee and task.assignee[0] in "UW" else {}),
    })  # fmt: skip
    elements.append(_button(Action.TASK_LOG_CALL, "Log call", value))
    # The select's value cannot carry the task: the block id does.
    return {"type": "actions", "block_id": f"task:{task.id}", "elements": elements}


def task_message(task: TaskView, *, now: datetime, managers: list[str]) -> tuple[str, list[Block]]:
    """The message of a task: (notification text, blocks)."""
    icon, what, _ = KINDS.get(task.kind, DEFAULT_KIND)
    if task.kind == "escalation":
        who = " ".join(mention(m) for m in managers) or "managers (ARSEQ_MANAGERS not set)"
    else:
        who = mention(task.assignee)
    title = escape(task.title)
    if task.state == "done":
        title = f"~{title}~"
    blocks = [section(f"{icon} *{title}*\n{who}")]
    if task.body:
        blocks.append(section(escape(task.body)))
    about = _about(task, now)
    blocks.append(context(f"{about + ' · ' if about else ''}task #{task.id} ({what})"))
    if (state := _state_line(task)) is not None:
        blocks.append(context(state))
    if task.live:
        blocks.append(task_actions(task))
    return f"{escape(task.title)} ({who})", blocks


def block_task_id(body: dict[str, Any]) -> int:
    """The task a select in a task message belongs to (from its block id)."""
    block_id = str(body["actions"][0].get("block_id", ""))
    if not block_id.startswith("task:"):
        raise ValueError(f"not a task block: {block_id!r}")
    return int(block_id.removeprefix("task:"))
