"""The sequence builder modal's view, and reading a draft back from its state.

Every field is an input block whose `block_id` is the draft field it edits (`name`,
`trigger`, `step2_at`...), so validation errors are shown next to it. The draft itself
rides in `private_metadata` (`BuilderState`); the inputs' state wins when the view
comes back, so nothing typed is lost on Add step / Remove step.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from bot.slack.blocks import Block, context, section
from bot.slack.ids import Action, View
from sequences.builder import ACTIONS, Draft, DraftStep, preview_step
from sequences.definitions import ExitEvent, Kind, Trigger
from sequences.templates import LIBRARY_TEMPLATES, available

VALUE = "value"  # the action_id of every plain input
ACTION_LABELS = {
    "email": "Send email",
    "telegram": "Send Telegram",
    "preferred": "Send on the preferred channel",
    "task": "Collector task",
    "escalate": "Escalate",
}


class BuilderState(BaseModel):
    """The modal's `private_metadata`: the draft and where to answer the user."""

    draft: Draft
    channel: str | None = None


class StepRef(BaseModel):
    """A Remove step button's value."""

    index: int


def _option(value: str, label: str | None = None) -> dict[str, Any]:
    return {"text": {"type": "plain_text", "text": (label or value)[:75]}, "value": value}


def _text_input(
    block_id: str, label: str, value: str, *, optional: bool = False, hint: str | None = None
) -> Block:
    element: Block = {"type": "plain_text_input", "action_id": VALUE}
    if value:
        element["initial_value"] = value
    block: Block = {
        "type": "input",
        "block_id": block_id,
        "optional": optional,
        "label": {"type": "plain_text", "text": label},
        "element": element,
    }
    if hint:
        block["hint"] = {"type": "plain_text", "text": hint}
    return block


def _select(
    block_id: str,
    label: str,
    options: list[dict[str, Any]],
    selected: str | None,
    *,
    optional: bool = False,
    action_id: str = VALUE,
    dispatch: bool = False,
) -> Block:
    element: Block = {"type": "static_select", "action_id": action_id, "options": options}
    chosen = next((o for o in options if o["value"] == selected), None)
    if chosen is not None:
        element["initial_option"] = chosen
    block: Block = {
        "type": "input",
        "block_id": block_id,
        "optional": optional,
        "label": {"type": "plain_text", "text": label},
        "element": element,
    }
    if dispatch:
        block["dispatch_action"] = True
    return block


def _button(text: str, action: Action, value: str) -> Block:
    return {
        "type": "button",
        "text": {"type": "plain_text", "text": text},
        "action_id": str(action),
        "value": value,
    }


def _step_blocks(
    i: int, step: DraftStep, templates: list[str], today: date, dirs: tuple[Path, ...]
) -> list[Block]:
    remove = _button("Remove step", Action.BUILDER_REMOVE_STEP, StepRef(index=i).model_dump_json())
    blocks = [
        {**section(f"*Step {i + 1}*"), "accessory": remove},
        _text_input(f"step{i}_at", "At", step.at, hint="due+7d, due-3d, issued, start+2bd"),
        _select(
            f"step{i}_action",
            "Action",
            [_option(a, ACTION_LABELS[a]) for a in ACTIONS],
            step.action,
        ),
        _select(
            f"step{i}_template",
            "Template (message steps)",
            [_option(t) for t in templates],
            step.template,
            optional=True,
            action_id=str(Action.BUILDER_PREVIEW),
            dispatch=True,
        ),
        _text_input(
            f"step{i}_text",
            "Task text, or escalation targets",
            step.text,
            optional=True,
            hint="e.g. Call {{ customer.name }}; or: managers",
        ),
    ]
    if preview := preview_step(step, today=today, template_dirs=dirs):
        blocks.append(context(f"Preview for a sample customer:\n{preview}"))
    if step.extra:
        blocks.append(context("Kept from the definition: " + ", ".join(sorted(step.extra))))
    return blocks


