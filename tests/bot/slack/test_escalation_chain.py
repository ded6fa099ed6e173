"""The full dispute chain through the real endpoint and the fake Slack Web API, `now` a parameter.

Open (from the ledger) -> one message with Acknowledge and Resolve -> unacknowledged past
the sequence's wait, the managers are mentioned in the thread and the message shows the
level -> the next level -> Acknowledge stops it -> Resolve (a bad credit, then a valid
one) closes the dispute and the invoice's past-due sequence resumes.
"""

from __future__ import annotations

import asyncio
import json
from datetime import date, timedelta
from decimal import Decimal

from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import select

from bot.slack.escalation_runner import ChainRunner
from bot.slack.ids import Action, View
from bot.slack.pacing import ChannelPacer
from bot.slack.team_posts import TeamPoster
from sequences.disputes import open_dispute
from sequences.engine import tick
from storage.db import create_engine
from storage.models import Dispute, Enrollment, Escalation, Invoice
from tests.bot.slack.harness import MANAGER, SlackHarness
from tests.fakes.slack_api import FakeSlackApi
from tests.sequences.engine_helpers import add_customer, add_invoice, utc

ESCALATIONS = "C0ESCAL01"
OPENED = utc(2026, 3, 2, 10)  # a Monday


async def _no_wait(seconds: float) -> None:
    return None


async def _pass(slack: SlackHarness, fake: FakeSlackApi) -> None:
    """One scheduler pass at `slack.now`: tick, then the Slack steps that follow it."""
    client = AsyncWebClient(token="xoxb-test-token", base_url=fake.base_url)
    pacer = ChannelPacer(sleep=_no_wait)
    await tick(slack.engine, now=slack.now)
    await TeamPoster(slack.settings, client, pacer).step(slack.engine, slack.now, "w1")
    await ChainRunner(slack.settings, client, pacer).step(slack.engine, slack.now, "w1")


def _resolve_submission(dispute_id: int, resolution: str, credit: str) -> dict:
    values = {"resolution": {"value": {"type": "plain_text_input", "value": resolution}},
              "credit": {"value": {"type": "plain_text_input", "value": credit}}}  # fmt: skip
    return {
        "type": "view_submission", "user": {"id": MANAGER},
        "view": {"id": "V1", "type": "modal", "callback_id": str(View.RESOLVE_DISPUTE),
                 "private_metadata": json.dumps({"dispute": dispute_id}),
                 "state": {"values": values}},
    }  # fmt: skip


