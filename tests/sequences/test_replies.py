"""Replies from the AR mailbox: parsing, auto-reply detection, and what record_reply records."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from sequences.replies import (
    AUTO_REPLIED,
    REPLY_UNMATCHED,
    ReplyParseError,
    parse_reply,
    record_reply,
)
from sequences.reply_text import MAX_CHARS, MAX_LINES, excerpt
from storage.models import Customer, Event
from tests.sequences import reply_samples as samples
from tests.sequences.engine_helpers import (
    add_contact,
    tasks,
    utc,
)

NOW = utc(2026, 2, 10, 12)


# Parsing


def test_an_outlook_reply_gives_its_ids_sender_and_first_lines():
    parsed = parse_reply(samples.outlook_reply())
    assert parsed.sender == "ann.payable@customer.example"
    assert parsed.message_id == "<DB9PR01MB1234.eurprd01.prod.outlook.com>"
    assert parsed.in_reply_to == (samples.OUR_ID,)
    assert parsed.subject == "RE: Invoice INV-1 is overdue"
    assert parsed.excerpt == (
        "Hello,\nWe paid INV-1 on Friday by bank transfer, reference 4471. Could you check again?"
        "\nKind regards,\nAnn"
    )
    assert parsed.auto_reason is None


def test_a_gmail_reply_cuts_the_signature_and_the_wrapped_attribution():
    parsed = parse_reply(samples.gmail_reply())
    assert parsed.references == (samples.OLDER_ID, samples.OUR_ID)
    assert parsed.answered_ids == (samples.OUR_ID, samples.OLDER_ID)  # newest reference first
    assert parsed.excerpt == "Hi, we will pay next Tuesday. Sorry for the delay!"
    assert parsed.auto_reason is None


def test_an_html_only_reply_is_read_without_markup_styles_or_quotes():
    parsed = parse_reply(samples.html_only_reply())
    assert parsed.excerpt == "Dear Acme,\nthe amount is wrong: we ordered 3 units, not 4."


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Fine.\nOn Mon, Feb 9, 2026 at 10:00 AM Acme <ar@x.test> wrote:\n> old", "Fine."),
        ("Gut.\nAm 09.02.2026 um 10:00 schrieb Acme <ar@x.test>:\n> alt", "Gut."),
        ("Bien.\nLe lun. 9 févr. 2026 à 10:00, Acme a écrit :\n> ancien", "Bien."),
        ("Vale.\nEl lun, 9 feb 2026 a las 10:00, Acme escribió:\n> viejo", "Vale."),
        ("Ok.\n-----Original Message-----\nFrom: Acme", "Ok."),
        ("Ok.\n________________________________\nFrom: Acme", "Ok."),
        ("Paid.\n\nSent from my iPhone\n\nOn 9 Feb wrote:", "Paid."),
        ("Paid.\n-- \nBob", "Paid."),
        ("> quoted first\nmine after", "mine after"),
    ],
)
def test_quoted_text_attributions_and_signatures_are_cut(text, expected):
    assert excerpt(text) == expected


def test_the_excerpt_is_bounded_in_lines_and_length():
    assert excerpt("\n".join(f"line {n}" for n in range(20))).count("\n") == MAX_LINES - 1
    long = excerpt("word " * 1000)
    assert len(long) == MAX_CHARS
    assert long.endswith("…")


def _from(sender: str = "a@b.example", **kwargs: str) -> bytes:
    return samples.plain_reply(sender=sender, message_id="<1@b.example>", **kwargs)


@pytest.mark.parametrize(
    "raw, reason",
    [
        (samples.exchange_out_of_office(), "Auto-Submitted: auto-generated"),
        (samples.german_out_of_office_without_headers(), "out-of-office subject"),
        (samples.bounce(), "delivery report (delivery-status)"),
        (_from(extra="Auto-Submitted: auto-replied; owner-email=a@b.example\n"),
         "Auto-Submitted: auto-replied"),
        (_from(extra="X-Autoreply: yes\n"), "X-Autoreply header"),
        (_from(extra="X-Autorespond: vacation\n"), "X-Autorespond header"),
        (_from(extra="Precedence: bulk\n"), "Precedence: bulk"),
        (_from(extra="Precedence: auto_reply\n"), "Precedence: auto_reply"),
        (_from("postmaster@b.example"), "sent by postmaster@b.example"),
        (_from(extra="Return-Path: <>\n"), "null Return-Path"),
    ],
)  # fmt: skip
def test_machine_written_messages_are_recognised(raw, reason):
    assert parse_reply(raw).auto_reason == reason


@pytest.mark.parametrize(
    "subject",
    [
        "Out of Office: Invoice INV-1",
        "Automatic reply: Invoice INV-1",
        "Autoreply: Invoice INV-1",
        "Auto-Reply: Invoice INV-1",
        "Réponse automatique : Facture INV-1",
        "Respuesta automática: Factura INV-1",
        "Risposta automatica: Fattura INV-1",
        "Automatisch antwoord: Factuur INV-1",
        "RE: Out of the office",
    ],
)
def test_out_of_office_subjects_in_the_common_languages(subject):
    assert parse_reply(_from(subject=subject)).auto_reason == "out-of-office subject"


@pytest.mark.parametrize(
    "subject, extra",
    [
        ("Re: back from my out of office, paying now", ""),
        ("Re: Invoice INV-1", "Auto-Submitted: no\n"),
    ],
)
def test_a_person_mentioning_an_absence_is_not_an_auto_reply(subject, extra):
    raw = samples.plain_reply(
        sender="a@b.example", message_id="<1@b>", subject=subject, extra=extra
    )
    assert parse_reply(raw).auto_reason is None


def test_a_message_without_a_message_id_is_named_by_its_digest():
    raw = samples.plain_reply(sender="a@b.example", message_id="none")
    parsed = parse_reply(raw)
    assert parsed.message_id is None
    assert parsed.key == f"sha256:{parsed.digest}"


@pytest.mark.parametrize(
    "raw, message",
    [(b"", "empty message"), (b"  \r\n", "empty message"),
     (b"\r\njust some text, no header", "no header fields")],
)  # fmt: skip
def test_bytes_that_are_not_a_message_are_refused_clearly(raw, message):
    with pytest.raises(ReplyParseError, match=message):
        parse_reply(raw)


# record_reply


async def _record(engine: AsyncEngine, raw: bytes):
    async with engine.begin() as conn:
        return await record_reply(conn, parse_reply(raw), now=NOW)


async def _events(engine: AsyncEngine) -> list[Any]:
    async with engine.connect() as conn:
        ev = Event.__table__
        return list((await conn.execute(select(ev).order_by(ev.c.id))).all())


async def test_a_reply_matched_by_in_reply_to_is_recorded_with_a_task(engine):
    ledger = await samples.sent_reminder(engine)
    outcome = await _record(engine, samples.outlook_reply())
    assert (outcome.status, outcome.customer_id, outcome.outbox_id, outcome.matched_by) == (
        "replied", ledger["customer"], ledger["outbox"], "in-reply-to",
    )  # fmt: skip
    [event] = await _events(engine)
    assert (event.kind, event.customer_id, event.invoice_id, event.outbox_id, event.at) == (
        "replied", ledger["customer"], ledger["invoice"], ledger["outbox"], NOW,
    )  # fmt: skip
    assert event.data["message_id"] == "<DB9PR01MB1234.eurprd01.prod.outlook.com>"
    assert event.data["subject"] == "RE: Invoice INV-1 is overdue"
    [task] = await tasks(engine)
    assert (task.kind, task.customer_id, task.invoice_id, task.assignee_slack_id) == (
        "reply", ledger["customer"], ledger["invoice"], "U0OWNER1",
    )  # fmt: skip
    assert task.idempotency_key == "reply:<DB9PR01MB1234.eurprd01.prod.outlook.com>"
    assert task.title == "Customer C1 replied: RE: Invoice INV-1 is overdue"
    assert "reference 4471" in task.body
    assert "Sent: 09 February" not in task.body


async def test_a_reply_matched_by_references_beats_its_sender(engine):
    ledger = await samples.sent_reminder(engine)
    # Bob's address belongs to C2, but the thread he answers is C1's reminder.
    outcome = await _record(engine, samples.gmail_reply())
    assert (outcome.customer_id, outcome.matched_by) == (ledger["customer"], "references")


async def test_a_reply_to_an_unknown_thread_is_matched_by_the_sender_contact(engine):
    ledger = await samples.sent_reminder(engine)
    await add_contact(engine, ledger["other"], "email", "Bob.Finance@Gmail.example")
    outcome = await _record(engine, samples.gmail_reply(references="<elsewhere@x.example>"))
    assert (outcome.status, outcome.customer_id, outcome.outbox_id, outcome.matched_by) == (
        "replied", ledger["other"], None, "contact",
    )  # fmt: skip
    [task] = await tasks(engine)
    assert task.invoice_id is None


async def test_a_sender_known_only_as_the_customers_email_is_matched(engine):
    ledger = await samples.sent_reminder(engine)
    async with engine.begin() as conn:
        await conn.execute(
            Customer.__table__.update()
            .where(Customer.id == ledger["other"])
            .values(email="Carol@Customer.example")
        )
    outcome = await _record(engine, samples.html_only_reply())
    assert (outcome.status, outcome.customer_id, outcome.matched_by) == (
        "replied", ledger["other"], "customer",
    )  # fmt: skip


async def test_an_unmatched_message_is_recorded_and_changes_nothing_else(engine):
    await samples.sent_reminder(engine)
    outcome = await _record(engine, samples.html_only_reply("stranger@elsewhere.example"))
    assert outcome.status == "unmatched"
    [event] = await _events(engine)
    assert (event.kind, event.customer_id, event.actor) == (
        REPLY_UNMATCHED, None, "stranger@elsewhere.example",
    )  # fmt: skip
    assert await tasks(engine) == []


async def test_an_address_shared_by_two_customers_names_neither(engine):
    ledger = await samples.sent_reminder(engine)
    await add_contact(engine, ledger["other"], "email", "ann.payable@customer.example")
    outcome = await _record(engine, samples.outlook_reply(in_reply_to="<elsewhere@x.example>"))
    assert outcome.status == "unmatched"
    assert await tasks(engine) == []


async def test_the_same_message_twice_is_recorded_once(engine):
    await samples.sent_reminder(engine)
    assert (await _record(engine, samples.outlook_reply())).status == "replied"
    assert (await _record(engine, samples.outlook_reply())).status == "duplicate"
    assert (await _record(engine, samples.exchange_out_of_office())).status == "auto_replied"
    assert (await _record(engine, samples.exchange_out_of_office())).status == "duplicate"
    assert [e.kind for e in await _events(engine)] == ["replied", AUTO_REPLIED]
    assert len(await tasks(engine)) == 1


async def test_an_auto_reply_is_recorded_but_is_not_an_answer(engine):
    ledger = await samples.sent_reminder(engine)
    for raw in (samples.exchange_out_of_office(), samples.bounce()):
        outcome = await _record(engine, raw)
        assert outcome.status == "auto_replied"
    events = await _events(engine)
    # The bounce names our message in the headers it returns.
    assert [(e.kind, e.customer_id, e.outbox_id, e.reason) for e in events] == [
        (AUTO_REPLIED, ledger["customer"], ledger["outbox"], "Auto-Submitted: auto-generated"),
        (AUTO_REPLIED, ledger["customer"], ledger["outbox"], "delivery report (delivery-status)"),
    ]
    assert await tasks(engine) == []


async def test_an_unmatched_auto_reply_keeps_its_reason(engine):
    await samples.sent_reminder(engine)
    outcome = await _record(engine, samples.german_out_of_office_without_headers())
    assert outcome.status == "unmatched"
    [event] = await _events(engine)
    assert (event.kind, event.reason) == (REPLY_UNMATCHED, "out-of-office subject")
