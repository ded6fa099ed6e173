"""Buttons and modals check roles as `/ar` does: user groups count, strangers change nothing."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

from sqlalchemy import select

from bot.slack.escalation_actions import resolve_view
from bot.slack.ids import Action, View
from bot.slack.roles import NOT_ON_TEAM
from bot.slack.task_blocks import task_value
from sequences.disputes import open_dispute
from storage.models import Dispute, Invoice, Pause, Task
from tests.bot.slack.harness import COLLECTOR, STRANGER, SlackHarness, harness_settings
from tests.bot.slack.test_builder import _open, _opened
from tests.bot.slack.test_tasks import NOW, _posted_task, _task
from tests.sequences.engine_helpers import add_customer, add_invoice

MANAGERS = "S0MANAGRS"
GROUP_MANAGER = "U0GRPMGR1"


def _whispers(fake, user: str) -> list[str]:
    return [c.args["text"] for c in fake.calls_to("chat.postEphemeral") if c.args["user"] == user]


async def test_a_manager_through_a_user_group_may_open_the_builder(engine, fake_slack):
    fake_slack.usergroups[MANAGERS] = [GROUP_MANAGER]
    settings = harness_settings(fake_slack, managers=[MANAGERS])
    async with SlackHarness(engine, fake_slack, now=NOW, settings=settings) as slack:
        await _open(slack, user=COLLECTOR)
        assert fake_slack.calls_to("views.open") == []
        await _open(slack, user=GROUP_MANAGER)
    assert _opened(fake_slack)["callback_id"] == View.SEQUENCE_BUILDER


async def test_a_stranger_can_not_press_task_buttons(engine, fake_slack):
    async with SlackHarness(engine, fake_slack, now=NOW) as slack:
        task_id, _ = await _posted_task(slack)
        for action in (Action.TASK_DONE, Action.TASK_SNOOZE_1D, Action.TASK_LOG_CALL):
            await slack.interact(slack.button(str(action), task_value(task_id), user=STRANGER))
    task = await _task(engine)
    assert task.state == "open" and task.done_by is None and task.snoozed_until is None
    assert fake_slack.calls_to("views.open") == []
    assert _whispers(fake_slack, STRANGER) == [NOT_ON_TEAM] * 3


async def test_a_collector_through_a_user_group_may_press_done(engine, fake_slack):
    fake_slack.usergroups["S0COLLECT"] = ["U0GRPCOL1"]
    settings = harness_settings(fake_slack, collectors=["S0COLLECT"])
    async with SlackHarness(engine, fake_slack, now=NOW, settings=settings) as slack:
        task_id, _ = await _posted_task(slack)
        await slack.interact(slack.button(str(Action.TASK_DONE), task_value(task_id),
                                          user="U0GRPCOL1"))  # fmt: skip
    task = await _task(engine)
    assert task.state == "done" and task.done_by == "U0GRPCOL1"


async def test_a_stranger_can_not_acknowledge_or_resolve_a_dispute(engine, fake_slack):
    customer = await add_customer(engine)
    invoice = await add_invoice(engine, customer, "INV-9", issued=date(2026, 1, 1),
                                due=date(2026, 2, 1), amount="250.00")  # fmt: skip
    async with engine.begin() as conn:
        dispute = await open_dispute(conn, invoice_id=invoice, reason="wrong quantity",
                                     actor=COLLECTOR, now=NOW)  # fmt: skip
    value = json.dumps({"dispute": dispute})
    values = {"resolution": {"value": {"type": "plain_text_input", "value": "credited"}},
              "credit": {"value": {"type": "plain_text_input", "value": "250.00"}}}  # fmt: skip
    submission = {
        "type": "view_submission", "user": {"id": STRANGER},
        "view": resolve_view(dispute, "INV-9") | {"id": "V1", "state": {"values": values}},
    }  # fmt: skip
    async with SlackHarness(engine, fake_slack, now=NOW) as slack:
        for action in (Action.ESCALATION_ACK, Action.ESCALATION_RESOLVE):
            await slack.interact(slack.button(str(action), value, user=STRANGER,
                                              channel="C0ESCAL01"))  # fmt: skip
        reply = await slack.interact(submission)
    assert reply.json == {"response_action": "errors", "errors": {"resolution": NOT_ON_TEAM}}
    assert fake_slack.calls_to("views.open") == []
    assert _whispers(fake_slack, STRANGER) == [NOT_ON_TEAM] * 2
    async with engine.connect() as conn:
        row = (await conn.execute(select(Dispute.__table__))).one()
        open_amount = await conn.scalar(select(Invoice.open_amount))
    assert row.status == "open" and row.acknowledged_at is None
    assert open_amount == Decimal("250.00")


async def test_a_stranger_can_not_pause_from_app_home(engine, fake_slack):
    customer = await add_customer(engine)
    value = json.dumps({"customer_id": customer})
    async with SlackHarness(engine, fake_slack, now=NOW) as slack:
        await slack.interact(slack.button(str(Action.HOME_PAUSE), value, user=STRANGER))
    async with engine.connect() as conn:
        assert (await conn.execute(select(Pause.__table__))).all() == []
        assert (await conn.execute(select(Task.__table__))).all() == []
    [dm] = [c for c in fake_slack.calls_to("chat.postMessage") if c.args["channel"] == STRANGER]
    assert dm.args["text"] == NOT_ON_TEAM
