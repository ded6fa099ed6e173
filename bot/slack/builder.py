"""The sequence builder modal: open it (new, or Edit), add and remove steps, preview, save.

Managers only. `/ar sequence new` calls `open_builder` with the command's trigger id;
the Edit button of `/ar sequence show` is `edit_button(name)`. A submission is checked
with the definition rules; problems come back next to their fields and nothing is
stored, a valid one is stored as a new version and confirmed ephemerally.
"""

from __future__ import annotations

import logging
from typing import Any

from pydantic import BaseModel, ValidationError
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack.app import SlackContext
from bot.slack.blocks import Block
from bot.slack.builder_blocks import BuilderState, StepRef, builder_view, read_state
from bot.slack.ids import Action, View
from bot.slack.roles import may
from sequences.builder import (
    BuilderError,
    Draft,
    add_step,
    check_draft,
    draft_of,
    remove_step,
    save_draft,
)
from sequences.store import stored_by_name
from sequences.templates import LIBRARY_TEMPLATES
from storage.models import Role

log = logging.getLogger("arseq.slack")

MANAGERS_ONLY = "Sorry, creating and editing sequences is for managers (ARSEQ_MANAGERS)."


class EditRef(BaseModel):
    """The Edit button's value: the sequence to edit (None: a new one)."""

    name: str | None = None


def edit_button(name: str | None) -> Block:
    """The button that opens the builder on sequence `name` (None: a new sequence)."""
    text = "Edit" if name else "New sequence"
    return {
        "type": "button",
        "text": {"type": "plain_text", "text": text},
        "action_id": str(Action.BUILDER_EDIT),
        "value": EditRef(name=name).model_dump_json(),
    }


async def open_builder(
    ctx: SlackContext,
    client: AsyncWebClient,
    *,
    trigger_id: str,
    channel: str | None,
    name: str | None = None,
) -> str | None:
    """Open the modal (on sequence `name` for an edit); a message for the user when not."""
    dirs = (LIBRARY_TEMPLATES,)
    if name is None:
        draft = Draft()
    else:
        async with ctx.engine.connect() as conn:
            stored = await stored_by_name(conn, name)
        if stored is None:
            return f"There is no sequence named '{name}'; `/ar sequences` lists them."
        draft, dirs = draft_of(stored.sequence), stored.template_dirs
    view = builder_view(
        BuilderState(draft=draft, channel=channel), today=ctx.now().date(), template_dirs=dirs
    )
    await client.views_open(trigger_id=trigger_id, view=view)
    return None


async def _template_dirs(ctx: SlackContext, draft: Draft) -> tuple[Any, ...]:
    if draft.editing is None:
        return (LIBRARY_TEMPLATES,)
    async with ctx.engine.connect() as conn:
        stored = await stored_by_name(conn, draft.editing)
    return stored.template_dirs if stored is not None else (LIBRARY_TEMPLATES,)


def register(app: AsyncApp, ctx: SlackContext) -> None:
    """The Edit / New button, the modal's buttons and its submission."""

    @app.action(str(Action.BUILDER_EDIT))
    async def _edit(ack: Any, body: dict[str, Any], client: AsyncWebClient, respond: Any) -> None:
        await ack()
        user = body["user"]["id"]
        if not await may(ctx, client, user, Role.MANAGER):
            await respond(text=MANAGERS_ONLY, response_type="ephemeral", replace_original=False)
            return
        try:
            ref = EditRef.model_validate_json(body["actions"][0]["value"])
        except (KeyError, IndexError, ValidationError):
            ref = EditRef()
        channel = (body.get("channel") or {}).get("id")
        problem = await open_builder(
            ctx, client, trigger_id=body["trigger_id"], channel=channel, name=ref.name
        )
        if problem:
            await respond(text=problem, response_type="ephemeral", replace_original=False)

    async def redraw(body: dict[str, Any], client: AsyncWebClient, change: Any) -> None:
        view = body["view"]
        state = read_state(view)
        try:
            state = BuilderState(draft=change(state.draft), channel=state.channel)
        except BuilderError as exc:
            log.info("builder change refused: %s", exc)  # the view stays as it is
            return
        dirs = await _template_dirs(ctx, state.draft)
        await client.views_update(
            view_id=view["id"],
            hash=view.get("hash"),
            view=builder_view(state, today=ctx.now().date(), template_dirs=dirs),
        )

    @app.action(str(Action.BUILDER_ADD_STEP))
    async def _add(ack: Any, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        await redraw(body, client, add_step)

    @app.action(str(Action.BUILDER_REMOVE_STEP))
    async def _remove(ack: Any, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        index = StepRef.model_validate_json(body["actions"][0]["value"]).index
        await redraw(body, client, lambda draft: remove_step(draft, index))

    @app.action(str(Action.BUILDER_PREVIEW))
    async def _preview(ack: Any, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        await redraw(body, client, lambda draft: draft)

    @app.view(str(View.SEQUENCE_BUILDER))
    async def _submit(ack: Any, body: dict[str, Any], client: AsyncWebClient) -> None:
        user = body["user"]["id"]
        if not await may(ctx, client, user, Role.MANAGER):
            await ack(response_action="errors", errors={"kind": MANAGERS_ONLY})
            return
        state = read_state(body["view"])
        dirs = await _template_dirs(ctx, state.draft)
        async with ctx.engine.begin() as conn:
            sequence, errors = await check_draft(conn, state.draft, dirs)
            if sequence is None:
                if state.draft.editing and "name" in errors:  # an edit shows no name field
                    errors["kind"] = errors.pop("name")
                await ack(response_action="errors", errors=errors)
                return
            result = await save_draft(conn, sequence, actor=user, now=ctx.now(), template_dirs=dirs)
        await ack()
        text = (
            f"Saved *{result.name}* version {result.version}; new enrollments use it, "
            "running ones keep theirs."
            if result.changed
            else f"*{result.name}* is unchanged (version {result.version})."
        )
        try:
            if state.channel:
                await client.chat_postEphemeral(channel=state.channel, user=user, text=text)
            else:
                await client.chat_postMessage(channel=user, text=text)
        except SlackClientError as exc:
            log.warning("builder confirmation not shown to %s: %s", user, exc)
