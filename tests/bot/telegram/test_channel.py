"""TelegramChannel through dispatch: buttons, provider ids, 429, 403, 400, the send limits."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from sqlalchemy import insert, select

from bot.telegram.callbacks import Action, InvoiceAction
from bot.telegram.channel import TelegramChannel
from bot.telegram.limits import Busy, SendLimiter
from sequences.channels import (
    ConsoleChannel,
    OutgoingMessage,
    PermanentFailure,
    TemporaryFailure,
)
from sequences.dispatch import dispatch_once
from storage.models import Contact, OutboxMessage
from tests.bot.telegram.conftest import NOW
from tests.sequences.engine_helpers import outbox, tasks
from tests.sequences.telegram_ledger import CHAT_A, CHAT_B, two_customers

PAY = "https://pay.example.test/{customer}/{invoice}?amount={amount}"


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def _queue(engine, ledger, *, key: str = "k1", to_b: bool = False) -> None:
    customer, contact, invoice = (
        (ledger.b, ledger.contact_b, ledger.invoice_b) if to_b
        else (ledger.a, ledger.contact_a, ledger.invoice_a)
    )  # fmt: skip
    values = dict(
        idempotency_key=key, channel="telegram", kind="customer_message", customer_id=customer,
        contact_id=contact, body="Invoice INV-A1 is past due.", payload={"html": None},
        invoice_ids=[invoice], scheduled_for=NOW, state="pending", attempts=0,
        next_attempt_at=NOW, created_at=NOW,
    )  # fmt: skip
    async with engine.begin() as conn:
        await conn.execute(insert(OutboxMessage.__table__).values(values))


def _channels(bot, engine, **kwargs):
    email = ConsoleChannel("email", io.StringIO())
    return {"telegram": TelegramChannel(bot, engine, **kwargs), "email": email}, email


async def test_a_reminder_arrives_with_its_buttons_and_its_provider_id(engine, bot, fake_telegram):
    ledger = await two_customers(engine)
    channels, _ = _channels(bot, engine, pay_url=PAY)
    report = await dispatch_once(engine, channels, now=NOW, worker="w1")
    assert report.sent == 0  # nothing queued yet
    await _queue(engine, ledger)
    assert (await dispatch_once(engine, channels, now=NOW, worker="w1")).sent == 1
    [sent] = fake_telegram.sent
    assert (sent.chat_id, sent.text) == (CHAT_A, "Invoice INV-A1 is past due.")
    buttons = [b for row in sent.reply_markup["inline_keyboard"] for b in row]
    assert buttons[0] == {
        "text": "Pay now", "url": "https://pay.example.test/A/INV-A1?amount=120.50",
    }  # fmt: skip
    presses = [InvoiceAction.unpack(b["callback_data"]) for b in buttons[1:]]
    assert [(p.action, p.days) for p in presses] == [
        (Action.PAID, 0), (Action.PROMISE, 3), (Action.PROMISE, 7), (Action.PROMISE, 14),
        (Action.DISPUTE, 0),
    ]  # fmt: skip
    assert {p.invoice_id for p in presses} == {ledger.invoice_a}
    [row] = await outbox(engine)
    assert row.provider_message_id == f"{CHAT_A}:{sent.message_id}"


async def test_each_message_of_a_batch_gets_the_buttons_of_its_own_invoices(
    engine, bot, fake_telegram
):
    # The batch's invoices are read once (`prepare`); each chat still sees only its own.
    ledger = await two_customers(engine)
    await _queue(engine, ledger, key="k1")
    await _queue(engine, ledger, key="k2", to_b=True)
    channels, _ = _channels(bot, engine, pay_url=PAY)
    assert (await dispatch_once(engine, channels, now=NOW, worker="w1")).sent == 2
    pressed = {
        sent.chat_id: {
            InvoiceAction.unpack(b["callback_data"]).invoice_id
            for row in sent.reply_markup["inline_keyboard"] for b in row if "callback_data" in b
        }
        for sent in fake_telegram.sent
    }  # fmt: skip
    assert pressed == {CHAT_A: {ledger.invoice_a}, CHAT_B: {ledger.invoice_b}}
    pay = {s.chat_id: s.reply_markup["inline_keyboard"][0][0]["url"] for s in fake_telegram.sent}
    assert pay[CHAT_B] == "https://pay.example.test/B/INV-B1?amount=99.00"


async def test_a_message_sent_without_prepare_reads_its_own_invoices(engine, bot, fake_telegram):
    ledger = await two_customers(engine)
    channel = TelegramChannel(bot, engine, pay_url=PAY)
    message = OutgoingMessage(
        outbox_id=1, idempotency_key="k", channel="telegram", kind="customer_message",
        address=str(CHAT_B), subject=None, body="Hello", scheduled_for=NOW,
        customer_id=ledger.b, contact_id=ledger.contact_b, invoice_ids=(ledger.invoice_b,),
    )  # fmt: skip
    await channel.send(message)
    [sent] = fake_telegram.sent
    assert sent.reply_markup["inline_keyboard"][0][0]["url"].endswith("INV-B1?amount=99.00")


async def test_without_a_pay_url_there_is_no_pay_button(engine, bot, fake_telegram):
    ledger = await two_customers(engine)
    await _queue(engine, ledger)
    await dispatch_once(engine, _channels(bot, engine)[0], now=NOW, worker="w1")
    [sent] = fake_telegram.sent
    assert all("url" not in b for row in sent.reply_markup["inline_keyboard"] for b in row)


async def test_a_429_reschedules_the_message_after_retry_after(engine, bot, fake_telegram):
    ledger = await two_customers(engine)
    await _queue(engine, ledger)
    fake_telegram.fail("sendMessage", 429, retry_after=300)
    report = await dispatch_once(engine, _channels(bot, engine)[0], now=NOW, worker="w1")
    assert report.retried == 1
    [row] = await outbox(engine)
    assert (str(row.state), row.next_attempt_at) == ("pending", NOW + timedelta(seconds=300))
    assert "Telegram 429" in row.last_error
    assert fake_telegram.sent == []


@pytest.mark.parametrize(
    "status, description",
    [(403, "Forbidden: bot was blocked by the user"), (400, "Bad Request: chat not found")],
)
async def test_a_dead_chat_is_marked_unreachable_and_the_message_goes_by_email(
    engine, bot, fake_telegram, status, description
):
    ledger = await two_customers(engine)
    await _queue(engine, ledger)
    fake_telegram.fail("sendMessage", status, description)
    channels, email = _channels(bot, engine)
    report = await dispatch_once(engine, channels, now=NOW, worker="w1")
    assert (report.failed, report.fallbacks) == (1, 1)
    async with engine.connect() as conn:
        contact = (
            await conn.execute(select(Contact.__table__).where(Contact.id == ledger.contact_a))
        ).one()
    assert contact.unreachable_at == NOW and description in contact.unreachable_reason
    assert [t.kind for t in await tasks(engine)] == ["telegram_blocked"]
    await dispatch_once(engine, channels, now=NOW, worker="w1")
    [mail] = email.sent
    assert (mail.address, mail.body) == ("ap@example.test", "Invoice INV-A1 is past due.")


async def test_another_400_fails_the_message_but_not_the_chat(engine, bot, fake_telegram):
    ledger = await two_customers(engine)
    await _queue(engine, ledger)
    fake_telegram.fail("sendMessage", 400, "Bad Request: message is too long")
    await dispatch_once(engine, _channels(bot, engine)[0], now=NOW, worker="w1")
    async with engine.connect() as conn:
        contact = (
            await conn.execute(select(Contact.__table__).where(Contact.id == ledger.contact_a))
        ).one()
    assert contact.unreachable_at is None
    [first, *_] = await outbox(engine)
    assert str(first.state) == "failed" and "message is too long" in first.last_error


def test_the_limiter_spaces_one_chat_a_second_and_all_chats_25_a_second():
    clock = FakeClock()
    limiter = SendLimiter(clock=clock)
    assert limiter.reserve("1") == 0.0
    assert limiter.reserve("2") == pytest.approx(0.04)
    assert limiter.reserve("1") == pytest.approx(1.0)  # this chat's next second
    with pytest.raises(Busy) as busy:
        limiter.reserve("1")
    assert busy.value.retry_after == pytest.approx(2.0)
    clock.now += 10
    limiter.hold("1", 30)
    assert limiter.reserve("2") == 0.0
    with pytest.raises(Busy, match=r"next slot in 30\.0s"):
        limiter.reserve("1")


async def test_a_chat_over_its_limit_is_a_temporary_failure_not_a_wait(engine, bot, fake_telegram):
    ledger = await two_customers(engine)
    channel = TelegramChannel(bot, engine, limiter=SendLimiter(max_wait=0.5, clock=FakeClock()))
    message = OutgoingMessage(
        outbox_id=1, idempotency_key="k", channel="telegram", kind="customer_message",
        address=str(CHAT_A), subject=None, body="hi", scheduled_for=NOW,
        customer_id=ledger.a, invoice_ids=(ledger.invoice_a,),
    )  # fmt: skip
    await channel.send(message)
    with pytest.raises(TemporaryFailure) as refused:
        await channel.send(message)
    assert refused.value.retry_after == pytest.approx(1.0)
    assert len(fake_telegram.sent) == 1


async def test_an_address_that_is_not_a_chat_id_is_a_dead_contact(engine, bot):
    channel = TelegramChannel(bot, engine)
    message = OutgoingMessage(
        outbox_id=1, idempotency_key="k", channel="telegram", kind="customer_message",
        address="@someone", subject=None, body="hi", scheduled_for=NOW,
    )  # fmt: skip
    with pytest.raises(PermanentFailure, match="not a Telegram chat id") as failed:
        await channel.send(message)
    assert failed.value.contact_dead
