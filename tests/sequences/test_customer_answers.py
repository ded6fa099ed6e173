"""Answers from a chat act on that chat's customers' invoices only."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import insert, select, update

from sequences.customer_answers import (
    DISPUTE_ASK_TTL,
    AnswerRefused,
    NotYourInvoice,
    Pressed,
    ask_dispute_reason,
    claim_paid,
    dispute_from_chat,
    invoices_of_chat,
    opt_out_chat,
    pending_dispute,
    promise_in_days,
)
from sequences.engagement_links import TELEGRAM_PRESSED
from storage.models import Contact, Customer, Dispute, Event, OutboxMessage, Promise
from tests.sequences.engine_helpers import tasks, utc
from tests.sequences.telegram_ledger import CHAT_A, CHAT_B, row_counts, two_customers

NOW = utc(2026, 2, 10, 10)
A = Pressed(chat_id=CHAT_A)


async def _rows(engine, model) -> list:
    async with engine.connect() as conn:
        return list((await conn.execute(select(model.__table__))).all())


async def _presses(engine) -> list:
    return [e for e in await _rows(engine, Event) if e.kind == TELEGRAM_PRESSED]


async def test_ive_paid_gives_the_owner_one_verify_task_per_invoice_per_day(engine):
    ledger = await two_customers(engine)
    for at in (NOW, NOW + timedelta(hours=2), NOW + timedelta(days=1)):
        async with engine.begin() as conn:
            await claim_paid(conn, pressed=A, invoice_id=ledger.invoice_a, now=at)
    found = await tasks(engine)
    assert [(t.kind, t.invoice_id, t.assignee_slack_id) for t in found] == [
        ("verify_payment", ledger.invoice_a, "U0OWNER1"),
    ] * 2
    assert "INV-A1" in found[0].title
    presses = await _presses(engine)
    assert len(presses) == 3
    assert presses[0].data == {"channel": "telegram", "button": "paid", "chat_id": CHAT_A}
    assert presses[0].customer_id == ledger.a


async def test_a_promise_in_7_days_counts_in_the_customers_calendar(engine):
    ledger = await two_customers(engine)
    async with engine.begin() as conn:
        # 12:00 UTC on the 10th is already the 11th in Auckland (UTC+13).
        await conn.execute(
            update(Customer.__table__).where(Customer.id == ledger.a)
            .values(timezone="Pacific/Auckland")
        )  # fmt: skip
        promised = await promise_in_days(
            conn, pressed=A, invoice_id=ledger.invoice_a, days=7, now=utc(2026, 2, 10, 12)
        )
    assert promised == date(2026, 2, 18)
    [promise] = await _rows(engine, Promise)
    assert (promise.invoice_id, promise.promised_date, promise.source) == (
        ledger.invoice_a, date(2026, 2, 18), "telegram",
    )  # fmt: skip
    [press] = await _presses(engine)
    assert press.data["button"] == "promise_7"


async def test_a_promise_of_another_length_is_refused(engine):
    ledger = await two_customers(engine)
    before = await row_counts(engine)
    async with engine.begin() as conn:
        with pytest.raises(AnswerRefused, match="3, 7, 14 days"):
            await promise_in_days(conn, pressed=A, invoice_id=ledger.invoice_a, days=5, now=NOW)
    assert await row_counts(engine) == before


@pytest.mark.parametrize("answer", ["paid", "promise", "dispute"])
async def test_another_customers_invoice_is_refused_and_nothing_written(engine, answer):
    ledger = await two_customers(engine)
    before = await row_counts(engine)
    async with engine.begin() as conn:
        with pytest.raises(NotYourInvoice, match="not one of yours"):
            if answer == "paid":
                await claim_paid(conn, pressed=A, invoice_id=ledger.invoice_b, now=NOW)
            elif answer == "promise":
                await promise_in_days(conn, pressed=A, invoice_id=ledger.invoice_b, days=3, now=NOW)
            else:
                await ask_dispute_reason(conn, pressed=A, invoice_id=ledger.invoice_b, now=NOW)
    assert await row_counts(engine) == before


async def test_an_unlinked_chat_can_answer_nothing(engine):
    ledger = await two_customers(engine)
    async with engine.begin() as conn:
        with pytest.raises(AnswerRefused, match="not linked"):
            await claim_paid(conn, pressed=Pressed(chat_id=1), invoice_id=ledger.invoice_a, now=NOW)


async def test_a_dispute_is_asked_then_opened_by_the_chats_next_message(engine):
    ledger = await two_customers(engine)
    async with engine.begin() as conn:
        await ask_dispute_reason(conn, pressed=A, invoice_id=ledger.invoice_a, now=NOW)
    async with engine.connect() as conn:
        assert await pending_dispute(conn, chat_id=CHAT_A, now=NOW) == ledger.invoice_a
        assert await pending_dispute(conn, chat_id=CHAT_B, now=NOW) is None
    async with engine.begin() as conn:
        opened = await dispute_from_chat(
            conn, chat_id=CHAT_A, reason="  Wrong quantity  ", now=NOW + timedelta(minutes=1)
        )
    assert opened is not None
    [dispute] = await _rows(engine, Dispute)
    assert (dispute.id, dispute.invoice_id, dispute.reason, dispute.opened_by) == (
        opened[0], ledger.invoice_a, "Wrong quantity", f"telegram:{CHAT_A}",
    )  # fmt: skip
    async with engine.begin() as conn:  # the next message is an ordinary one again
        assert await dispute_from_chat(conn, chat_id=CHAT_A, reason="thanks", now=NOW) is None
        with pytest.raises(AnswerRefused, match="already disputed"):
            await ask_dispute_reason(conn, pressed=A, invoice_id=ledger.invoice_a, now=NOW)


async def test_an_empty_reason_is_refused_and_the_question_stays_open(engine):
    ledger = await two_customers(engine)
    async with engine.begin() as conn:
        await ask_dispute_reason(conn, pressed=A, invoice_id=ledger.invoice_a, now=NOW)
    before = await row_counts(engine)
    for reason, error in (("   ", "few words"), ("x" * 2001, "under 2000")):
        async with engine.begin() as conn:
            with pytest.raises(AnswerRefused, match=error):
                await dispute_from_chat(conn, chat_id=CHAT_A, reason=reason, now=NOW)
    assert await row_counts(engine) == before
    async with engine.connect() as conn:
        assert await pending_dispute(conn, chat_id=CHAT_A, now=NOW) == ledger.invoice_a


async def test_a_dispute_question_lapses_after_a_day(engine):
    ledger = await two_customers(engine)
    async with engine.begin() as conn:
        await ask_dispute_reason(conn, pressed=A, invoice_id=ledger.invoice_a, now=NOW)
    async with engine.begin() as conn:
        later = NOW + DISPUTE_ASK_TTL
        assert await dispute_from_chat(conn, chat_id=CHAT_A, reason="late", now=later) is None
    assert await _rows(engine, Dispute) == []


async def test_a_press_is_tied_to_the_message_it_was_pressed_on(engine):
    ledger = await two_customers(engine)
    async with engine.begin() as conn:
        outbox = await conn.scalar(
            insert(OutboxMessage.__table__).returning(OutboxMessage.id).values(
                idempotency_key="k1", channel="telegram", kind="customer_message",
                customer_id=ledger.a, body="hi", payload={}, scheduled_for=NOW, state="sent",
                attempts=1, next_attempt_at=NOW, created_at=NOW,
                provider_message_id=f"{CHAT_A}:1234",
            )
        )  # fmt: skip
        await claim_paid(conn, pressed=Pressed(CHAT_A, 1234), invoice_id=ledger.invoice_a, now=NOW)
    [press] = await _presses(engine)
    assert press.outbox_id == outbox


async def test_invoices_of_a_chat_are_its_customers_own(engine):
    ledger = await two_customers(engine)
    async with engine.connect() as conn:
        assert [i.number for i in await invoices_of_chat(conn, CHAT_A)] == ["INV-A1"]
        assert [i.number for i in await invoices_of_chat(conn, CHAT_B)] == ["INV-B1"]
        assert await invoices_of_chat(conn, 1) == []
    assert ledger.a != ledger.b


async def test_opting_a_chat_out_touches_only_its_telegram_contacts(engine):
    ledger = await two_customers(engine)
    async with engine.begin() as conn:
        assert await opt_out_chat(conn, chat_id=CHAT_A, now=NOW) == 1
        assert await opt_out_chat(conn, chat_id=CHAT_A, now=NOW) == 0
    opted = {c.id: c.opted_out_at for c in await _rows(engine, Contact)}
    assert opted[ledger.contact_a] == NOW and opted[ledger.contact_b] is None
    assert sum(v is not None for v in opted.values()) == 1
