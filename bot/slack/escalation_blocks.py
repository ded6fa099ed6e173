"""A dispute's Slack message and its thread replies, from its escalation as stored.

One renderer for the message at every stage (new, escalated to level n, acknowledged,
resolved, exhausted), so an update in place shows exactly what the database holds.
"""

from __future__ import annotations

import json

from bot.slack.blocks import Block, context, escape, mention, section
from bot.slack.ids import Action
from bot.slack.task_blocks import when
from sequences.team_posts import EscalationView
from sequences.templates import money

SLACK_ID_PREFIXES = ("U", "W", "S")


def dispute_value(dispute_id: int) -> str:
    """An escalation button's typed value."""
    return json.dumps({"dispute": dispute_id})


def dispute_id_of(value: str | None) -> int:
    """The dispute a button's value (or a modal's metadata) names; ValueError otherwise."""
    data = json.loads(value or "")
    if not isinstance(data, dict) or not isinstance(data.get("dispute"), int):
        raise ValueError(f"not a dispute value: {value!r}")
    return int(data["dispute"])


def who(actor: str | None) -> str:
    """A Slack user as a mention; anyone else (telegram, email, contact) by name."""
    if not actor:
        return "unknown"
    looks_like_slack = actor[0] in SLACK_ID_PREFIXES and actor[1:].isalnum() and actor.isupper()
    return mention(actor) if looks_like_slack else escape(actor)


def targets_of(
    targets: tuple[str, ...], *, managers: list[str], collectors: list[str], owner: str | None
) -> list[str]:
    """The Slack ids an escalation step's targets stand for (`team`: the channel itself)."""
    ids: list[str] = []
    for target in targets:
        found = {"managers": managers, "collectors": collectors, "owner": [owner] if owner else [],
                 "team": []}.get(target, [target])  # fmt: skip
        ids += [i for i in found if i not in ids]
    return ids


def _status(view: EscalationView) -> str:
    if view.dispute_status == "resolved" or view.state == "resolved":
        credit = (
            f", credit note {money(view.credit_amount, view.currency)}"
            if view.credit_amount
            else ""
        )
        said = f": {escape(view.resolution)}" if view.resolution else ""
        at = f" {when(view.resolved_at)}" if view.resolved_at else ""
        return f":white_check_mark: Resolved by {who(view.resolved_by)}{at}{said}{credit}"
    if view.dispute_status == "acknowledged" or view.state == "acknowledged":
        at = f" {when(view.acknowledged_at)}" if view.acknowledged_at else ""
        return f":eyes: Acknowledged by {who(view.acknowledged_by)}{at}: escalation stopped"
    total = len(view.chain)
    reached = f"Escalation level {view.level} of {total}" if view.level else "Not escalated yet"
    if view.level:
        reached += f": {', '.join(view.chain[view.level - 1].targets)}"
    if view.state == "exhausted":
        return f":warning: {reached}; every level done, still unacknowledged"
    nxt = f"; next {when(view.next_at)}" if view.next_at else ""
    return f":hourglass_flowing_sand: {reached}{nxt}"


def escalation_message(view: EscalationView) -> tuple[str, list[Block]]:
    """The dispute's message: (notification text, blocks)."""
    amount = money(view.open_amount, view.currency)
    title = f"Dispute on invoice {escape(view.invoice)}"
    if view.dispute_status == "resolved":
        title = f"~{title}~"
    blocks = [
        section(
            f":rotating_light: *{title}* · {escape(view.customer)}\n"
            f"*Amount:* {amount}\n*Reason:* {escape(view.reason)}\n"
            f"Opened by {who(view.opened_by)} {when(view.opened_at)}"
        ),
        context(_status(view)),
    ]
    value = dispute_value(view.dispute_id)
    buttons: list[Block] = []
    if view.dispute_status == "open":
        buttons.append({"type": "button", "action_id": str(Action.ESCALATION_ACK), "value": value,
                        "style": "primary",
                        "text": {"type": "plain_text", "text": "Acknowledge"}})  # fmt: skip
    if view.dispute_status != "resolved":
        buttons.append({"type": "button", "action_id": str(Action.ESCALATION_RESOLVE),
                        "value": value,
                        "text": {"type": "plain_text", "text": "Resolve"}})  # fmt: skip
    if buttons:
        blocks.append({"type": "actions", "block_id": f"dispute:{view.dispute_id}",
                       "elements": buttons})  # fmt: skip
    text = f"Dispute on invoice {escape(view.invoice)} ({escape(view.customer)}, {amount})"
    return text, blocks


def escalation_reply(view: EscalationView, step: int, mentions: list[str]) -> str:
    """The thread reply of an escalation step: who is called, and why."""
    called = " ".join(mention(m) for m in mentions)
    return (
        f"{called} the dispute on invoice {escape(view.invoice)} ({escape(view.customer)}) is "
        f"still unacknowledged: escalation level {step + 1} of {len(view.chain)}."
    )
