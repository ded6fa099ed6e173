"""Block Kit pieces every Slack message of ARSeq is built from."""

from __future__ import annotations

from typing import Any

Block = dict[str, Any]
TEXT_LIMIT = 3000  # Slack refuses a section text longer than this


def section(text: str) -> Block:
    """A mrkdwn section."""
    return {"type": "section", "text": {"type": "mrkdwn", "text": text[:TEXT_LIMIT]}}


def context(text: str) -> Block:
    """A small grey mrkdwn line."""
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text[:TEXT_LIMIT]}]}


def mention(principal: str | None) -> str:
    """A user (`U…`/`W…`) or user group (`S…`) as a mention; `unassigned` for nobody."""
    if not principal:
        return "unassigned"
    return f"<!subteam^{principal}>" if principal.startswith("S") else f"<@{principal}>"


def escape(text: str) -> str:
    """Text from the ledger or a customer, safe inside mrkdwn (no stray mentions or links)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
