"""The forewarning DM after a pass, and its Hold / Send now / Skip step buttons over Slack."""

from __future__ import annotations

import json
from datetime import time

import pytest
from sqlalchemy import select

from bot.settings import SettingsError, load_settings
from bot.slack.forewarning import Forewarner, skip_step_button
from bot.slack.ids import Action
from bot.slack.pass_steps import slack_steps
from bot.slack.roles import NOT_ON_TEAM
from sequences.engine import tick
from storage.models import Pause
from tests.bot.slack.harness import STRANGER, SlackHarness, harness_settings
from tests.sequences.engine_helpers import enrollments, outbox, utc
from tests.sequences.forewarning_ledger import COLLECTOR, OTHER, build_ledger

AFTERNOON = utc(2026, 3, 2, 15, 1)


def _forewarner(fake) -> Forewarner:
    forewarner = Forewarner.from_settings(harness_settings(fake, collectors=[COLLECTOR, OTHER]))
    assert forewarner is not None
    return forewarner


def _texts(blocks) -> str:
    return "\n".join(b["text"]["text"] for b in blocks if b.get("text"))


async def test_each_collector_gets_tomorrows_touches_once_a_day(engine, fake_slack):
    await build_ledger(engine)
    forewarner = _forewarner(fake_slack)
    assert await forewarner.step(engine, utc(2026, 3, 2, 14, 59), "w1") is None  # before 15:00
    line = await forewarner.step(engine, AFTERNOON, "w1")
    again = await _forewarner(fake_slack).step(engine, utc(2026, 3, 2, 16), "w2")
    assert line == "forewarning of 2026-03-02 sent to 2 collector(s)" and again is None
    dms = {m.channel: m for m in fake_slack.messages}
    assert sorted(dms) == [COLLECTOR, OTHER]
    mine = _texts(dms[COLLECTOR].blocks)
    assert "1 customer touch(es)" in mine and "*Customer A* (A) · invoice INV-A" in mine
    assert "past-due-short step 1 (email: past_due_gentle) · Tue 09:00 America/New_York" in mine
    assert "Customer C" not in mine  # Thursday's touch
    buttons = [e["action_id"] for b in dms[COLLECTOR].blocks if b["type"] == "actions"
               for e in b["elements"]]  # fmt: skip
    assert buttons == [Action.FOREWARN_HOLD, Action.FOREWARN_SEND_NOW]


async def test_the_forewarning_runs_after_each_pass_when_slack_is_on(fake_slack):
    steps = slack_steps(harness_settings(fake_slack))
    assert any(getattr(s, "__self__", None).__class__ is Forewarner for s in steps)


async def test_a_refused_dm_is_sent_again_by_the_next_pass(engine, fake_slack):
    await build_ledger(engine)
    fake_slack.fail("chat.postMessage", error="channel_not_found")
    line = await _forewarner(fake_slack).step(engine, AFTERNOON, "w1")
    assert line is not None and "1 not (Slack refused" in line
    assert await _forewarner(fake_slack).step(engine, utc(2026, 3, 2, 15, 6), "w1") == (
        "forewarning of 2026-03-02 sent to 1 collector(s)"
    )
    assert sorted(m.channel for m in fake_slack.messages) == [COLLECTOR, OTHER]


def _dm_button(fake, action: Action) -> str:
    (dm,) = [m for m in fake.messages if m.channel == COLLECTOR]
    return next(e["value"] for b in dm.blocks if b["type"] == "actions" for e in b["elements"]
                if e["action_id"] == action)  # fmt: skip


async def _responses(fake) -> list[str]:
    return [c.args.get("text", "") for c in fake.calls_to("response")]


