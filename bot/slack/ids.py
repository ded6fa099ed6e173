"""Every Slack `action_id`, modal `callback_id` and App Home id ARSeq uses, in one place.

Handlers register on these and Block Kit builders emit them, so a renamed id cannot
leave a button without its handler. A button's `value` and a modal's
`private_metadata` carry typed JSON (see `bot/slack/payloads.py`).
"""

from __future__ import annotations

from enum import StrEnum


class Action(StrEnum):
    """Buttons and selects."""


class View(StrEnum):
    """Modals (their `callback_id`)."""