def builder_view(
    state: BuilderState, *, today: date, template_dirs: tuple[Path, ...] = (LIBRARY_TEMPLATES,)
) -> Block:
    """The modal for `state` (new sequence, or an edit of `state.draft.editing`)."""
    draft = state.draft
    templates = available(template_dirs)
    blocks: list[Block] = []
    if draft.editing:
        blocks.append(
            context(
                f"Editing *{draft.editing}*: saving stores a new version; "
                "running enrollments keep theirs."
            )
        )
    else:
        blocks.append(_text_input("name", "Name", draft.name, hint="e.g. past-due-gentle"))
    blocks += [
        _select("kind", "Kind", [_option(k) for k in Kind], draft.kind),
        _select("trigger", "Trigger", [_option(t) for t in Trigger], draft.trigger),
        _text_input("days", "Send window: days", draft.days, hint="mon-fri, or mon,wed,fri"),
        _text_input("from", "Send window: from", draft.from_, hint="HH:MM, customer's time"),
        _text_input("to", "Send window: to", draft.to, hint="HH:MM"),
    ]
    exits = [_option(e) for e in ExitEvent]
    exit_on: Block = {"type": "multi_static_select", "action_id": VALUE, "options": exits}
    if chosen := [o for o in exits if o["value"] in draft.exit_on]:
        exit_on["initial_options"] = chosen
    blocks.append(
        {
            "type": "input",
            "block_id": "exit_on",
            "optional": True,
            "label": {"type": "plain_text", "text": "Exit on"},
            "element": exit_on,
        }
    )
    for i, step in enumerate(draft.steps):
        blocks += _step_blocks(i, step, templates, today, template_dirs)
    blocks.append(
        {
            "type": "actions",
            "block_id": "builder_actions",
            "elements": [_button("Add step", Action.BUILDER_ADD_STEP, "add")],
        }
    )
    title = "Edit sequence" if draft.editing else "New sequence"
    return {
        "type": "modal",
        "callback_id": str(View.SEQUENCE_BUILDER),
        "title": {"type": "plain_text", "text": title},
        "submit": {"type": "plain_text", "text": "Save"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "private_metadata": state.model_dump_json(by_alias=True),
        "blocks": blocks,
    }


def _read(values: dict[str, Any], block_id: str) -> Any:
    """The value of one input: text, a selected option's value, or selected values."""
    element = next(iter(values.get(block_id, {}).values()), None)
    if element is None:
        return None
    if "selected_options" in element:
        return [o["value"] for o in element["selected_options"] or []]
    if "selected_option" in element:
        option = element["selected_option"]
        return option["value"] if option else None
    return element.get("value")


def read_state(view: dict[str, Any]) -> BuilderState:
    """The modal's state: its metadata's draft with what the user typed laid over it."""
    state = BuilderState.model_validate_json(view["private_metadata"])
    values = view.get("state", {}).get("values", {})
    draft = state.draft
    fields: dict[str, Any] = {}
    for key, block in (
        ("name", "name"),
        ("kind", "kind"),
        ("trigger", "trigger"),
        ("days", "days"),
        ("from_", "from"),
        ("to", "to"),
    ):
        if block in values:
            fields[key] = _read(values, block) or ""
    if "exit_on" in values:
        fields["exit_on"] = _read(values, "exit_on") or []
    steps = []
    for i, step in enumerate(draft.steps):
        update: dict[str, Any] = {}
        if f"step{i}_at" in values:
            update["at"] = _read(values, f"step{i}_at") or ""
        if action := _read(values, f"step{i}_action"):
            update["action"] = action
        if f"step{i}_template" in values:
            update["template"] = _read(values, f"step{i}_template")
        if f"step{i}_text" in values:
            update["text"] = _read(values, f"step{i}_text") or ""
        steps.append(step.model_copy(update=update))
    fields["steps"] = steps
    return BuilderState(draft=draft.model_copy(update=fields), channel=state.channel)
