"""Collector task buttons through the real endpoint: each button, the Log call modal, in place."""

from __future__ import annotations

import asyncio
import json
from datetime import date, timedelta
from decimal import Decimal

from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import select

from bot.slack.ids import Action, View
from bot.slack.pacing import ChannelPacer
from bot.slack.task_blocks import task_value
from bot.slack.task_upkeep import TaskUpkeep
from bot.slack.team_posts import TeamPoster
from sequences.ledger import add_task
from storage.db import create_engine
from storage.models import Dispute, Event, Promise, Task
from tests.bot.slack.harness import COLLECTOR, MANAGER, SlackHarness, harness_settings
from tests.sequences.engine_helpers import add_customer, add_invoice, utc

TASKS = "C0TASKS01"
NOW = utc(2026, 3, 2, 10)


async def _no_wait(seconds: float) -> None:
    return None


def _poster(slack: SlackHarness) -> TeamPoster:
    client = AsyncWebClient(token="xoxb-test-token", base_url=slack.fake.base_url)
    return TeamPoster(slack.settings, client, ChannelPacer(sleep=_no_wait))


async def _posted_task(slack: SlackHarness, kind: str = "sequence_task") -> tuple[int, object]:
    customer = await add_customer(slack.engine)
    invoice = await add_invoice(slack.engine, customer, "INV-3", issued=date(2026, 1, 1),
                                due=date(2026, 2, 20), amount="120.00")  # fmt: skip
    async with slack.engine.begin() as conn:
        await add_task(conn, kind=kind, customer_id=customer, invoice_id=invoice, now=NOW,
                       key="k1", title="Call Customer C1 about INV-3")  # fmt: skip
    await _poster(slack).step(slack.engine, NOW, "w1")
    [message] = slack.fake.channel_messages(TASKS)
    async with slack.engine.connect() as conn:
        task_id = await conn.scalar(select(Task.id))
    return task_id, message


async def _task(engine):
    async with engine.connect() as conn:
        return (await conn.execute(select(Task.__table__))).one()


def _ids(message) -> list[str]:
    return [e["action_id"] for b in message.blocks if b["type"] == "actions" for e in b["elements"]]


async def test_the_message_shows_the_task_and_its_buttons(engine, fake_slack):
    async with SlackHarness(engine, fake_slack, now=NOW) as slack:
        _, message = await _posted_task(slack)
    shown = json.dumps(message.blocks)
    assert "<@U0OWNER1>" in shown and "INV-3" in shown and "$120.00" in shown
    assert "10 days overdue" in shown
    assert _ids(message) == [Action.TASK_DONE, Action.TASK_SNOOZE_1D, Action.TASK_SNOOZE_3D,
                             Action.TASK_REASSIGN, Action.TASK_LOG_CALL]  # fmt: skip


async def test_each_kind_has_its_icon_and_done_wording(engine, fake_slack):
    async with SlackHarness(engine, fake_slack, now=NOW) as slack:
        _, message = await _posted_task(slack, "paid_claim")
    assert ":moneybag:" in json.dumps(message.blocks) and "verify" in json.dumps(message.blocks)
    assert message.blocks[-1]["elements"][0]["text"]["text"] == "Payment verified"


async def test_done_updates_the_message_and_a_second_done_is_a_friendly_no_op(engine, fake_slack):
    async with SlackHarness(engine, fake_slack, now=NOW) as slack:
        task_id, message = await _posted_task(slack)
        done = slack.button(Action.TASK_DONE, task_value(task_id), ts=message.ts)
        assert (await slack.interact(done)).status == 200
        assert "Done by <@U0COLLECT>" in json.dumps(message.blocks) and not _ids(message)
        await slack.interact(done)
        assert "already done by <@U0COLLECT>" in fake_slack.ephemeral[-1]["text"]
        async with engine.connect() as conn:
            events = (await conn.execute(select(Event.kind, Event.actor))).all()
    assert [tuple(e) for e in events].count(("task_done", COLLECTOR)) == 1
    assert (await _task(engine)).state == "done"


async def test_a_snoozed_task_comes_back_when_its_snooze_ends(engine, fake_slack):
    async with SlackHarness(engine, fake_slack, now=NOW) as slack:
        task_id, message = await _posted_task(slack)
        await slack.interact(slack.button(Action.TASK_SNOOZE_3D, task_value(task_id)))
        task = await _task(engine)
        assert (task.state, task.snoozed_until) == ("snoozed", NOW + timedelta(days=3))
        assert "Snoozed until" in json.dumps(message.blocks)
        assert Action.TASK_SNOOZE_1D not in _ids(message)
        await slack.interact(slack.button(Action.TASK_SNOOZE_1D, task_value(task_id)))
        assert "not snoozed again" in fake_slack.ephemeral[-1]["text"]
        client = AsyncWebClient(token="xoxb-test-token", base_url=fake_slack.base_url)
        upkeep = TaskUpkeep(slack.settings, client, ChannelPacer(sleep=_no_wait))
        assert await upkeep.step(engine, NOW + timedelta(days=2), "w1") is None
        line = await upkeep.step(engine, NOW + timedelta(days=3, minutes=1), "w1")
        assert line is not None and "1 snoozed task(s) back" in line
    assert (await _task(engine)).state == "open"
    assert "Snoozed until" not in json.dumps(message.blocks)
    [reply] = [m for m in fake_slack.channel_messages(TASKS) if m.thread_ts]
    assert "<@U0OWNER1> back from snooze" in reply.text


