"""/start TOKEN links the chat; /invoices shows only its own; /stop ends Telegram; /help."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from bot.telegram.commands import HELP
from bot.telegram.start import NO_TOKEN, REFUSED
from sequences.dispatch import dispatch_once
from sequences.telegram_links import LinkRefusal, chat_customers, issue_link_token
from storage.models import Contact, OutboxMessage
from tests.bot.telegram.conftest import NOW
from tests.fakes.telegram_api import message_update
from tests.sequences.engine_helpers import add_customer
from tests.sequences.telegram_ledger import CHAT_A, CHAT_B, row_counts, two_customers


async def _token(engine, customer: int, *, at=NOW) -> str:
    async with engine.begin() as conn:
        return await issue_link_token(conn, customer_id=customer, actor="U0OWNER1", now=at)


async def test_start_with_a_token_links_the_chat_and_says_to_whom(engine, chat):
    customer = await add_customer(engine)
    await chat.feed(message_update(900, f"/start {await _token(engine, customer)}"))
    [reply] = chat.replies(900)
    assert reply.startswith("Linked: you will get reminders for Customer C1 here")
    async with engine.connect() as conn:
        assert await chat_customers(conn, 900) == [customer]


async def test_start_twice_with_one_token_is_politely_refused_the_second_time(engine, chat):
    token = await _token(engine, await add_customer(engine))
    await chat.feed(message_update(900, f"/start {token}"))
    before = await row_counts(engine)
    await chat.feed(message_update(901, f"/start {token}"))
    assert chat.replies(901) == [REFUSED[LinkRefusal.USED]]
    assert await row_counts(engine) == before


async def test_start_without_wrong_or_expired_token_answers_politely(engine, chat):
    expired = await _token(engine, await add_customer(engine), at=NOW - timedelta(days=8))
    before = await row_counts(engine)
    for text in ("/start", "/start nope", "/start ../../etc?x=1", f"/start {expired}"):
        await chat.feed(message_update(900, text))
    assert chat.replies(900) == [
        NO_TOKEN, REFUSED[LinkRefusal.UNKNOWN], REFUSED[LinkRefusal.UNKNOWN],
        REFUSED[LinkRefusal.EXPIRED],
    ]  # fmt: skip
    assert await row_counts(engine) == before


async def test_invoices_lists_only_the_chats_own(engine, chat):
    await two_customers(engine)
    await chat.feed(message_update(CHAT_A, "/invoices"))
    [reply] = chat.replies(CHAT_A)
    assert "INV-A1: $120.50 due 2026-01-31" in reply and "INV-B1" not in reply
    await chat.feed(message_update(1234, "/invoices"))
    assert chat.replies(1234) == ["You have no open invoices. Thank you!"]


async def test_help_lists_the_commands(engine, chat):
    await chat.feed(message_update(CHAT_A, "/help"))
    assert chat.replies(CHAT_A) == [HELP]


async def test_stop_opts_the_chat_out_and_dispatch_then_skips_it(engine, chat):
    ledger = await two_customers(engine)
    await chat.feed(message_update(CHAT_A, "/stop"))
    assert chat.replies(CHAT_A)[0].startswith("Done: no more reminders here.")
    async with engine.connect() as conn:
        contact = (
            await conn.execute(select(Contact.__table__).where(Contact.id == ledger.contact_a))
        ).one()
    assert contact.opted_out_at == NOW
    async with engine.begin() as conn:
        await conn.execute(
            OutboxMessage.__table__.insert().values(
                idempotency_key="k1", channel="telegram", kind="customer_message",
                customer_id=ledger.a, contact_id=ledger.contact_a, body="Reminder",
                payload={}, invoice_ids=[ledger.invoice_a], scheduled_for=NOW,
                state="pending", attempts=0, next_attempt_at=NOW, created_at=NOW,
            )
        )  # fmt: skip
    report = await dispatch_once(engine, {}, now=NOW, worker="w1")
    assert report.skipped == {"opted_out": 1}
    await chat.feed(message_update(CHAT_A, "/stop"))
    assert chat.replies(CHAT_A)[1] == "You will not get reminders here."
    await chat.feed(message_update(CHAT_B + 99, "/stop"))
    assert chat.replies(CHAT_B + 99)[0].startswith("This chat is not linked")
