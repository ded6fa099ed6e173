"""The sequence builder modal over signed requests: open, add/remove steps, preview, submit."""

from __future__ import annotations

import json
import time
from typing import Any

from sqlalchemy import select

from bot.slack.builder import edit_button
from bot.slack.ids import Action, View
from sequences.engine import tick
from sequences.store import stored_by_name
from storage.models import Sequence as SequenceRow
from tests.bot.slack.harness import COLLECTOR, MANAGER, SlackHarness
from tests.sequences.engine_helpers import add_customer, add_invoice, enrollments, utc

NOW = utc(2026, 3, 2, 10)


def _text(value: str) -> dict[str, Any]:
    return {"value": {"type": "plain_text_input", "value": value}}


def _select(value: str | None, action: str = "value") -> dict[str, Any]:
    option = {"value": value} if value else None
    return {action: {"type": "static_select", "selected_option": option}}


def _step(i: int, at: str, action: str, template: str | None = None, text: str = "") -> dict:
    return {
        f"step{i}_at": _text(at), f"step{i}_action": _select(action),
        f"step{i}_template": _select(template, str(Action.BUILDER_PREVIEW)),
        f"step{i}_text": _text(text),
    }  # fmt: skip


def _values(name: str, *steps: dict, trigger: str = "manual", frm: str = "09:00") -> dict:
    values = {
        "name": _text(name), "kind": _select("past_due"), "trigger": _select(trigger),
        "days": _text("mon-fri"), "from": _text(frm), "to": _text("17:00"),
        "exit_on": {"value": {"type": "multi_static_select",
                              "selected_options": [{"value": "paid"}]}},
    }  # fmt: skip
    for step in steps:
        values |= step
    return values


def _opened(fake) -> dict[str, Any]:
    return fake.calls_to("views.open")[-1].args["view"] | {"id": "V0BUILDER", "hash": "h1"}


