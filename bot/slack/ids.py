"""Every Slack `action_id`, modal `callback_id` and App Home id ARSeq uses, in one place.

Handlers register on these and Block Kit builders emit them, so a renamed id cannot
leave a button without its handler. A button's `value` and a modal's
`private_metadata` carry typed JSON (see `bot/slack/payloads.py`).
"""

from __future__ import annotations

from enum import StrEnum


class Action(StrEnum):
    """Buttons and selects."""

    # Forewarning DM and `/ar sequence show` (bot/slack/forewarning.py)
    FOREWARN_HOLD = "forewarn_hold"
    FOREWARN_SEND_NOW = "forewarn_send_now"
    SKIP_STEP = "enrollment_skip_step"
    # Sequence builder modal (bot/slack/builder.py)
    BUILDER_ADD_STEP = "builder_add_step"
    BUILDER_REMOVE_STEP = "builder_remove_step"
    BUILDER_PREVIEW = "builder_preview"
    BUILDER_EDIT = "builder_edit"
    # App Home (bot/slack/home.py)
    HOME_STATUS = "home_status"
    HOME_PAUSE = "home_pause"
    # Collector task messages (bot/slack/task_actions.py)
    TASK_DONE = "task_done"
    TASK_SNOOZE_1D = "task_snooze_1d"
    TASK_SNOOZE_3D = "task_snooze_3d"
    TASK_REASSIGN = "task_reassign"
    TASK_LOG_CALL = "task_log_call"
    # Dispute escalation messages (bot/slack/escalation_actions.py)
    ESCALATION_ACK = "escalation_ack"
    ESCALATION_RESOLVE = "escalation_resolve"


class View(StrEnum):
    """Modals (their `callback_id`)."""

    SEQUENCE_BUILDER = "sequence_builder"
    LOG_CALL = "task_log_call_modal"
    RESOLVE_DISPUTE = "dispute_resolve_modal"