async def test_reassign_gives_the_task_to_the_chosen_user(engine, fake_slack):
    async with SlackHarness(engine, fake_slack, now=NOW) as slack:
        task_id, message = await _posted_task(slack)
        select_payload = slack.button(Action.TASK_REASSIGN, "", ts=message.ts,
                                      block_id=f"task:{task_id}")  # fmt: skip
        select_payload["actions"][0] |= {"type": "users_select", "selected_user": MANAGER}
        await slack.interact(select_payload)
        assert (await _task(engine)).assignee_slack_id == MANAGER
        assert f"<@{MANAGER}>" in json.dumps(message.blocks[0])
        await slack.interact(select_payload)
        assert "not reassigned" in fake_slack.ephemeral[-1]["text"]


def _call(task_id: int, outcome: str, **fields: str) -> dict:
    values = {"outcome": {"value": {"type": "radio_buttons",
                                    "selected_option": {"value": outcome}}}}  # fmt: skip
    if "date" in fields:
        values["promised_date"] = {"value": {"type": "datepicker", "selected_date": fields["date"]}}
    for name, block in (("amount", "promised_amount"), ("reason", "reason"), ("note", "note")):
        if name in fields:
            values[block] = {"value": {"type": "plain_text_input", "value": fields[name]}}
    return {"type": "view_submission", "user": {"id": COLLECTOR},
            "view": {"id": "V1", "type": "modal", "callback_id": str(View.LOG_CALL),
                     "private_metadata": json.dumps({"task": task_id}),
                     "state": {"values": values}}}  # fmt: skip


async def test_log_call_opens_the_modal_and_no_answer_keeps_the_task_open(engine, fake_slack):
    async with SlackHarness(engine, fake_slack, now=NOW) as slack:
        task_id, message = await _posted_task(slack)
        await slack.interact(slack.button(Action.TASK_LOG_CALL, task_value(task_id)))
        [opened] = fake_slack.calls_to("views.open")
        assert opened.args["view"]["callback_id"] == View.LOG_CALL
        reply = await slack.interact(_call(task_id, "no_answer", note="voicemail"))
        assert reply.status == 200 and not reply.text
        task = await _task(engine)
        assert (task.state, task.outcome) == ("open", "no answer: voicemail")
        assert "Last call: no answer: voicemail" in json.dumps(message.blocks)
        await slack.interact(_call(task_id, "reached"))
        assert (await _task(engine)).state == "done"


async def test_a_promise_from_a_call_with_bad_fields_writes_nothing(engine, fake_slack):
    async with SlackHarness(engine, fake_slack, now=NOW) as slack:
        task_id, _ = await _posted_task(slack)
        no_date = await slack.interact(_call(task_id, "promised"))
        assert "promised_date" in no_date.json["errors"]
        past = await slack.interact(_call(task_id, "promised", date="2026-02-01"))
        assert "in the past" in past.json["errors"]["promised_date"]
        amount = await slack.interact(_call(task_id, "promised", date="2026-03-10", amount="ten"))
        assert "not an amount" in amount.json["errors"]["promised_amount"]
        async with engine.connect() as conn:
            assert (await conn.execute(select(Promise.__table__))).all() == []
        assert (await _task(engine)).state == "open"
        ok = await slack.interact(_call(task_id, "promised", date="2026-03-10", amount="60.50"))
        assert ok.status == 200 and not ok.text
        async with engine.connect() as conn:
            promise = (await conn.execute(select(Promise.__table__))).one()
    assert (promise.promised_date, promise.amount) == (date(2026, 3, 10), Decimal("60.50"))
    task = await _task(engine)
    assert task.state == "done" and "promised to pay by 2026-03-10" in task.outcome


async def test_a_dispute_from_a_call_needs_a_reason_then_opens_it(engine, fake_slack):
    async with SlackHarness(engine, fake_slack, now=NOW) as slack:
        task_id, _ = await _posted_task(slack)
        missing = await slack.interact(_call(task_id, "disputed", reason="  "))
        assert "needs a reason" in missing.json["errors"]["reason"]
        await slack.interact(_call(task_id, "disputed", reason="never delivered"))
        async with engine.connect() as conn:
            dispute = (await conn.execute(select(Dispute.__table__))).one()
    assert (dispute.reason, dispute.opened_by) == ("never delivered", COLLECTOR)


async def test_overdue_tasks_are_re_pinged_once_a_day_even_with_two_workers(db_url, fake_slack):
    first, second = create_engine(db_url), create_engine(db_url)
    try:
        async with SlackHarness(first, fake_slack, now=NOW) as slack:
            await _posted_task(slack)
        settings = harness_settings(fake_slack)

        def upkeep() -> TaskUpkeep:
            client = AsyncWebClient(token="xoxb-test-token", base_url=fake_slack.base_url)
            return TaskUpkeep(settings, client, ChannelPacer(sleep=_no_wait))

        def replies() -> list:
            return [m for m in fake_slack.channel_messages(TASKS) if m.thread_ts]

        morning = NOW + timedelta(days=1, minutes=30)  # after ARSEQ_DIGEST_TIME, a day old
        early = NOW.replace(hour=8) + timedelta(days=1)
        assert await upkeep().step(first, early, "w1") is None  # not yet the time of day
        await asyncio.gather(upkeep().step(first, morning, "w1"),
                             upkeep().step(second, morning, "w2"))  # fmt: skip
        assert len(replies()) == 1 and "<@U0OWNER1> still open after 1 day(s)" in replies()[0].text
        await upkeep().step(second, morning + timedelta(hours=5), "w2")  # same day: nothing
        assert len(replies()) == 1
        await upkeep().step(first, morning + timedelta(days=1), "w1")  # the next day: once more
        assert len(replies()) == 2
    finally:
        await first.dispose()
        await second.dispose()