async def test_hold_pauses_the_account_until_resumed(engine, fake_slack):
    ledger = await build_ledger(engine)
    await _forewarner(fake_slack).step(engine, AFTERNOON, "w1")
    value = _dm_button(fake_slack, Action.FOREWARN_HOLD)
    async with SlackHarness(engine, fake_slack, now=AFTERNOON) as slack:
        for _ in range(2):  # a double click holds once
            reply = await slack.interact(slack.button(Action.FOREWARN_HOLD, value,
                                                      channel=COLLECTOR))  # fmt: skip
            assert reply.status == 200
    async with engine.connect() as conn:
        pauses = (await conn.execute(select(Pause.__table__))).all()
    assert [(p.customer_id, p.created_by) for p in pauses] == [(ledger.customers["A"], COLLECTOR)]
    assert (await _responses(fake_slack))[-1].startswith("This account is already held")
    await tick(engine, now=utc(2026, 3, 3, 15))  # Tuesday: A's touch waits
    assert [m.customer_id for m in await outbox(engine)] == [ledger.customers["B"]]


async def test_send_now_is_sent_by_the_next_tick(engine, fake_slack):
    ledger = await build_ledger(engine)
    await _forewarner(fake_slack).step(engine, AFTERNOON, "w1")
    value = _dm_button(fake_slack, Action.FOREWARN_SEND_NOW)
    async with SlackHarness(engine, fake_slack, now=AFTERNOON) as slack:
        await slack.interact(slack.button(Action.FOREWARN_SEND_NOW, value, channel=COLLECTOR))
    assert "Step 1 of past-due-short goes with the next pass" in (await _responses(fake_slack))[-1]
    await tick(engine, now=utc(2026, 3, 2, 15, 10))
    assert [m.customer_id for m in await outbox(engine)] == [ledger.customers["A"]]


async def test_skip_step_over_slack_skips_once(engine, fake_slack):
    ledger = await build_ledger(engine)
    value = skip_step_button(ledger.enrollments["B"], 1)["value"]
    async with SlackHarness(engine, fake_slack, now=AFTERNOON) as slack:
        for _ in range(2):
            await slack.interact(slack.button(Action.SKIP_STEP, value))
    first, second = (await _responses(fake_slack))[-2:]
    assert first == "Skipped step 1 of past-due-short; next is step 2."
    assert "at step 2 now, not 1: nothing skipped" in second
    (row,) = [e for e in await enrollments(engine) if e.id == ledger.enrollments["B"]]
    assert row.current_step == 1


async def test_a_stranger_and_a_broken_button_are_answered_without_a_change(engine, fake_slack):
    ledger = await build_ledger(engine)
    value = json.dumps({"customer_id": ledger.customers["A"]})
    async with SlackHarness(engine, fake_slack, now=AFTERNOON) as slack:
        await slack.interact(slack.button(Action.FOREWARN_HOLD, value, user=STRANGER))
        await slack.interact(slack.button(Action.FOREWARN_HOLD, '{"customer_id": "x"}'))
        await slack.interact(slack.button(Action.SKIP_STEP, json.dumps({"enrollment_id": 999999})))
    assert await _responses(fake_slack) == [
        NOT_ON_TEAM,
        "That button is out of date; run the command again.",
        ":warning: no enrollment #999999",
    ]
    async with engine.connect() as conn:
        assert (await conn.execute(select(Pause.__table__))).all() == []


def test_the_forewarning_time_defaults_to_15_00_and_a_bad_one_names_its_variable(monkeypatch):
    monkeypatch.delenv("ARSEQ_FOREWARN_TIME", raising=False)
    assert load_settings().forewarn_time == time(15)
    monkeypatch.setenv("ARSEQ_FOREWARN_TIME", "16:30")
    assert load_settings().forewarn_time == time(16, 30)
    monkeypatch.setenv("ARSEQ_FOREWARN_TIME", "3pm")
    with pytest.raises(SettingsError) as err:
        load_settings()
    assert err.value.lines == ["ARSEQ_FOREWARN_TIME: expected HH:MM (24-hour), got '3pm'"]