def _in_view(view: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    return view | {"state": {"values": values}}


def _view_action(view: dict[str, Any], action: Action, value: str, user: str = MANAGER) -> dict:
    return {
        "type": "block_actions", "user": {"id": user}, "view": view,
        "container": {"type": "view", "view_id": view["id"]},
        "trigger_id": f"trigger-{time.monotonic_ns()}",
        "actions": [{"type": "button", "action_id": str(action), "block_id": "b", "value": value}],
    }  # fmt: skip


def _submission(view: dict[str, Any], user: str = MANAGER) -> dict[str, Any]:
    return {"type": "view_submission", "user": {"id": user}, "view": view}


def _block_ids(view: dict[str, Any]) -> list[str]:
    return [b.get("block_id", "") for b in view["blocks"]]


async def _open(slack, name: str | None = None, user: str = MANAGER):
    button = edit_button(name)
    return await slack.interact(slack.button(button["action_id"], button["value"], user=user))


async def test_the_modal_opens_for_a_manager_and_not_for_a_collector(engine, fake_slack):
    async with SlackHarness(engine, fake_slack, now=NOW) as slack:
        await _open(slack, user=COLLECTOR)
        assert fake_slack.calls_to("views.open") == []
        assert "for managers" in fake_slack.calls_to("response")[-1].args["text"]
        await _open(slack)
    view = _opened(fake_slack)
    assert view["callback_id"] == View.SEQUENCE_BUILDER
    ids = _block_ids(view)
    assert ids[:7] == ["name", "kind", "trigger", "days", "from", "to", "exit_on"]
    assert {"step0_at", "step0_action", "step0_template", "step0_text"} <= set(ids)


async def test_add_and_remove_step_update_the_view_keeping_what_was_typed(engine, fake_slack):
    async with SlackHarness(engine, fake_slack, now=NOW) as slack:
        await _open(slack)
        typed = _in_view(_opened(fake_slack), _values("my-seq", _step(0, "due+2d", "email")))
        await slack.interact(_view_action(typed, Action.BUILDER_ADD_STEP, "add"))
        added = fake_slack.calls_to("views.update")[-1].args
        assert added["view_id"] == "V0BUILDER"
        assert "step1_at" in _block_ids(added["view"])
        name = next(b for b in added["view"]["blocks"] if b.get("block_id") == "name")
        assert name["element"]["initial_value"] == "my-seq"
        steps = (_step(0, "due+2d", "email"), _step(1, "due+9d", "task", text="Call"))
        two = _in_view(added["view"] | {"id": "V0BUILDER"}, _values("my-seq", *steps))
        await slack.interact(_view_action(two, Action.BUILDER_REMOVE_STEP, '{"index": 0}'))
    removed = fake_slack.calls_to("views.update")[-1].args["view"]
    assert "step1_at" not in _block_ids(removed)
    at = next(b for b in removed["blocks"] if b.get("block_id") == "step0_at")
    assert at["element"]["initial_value"] == "due+9d"  # the second step is now the first


async def test_choosing_a_template_shows_its_preview_for_a_sample_customer(engine, fake_slack):
    async with SlackHarness(engine, fake_slack, now=NOW) as slack:
        await _open(slack)
        view = _in_view(_opened(fake_slack),
                        _values("x", _step(0, "due+1d", "email", "past_due_gentle")))  # fmt: skip
        payload = _view_action(view, Action.BUILDER_PREVIEW, "")
        payload["actions"] = [{"type": "static_select", "action_id": str(Action.BUILDER_PREVIEW),
                               "block_id": "step0_template",
                               "selected_option": {"value": "past_due_gentle"}}]  # fmt: skip
        await slack.interact(payload)
    shown = json.dumps(fake_slack.calls_to("views.update")[-1].args["view"])
    assert "Preview for a sample customer" in shown
    assert "invoice INV-1001 is past due" in shown and "$1,250.00" in shown


async def test_a_submission_with_errors_shows_them_per_field_and_stores_nothing(engine, fake_slack):
    async with SlackHarness(engine, fake_slack, now=NOW) as slack:
        await _open(slack)
        bad = _values("Bad Name!", _step(0, "due+soon", "email"), frm="25:00")
        reply = await slack.interact(_submission(_in_view(_opened(fake_slack), bad)))
        no_template = _values("ok-name", _step(0, "due+1d", "email"))
        second = await slack.interact(_submission(_in_view(_opened(fake_slack), no_template)))
    assert reply.json["response_action"] == "errors"
    errors = reply.json["errors"]
    assert set(errors) == {"name", "step0_at", "from"}
    assert errors["name"].startswith("String should match pattern")
    assert "bad offset 'due+soon'" in errors["step0_at"]
    assert "bad time '25:00'" in errors["from"]
    assert second.json["errors"] == {
        "step0_action": "a send step needs a template or an inline body (template: NAME)"
    }
    async with engine.connect() as conn:
        assert (await conn.execute(select(SequenceRow.__table__))).all() == []


async def test_unknown_template_and_a_taken_name_are_refused(engine, fake_slack):
    await tick(engine, now=NOW)  # stores the built-in library
    async with SlackHarness(engine, fake_slack, now=NOW) as slack:
        await _open(slack)
        bad = _values("past-due-standard", _step(0, "due+1d", "email", "past_due_gentel"),
                      trigger="invoice_overdue")  # fmt: skip
        reply = await slack.interact(_submission(_in_view(_opened(fake_slack), bad)))
    errors = reply.json["errors"]
    assert "exists" in errors["name"]
    assert (
        "template 'past_due_gentel' not found (did you mean 'past_due_gentle'?)"
        in (errors["step0_template"])
    )


async def test_a_valid_submission_stores_a_new_sequence_and_answers_ephemerally(engine, fake_slack):
    async with SlackHarness(engine, fake_slack, now=NOW) as slack:
        await _open(slack)
        await slack.interact(_view_action(_opened(fake_slack), Action.BUILDER_ADD_STEP, "add"))
        two_steps = fake_slack.calls_to("views.update")[-1].args["view"] | {"id": "V0BUILDER"}
        good = _values("chase-light", _step(0, "due+2d", "email", "past_due_gentle"),
                       _step(1, "due+9d", "task", text="Call {{ customer.name }}"))  # fmt: skip
        reply = await slack.interact(_submission(_in_view(two_steps, good)))
    assert reply.status == 200 and not reply.text
    async with engine.connect() as conn:
        stored = await stored_by_name(conn, "chase-light")
    assert stored is not None and stored.version == 1
    assert [s.at for s in stored.sequence.steps] == ["due+2d", "due+9d"]
    assert stored.sequence.steps[1].task == "Call {{ customer.name }}"
    (answer,) = fake_slack.ephemeral
    assert (answer["channel"], answer["user"], answer["text"]) == (
        "C0TASKS01", MANAGER,
        "Saved *chase-light* version 1; new enrollments use it, running ones keep theirs.",
    )  # fmt: skip


async def test_edit_stores_a_new_version_and_running_enrollments_keep_theirs(engine, fake_slack):
    customer = await add_customer(engine)
    await add_invoice(engine, customer, "INV-1", issued=utc(2026, 1, 1).date(),
                      due=utc(2026, 2, 1).date())  # fmt: skip
    await tick(engine, now=NOW)
    running = {e.sequence_id for e in await enrollments(engine)}
    async with SlackHarness(engine, fake_slack, now=NOW) as slack:
        await _open(slack, "past-due-standard")
        view = _opened(fake_slack)
        assert "name" not in _block_ids(view)  # the name of an edit is fixed
        metadata = json.loads(view["private_metadata"])
        assert metadata["draft"]["steps"][3]["extra"] == {"repeat": {"every": "5d", "times": 4}}
        values = {k: v for k, v in _values("ignored").items() if k != "name"}
        values["from"] = _text("10:00")
        reply = await slack.interact(_submission(_in_view(view, values)))
        assert reply.status == 200 and not reply.text
        await _open(slack, "no-such-sequence")
    assert "no sequence named 'no-such-sequence'" in fake_slack.calls_to("response")[-1].args[
        "text"]  # fmt: skip
    async with engine.connect() as conn:
        stored = await stored_by_name(conn, "past-due-standard")
        versions = (await conn.execute(select(SequenceRow.id, SequenceRow.version).where(
            SequenceRow.name == "past-due-standard"))).all()  # fmt: skip
    assert stored is not None and stored.version == 2
    assert f"{stored.sequence.send_window.from_:%H:%M}" == "10:00"
    assert stored.sequence.steps[3].repeat is not None  # kept through the edit
    assert stored.sequence.steps[1].variants == ("past_due_firm", "past_due_firm_short")
    assert {e.sequence_id for e in await enrollments(engine)} == running
    assert len(versions) == 2