async def test_the_full_dispute_chain(engine, fake_slack):
    customer = await add_customer(engine)
    invoice = await add_invoice(engine, customer, "INV-7", issued=date(2026, 1, 1),
                                due=date(2026, 2, 1), amount="250.00")  # fmt: skip
    async with SlackHarness(engine, fake_slack, now=utc(2026, 2, 20, 10)) as slack:
        await _pass(slack, fake_slack)  # the past-due sequence starts on the overdue invoice
        async with engine.begin() as conn:
            dispute = await open_dispute(conn, invoice_id=invoice, reason="wrong quantity",
                                         actor="U0COLLECT", now=OPENED)  # fmt: skip
        slack.now = OPENED + timedelta(minutes=5)
        await _pass(slack, fake_slack)

        [message] = fake_slack.channel_messages(ESCALATIONS)
        shown = json.dumps(message.blocks)
        assert "INV-7" in shown and "$250.00" in shown and "wrong quantity" in shown
        assert "<@U0COLLECT>" in shown  # who opened it
        buttons = [e["action_id"] for b in message.blocks if b["type"] == "actions"
                   for e in b["elements"]]  # fmt: skip
        assert buttons == [Action.ESCALATION_ACK, Action.ESCALATION_RESOLVE]
        await _pass(slack, fake_slack)  # a pass again posts nothing new
        assert len(fake_slack.channel_messages(ESCALATIONS)) == 1

        # Unacknowledged a business day later: the managers are called in the thread.
        slack.now = utc(2026, 3, 3, 10, 1)
        await _pass(slack, fake_slack)
        replies = [m for m in fake_slack.channel_messages(ESCALATIONS) if m.thread_ts]
        assert len(replies) == 1 and f"<@{MANAGER}>" in replies[0].text
        assert replies[0].thread_ts == message.ts
        assert "Escalation level 2 of 6" in json.dumps(message.blocks)  # updated in place
        await _pass(slack, fake_slack)  # the same instant again: no second mention
        assert len([m for m in fake_slack.channel_messages(ESCALATIONS) if m.thread_ts]) == 1

        # Two business days on: the next level.
        slack.now = utc(2026, 3, 5, 10, 1)
        await _pass(slack, fake_slack)
        replies = [m for m in fake_slack.channel_messages(ESCALATIONS) if m.thread_ts]
        assert len(replies) == 2 and "level 3 of 6" in replies[1].text
        assert "Escalation level 3 of 6" in json.dumps(message.blocks)

        # Acknowledge stops it: no more mentions however much time passes.
        ack = slack.button(Action.ESCALATION_ACK, json.dumps({"dispute": dispute}),
                           user=MANAGER, channel=ESCALATIONS, ts=message.ts)  # fmt: skip
        assert (await slack.interact(ack)).status == 200
        assert "Acknowledged by <@U0MANAGER>" in json.dumps(message.blocks)
        assert [e["action_id"] for e in message.blocks[-1]["elements"]] == [
            Action.ESCALATION_RESOLVE
        ]
        await slack.interact(ack)  # a double click: a note, nothing twice
        assert "already acknowledged" in fake_slack.ephemeral[-1]["text"]
        for day in range(6, 20):
            slack.now = utc(2026, 3, day, 10, 1)
            await _pass(slack, fake_slack)
        assert len([m for m in fake_slack.channel_messages(ESCALATIONS) if m.thread_ts]) == 2

        # Resolve: the modal, a bad credit shown next to its field, then a valid one.
        opened = slack.button(Action.ESCALATION_RESOLVE, json.dumps({"dispute": dispute}),
                              user=MANAGER, channel=ESCALATIONS, ts=message.ts)  # fmt: skip
        await slack.interact(opened)
        [modal] = fake_slack.calls_to("views.open")
        assert modal.args["view"]["callback_id"] == View.RESOLVE_DISPUTE
        bad = await slack.interact(_resolve_submission(dispute, "credit agreed", "12,5x"))
        assert bad.json["response_action"] == "errors" and "credit" in bad.json["errors"]
        too_much = await slack.interact(_resolve_submission(dispute, "credit agreed", "900"))
        assert "at most the open amount 250.00" in too_much.json["errors"]["credit"]
        async with engine.connect() as conn:
            status = await conn.scalar(select(Dispute.status).where(Dispute.id == dispute))
        assert status == "acknowledged"  # nothing written by the refused submissions
        good = await slack.interact(_resolve_submission(dispute, "credit agreed", "40.00"))
        assert good.status == 200 and not good.text

        async with engine.connect() as conn:
            row = (await conn.execute(select(Dispute.__table__))).one()
            left = await conn.scalar(select(Invoice.open_amount).where(Invoice.id == invoice))
            chain = (await conn.execute(select(Escalation.__table__))).one()
            past_due = (await conn.execute(
                select(Enrollment.__table__).where(Enrollment.dispute_id.is_(None))
            )).one()  # fmt: skip
        assert (row.status, row.resolution) == ("resolved", "credit agreed")
        assert left == Decimal("210.00")
        assert chain.state == "resolved"
        assert past_due.state == "active"  # the invoice's past-due sequence resumes
        shown = json.dumps(message.blocks)
        assert "Resolved by <@U0MANAGER>" in shown and "$40.00" in shown
        assert all(b["type"] != "actions" for b in message.blocks)


async def test_two_workers_running_the_chain_mention_the_managers_once(db_url, fake_slack):
    first, second = create_engine(db_url), create_engine(db_url)
    try:
        customer = await add_customer(first)
        invoice = await add_invoice(first, customer, "INV-8", issued=date(2026, 1, 1),
                                    due=date(2026, 2, 1))  # fmt: skip
        async with first.begin() as conn:
            await open_dispute(conn, invoice_id=invoice, reason="price", actor="telegram",
                               now=OPENED)  # fmt: skip
        async with SlackHarness(first, fake_slack, now=OPENED) as slack:
            await _pass(slack, fake_slack)
            later = utc(2026, 3, 3, 11)
            client = AsyncWebClient(token="xoxb-test-token", base_url=fake_slack.base_url)
            runners = [ChainRunner(slack.settings, client, ChannelPacer(sleep=_no_wait))
                       for _ in range(2)]  # fmt: skip
            await asyncio.gather(runners[0].step(first, later, "w1"),
                                 runners[1].step(second, later, "w2"))  # fmt: skip
        replies = [m for m in fake_slack.channel_messages(ESCALATIONS) if m.thread_ts]
        assert len(replies) == 1 and f"<@{MANAGER}>" in replies[0].text
    finally:
        await first.dispose()
        await second.dispose()


async def test_a_refused_mention_is_tried_again_on_the_next_pass(engine, fake_slack):
    customer = await add_customer(engine)
    invoice = await add_invoice(engine, customer, "INV-8", issued=date(2026, 1, 1),
                                due=date(2026, 2, 1))  # fmt: skip
    async with engine.begin() as conn:
        await open_dispute(conn, invoice_id=invoice, reason="price", actor="telegram", now=OPENED)
    async with SlackHarness(engine, fake_slack, now=OPENED) as slack:
        await _pass(slack, fake_slack)
        slack.now = utc(2026, 3, 3, 11)
        fake_slack.fail("chat.postMessage", error="channel_not_found")
        await _pass(slack, fake_slack)
        assert not [m for m in fake_slack.channel_messages(ESCALATIONS) if m.thread_ts]
        await _pass(slack, fake_slack)
        replies = [m for m in fake_slack.channel_messages(ESCALATIONS) if m.thread_ts]
    assert len(replies) == 1 and "level 2 of 6" in replies[0].text
