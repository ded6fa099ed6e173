"""The reminder's buttons, pressed in the chat, through the real Bot and Dispatcher."""

from __future__ import annotations

import pytest
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import select

from bot.settings import load_settings
from bot.slack.team_posts import TeamPoster
from bot.telegram.answers import HINT
from bot.telegram.callbacks import Action, InvoiceAction
from sequences.engine import tick
from storage.models import Dispute, Promise
from tests.bot.telegram.conftest import NOW
from tests.fakes.slack_api import FakeSlackApi
from tests.fakes.telegram_api import callback_update, message_update
from tests.sequences.engine_helpers import tasks
from tests.sequences.telegram_ledger import CHAT_A, row_counts, two_customers

ESCALATIONS = "C0ESCAL01"


def _press(action: Action, invoice_id: int, days: int = 0) -> str:
    return InvoiceAction(action=action, invoice_id=invoice_id, days=days).pack()


async def _rows(engine, model) -> list:
    async with engine.connect() as conn:
        return list((await conn.execute(select(model.__table__))).all())


async def test_ive_paid_thanks_the_customer_and_gives_the_owner_a_task(engine, chat):
    ledger = await two_customers(engine)
    await chat.feed(callback_update(CHAT_A, _press(Action.PAID, ledger.invoice_a)))
    assert chat.replies(CHAT_A) == ["Thank you! We will check our bank for invoice INV-A1."]
    assert len(chat.fake.calls_to("answerCallbackQuery")) == 1
    [task] = await tasks(engine)
    assert (task.kind, task.invoice_id) == ("verify_payment", ledger.invoice_a)


@pytest.mark.parametrize("days", [3, 7, 14])
async def test_each_promise_button_records_its_promise(engine, chat, days):
    ledger = await two_customers(engine)
    await chat.feed(callback_update(CHAT_A, _press(Action.PROMISE, ledger.invoice_a, days)))
    [promise] = await _rows(engine, Promise)
    assert (promise.promised_date - NOW.date()).days == days
    assert chat.replies(CHAT_A) == [
        f"Thank you: we have noted your promise to pay by {promise.promised_date.isoformat()}."
    ]


@pytest.mark.parametrize("action", list(Action))
async def test_a_button_for_another_customers_invoice_is_refused(engine, chat, action):
    ledger = await two_customers(engine)
    before = await row_counts(engine)
    await chat.feed(callback_update(CHAT_A, _press(action, ledger.invoice_b, 3)))
    [answer] = chat.fake.calls_to("answerCallbackQuery")
    assert answer.args["text"] == "Sorry: that invoice is not one of yours"
    assert answer.args["show_alert"] == "true"
    assert chat.replies(CHAT_A) == []
    assert await row_counts(engine) == before


async def test_a_forged_button_is_ignored_and_a_stray_message_gets_a_hint(engine, chat):
    await two_customers(engine)
    before = await row_counts(engine)
    await chat.feed(callback_update(CHAT_A, "inv:explode:1:0"))
    await chat.feed(message_update(CHAT_A, "hello?"))
    await chat.feed(message_update(CHAT_A, None))
    assert chat.replies(CHAT_A) == [HINT, HINT]
    assert await row_counts(engine) == before


@pytest.fixture
def slack_settings(monkeypatch, tmp_path, fake_slack: FakeSlackApi):
    monkeypatch.chdir(tmp_path)
    for name, value in {
        "SLACK_BOT_TOKEN": "xoxb-1-test", "SLACK_SIGNING_SECRET": "s3cret",
        "SLACK_API_URL": fake_slack.base_url, "ARSEQ_ESCALATIONS_CHANNEL": ESCALATIONS,
        "ARSEQ_MANAGERS": "U0BOSS001",
    }.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    return load_settings()


async def test_the_dispute_conversation_reaches_the_escalations_channel(
    engine, chat, slack_settings, fake_slack
):
    ledger = await two_customers(engine)
    await chat.feed(callback_update(CHAT_A, _press(Action.DISPUTE, ledger.invoice_a)))
    assert chat.replies(CHAT_A) == [
        "What is wrong with invoice INV-A1? Please send the reason in one message."
    ]
    assert await _rows(engine, Dispute) == []
    await chat.feed(message_update(CHAT_A, "We were billed for 12 seats, we have 10"))
    [dispute] = await _rows(engine, Dispute)
    assert (dispute.invoice_id, dispute.reason) == (
        ledger.invoice_a, "We were billed for 12 seats, we have 10",
    )  # fmt: skip
    assert chat.replies(CHAT_A)[1].startswith(
        "Thank you. We have opened a dispute on invoice INV-A1"
    )
    await tick(engine, now=NOW)  # starts the disputes sequence, whose first step escalates
    client = AsyncWebClient(token="xoxb-1-test", base_url=fake_slack.base_url)
    await TeamPoster(slack_settings, client).step(engine, NOW, "w1")
    [message] = fake_slack.channel_messages(ESCALATIONS)
    assert message.text == "Dispute on invoice INV-A1 (Customer A, $120.50)"
    assert f'{{"dispute": {dispute.id}}}' in str(message.blocks)  # its Acknowledge/Resolve
