"""Engagement on SQLite and PostgreSQL: links followed, what a batch learns, `send: preferred`."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from sqlalchemy import event as sa_event
from sqlalchemy.ext.asyncio import AsyncEngine

from sequences.engagement import follow_link, unsubscribe
from sequences.engagement_links import (
    EMAIL_OPENED,
    LINK_CLICKED,
    TELEGRAM_PRESSED,
    create_message_links,
)
from sequences.ledger import record_event
from sequences.preferences import ACTIONS, Preference, preference
from sequences.telegram_links import TELEGRAM_LINKED
from storage.engagement_queries import (
    MESSAGE_SENT,
    PAID_AFTER_MESSAGE,
    PAYMENT_RECORDED,
    ChannelEngagement,
    engagement_by_channel,
)
from storage.models import LinkKind
from tests.sequences.engine_helpers import (
    Clock,
    add_contact,
    add_customer,
    add_invoice,
    enrollments,
    utc,
)

NEW_YORK = "America/New_York"


async def _events(engine: AsyncEngine, customer: int, *events: tuple[str, datetime, str]) -> None:
    async with engine.begin() as conn:
        for kind, at, channel in events:
            await record_event(
                conn, kind=kind, now=at, actor=None, customer_id=customer, channel=channel
            )


async def test_a_link_of_the_wrong_kind_or_unknown_is_none_and_unsubscribe_is_not_followed(
    engine,
):
    customer = await add_customer(engine, email=None)
    contact = await add_contact(engine, customer, "email", "ap@acme.test")
    async with engine.begin() as conn:
        links = await create_message_links(
            conn, public_url="https://ar.test", outbox_id=None, contact_id=contact,
            click_urls=[], now=utc(2026, 2, 1),
        )  # fmt: skip
        token = links.open.rsplit("/", 1)[1]
        assert (
            await follow_link(conn, token=token, kind=LinkKind.CLICK, now=utc(2026, 2, 2)) is None
        )
        assert await unsubscribe(conn, token=token, now=utc(2026, 2, 2)) is None
        with pytest.raises(ValueError, match="only opens and clicks are followed"):
            await follow_link(conn, token=token, kind=LinkKind.UNSUBSCRIBE, now=utc(2026, 2, 2))
        opened = await follow_link(conn, token=token, kind=LinkKind.OPEN, now=utc(2026, 2, 2))
        assert opened is not None and opened.customer_id == customer
        assert opened.contact_id == contact and opened.channel == "email"


async def test_engagement_counts_by_channel_and_local_hour(engine):
    customer = await add_customer(engine, timezone=NEW_YORK)
    other = await add_customer(engine, "C2")
    now = utc(2026, 2, 10, 12)
    await _events(
        engine, customer,
        (EMAIL_OPENED, utc(2026, 1, 5, 14, 30), "email"),  # 09:30 in New York
        (LINK_CLICKED, utc(2026, 1, 6, 14, 5), "email"),
        (TELEGRAM_PRESSED, utc(2026, 1, 7, 20, 0), "telegram"),  # 15:00
        (TELEGRAM_PRESSED, utc(2026, 1, 8, 20, 59), "telegram"),
        (TELEGRAM_PRESSED, utc(2026, 7, 1, 20), "telegram"),  # after `now`: not yet known
        (TELEGRAM_PRESSED, utc(2025, 1, 1, 20), "telegram"),  # before the look-back
        ("paused", utc(2026, 1, 9), "email"),  # not engagement
    )  # fmt: skip
    await _events(engine, other, (EMAIL_OPENED, utc(2026, 1, 5, 3), "email"))
    async with engine.connect() as conn:
        found = await engagement_by_channel(
            conn, {customer: NEW_YORK}, actions=ACTIONS, since=utc(2025, 8, 1), now=now
        )
    assert set(found) == {customer}  # only the batch's customers
    email, telegram = found[customer]["email"], found[customer]["telegram"]
    assert email.counts == {EMAIL_OPENED: 1, LINK_CLICKED: 1}
    assert email.hours == {9: 2}
    assert telegram.counts == {TELEGRAM_PRESSED: 2} and telegram.hours == {15: 2}


async def test_a_payment_soon_after_a_message_counts_for_its_channel(engine):
    customer = await add_customer(engine)
    await _events(
        engine, customer,
        (PAYMENT_RECORDED, utc(2026, 1, 2), ""),  # before any message: no credit
        (MESSAGE_SENT, utc(2026, 1, 5, 10), "email"),
        (MESSAGE_SENT, utc(2026, 1, 10, 10), "telegram"),
        (PAYMENT_RECORDED, utc(2026, 1, 11, 9), ""),  # the day after the Telegram message
        (MESSAGE_SENT, utc(2026, 1, 20, 10), "slack"),  # not a customer channel
        (PAYMENT_RECORDED, utc(2026, 1, 20, 11), ""),  # 10 days after the last customer one
    )  # fmt: skip
    async with engine.connect() as conn:
        found = await engagement_by_channel(
            conn, {customer: "UTC"}, actions=ACTIONS, since=utc(2025, 8, 1), now=utc(2026, 2, 1)
        )
    assert found == {customer: {"telegram": ChannelEngagement(counts={PAID_AFTER_MESSAGE: 1})}}


async def test_no_customers_no_query(engine):
    async with engine.connect() as conn:
        found = await engagement_by_channel(
            conn, {}, actions=ACTIONS, since=utc(2025, 8, 1), now=utc(2026, 2, 1)
        )
    assert found == {}


def _engaged(counts: dict[str, int], hours: dict[int, int] | None = None) -> ChannelEngagement:
    engagement = ChannelEngagement()
    engagement.counts.update(counts)
    engagement.hours.update(hours or {})
    return engagement


def test_preference_without_engagement_is_email_at_the_usual_time() -> None:
    assert preference({}) == Preference(("email", "telegram"), None)


def test_preference_follows_the_most_engaged_channel_and_its_hour() -> None:
    found = {
        "email": _engaged({EMAIL_OPENED: 4}, {9: 4}),  # opens weigh little
        "telegram": _engaged({TELEGRAM_PRESSED: 2}, {15: 1, 11: 1}),
    }
    # Two presses outweigh four opens; on a tie of hours the earlier one.
    assert preference(found) == Preference(("telegram", "email"), 11)


def test_preference_takes_its_hour_from_a_channel_the_customer_can_be_reached_on() -> None:
    found = {
        "email": _engaged({LINK_CLICKED: 1}, {10: 1}),
        "telegram": _engaged({TELEGRAM_PRESSED: 3}, {15: 3}),
    }
    assert preference(found, usable={"email"}) == Preference(("telegram", "email"), 10)
    assert preference(found, usable=set()).hour is None


def test_a_tie_between_channels_goes_to_email() -> None:
    found = {"email": _engaged({LINK_CLICKED: 1}, {10: 1}),
             "telegram": _engaged({TELEGRAM_PRESSED: 1}, {16: 1})}  # fmt: skip
    assert preference(found) == Preference(("email", "telegram"), 10)


async def _both_channels(engine: AsyncEngine, *, due: date) -> int:
    customer = await add_customer(engine, timezone=NEW_YORK, email="ap@acme.test")
    await add_contact(engine, customer, "telegram", "4242")
    await add_invoice(engine, customer, "INV-1", issued=date(2026, 1, 1), due=due)
    return customer


def _presses_at_three_pm(days: list[int]) -> list[tuple[str, datetime, str]]:
    return [(TELEGRAM_PRESSED, utc(2026, 1, day, 20, 10), "telegram") for day in days]


async def test_a_preferred_step_waits_for_the_customers_hour_on_their_channel(engine):
    customer = await _both_channels(engine, due=date(2026, 2, 3))
    await _events(engine, customer, *_presses_at_three_pm([6, 7, 8]))
    clock = Clock(engine)
    # Feb 10, 09:00 in New York: the firm (preferred) step is due today.
    report = await clock.at(utc(2026, 2, 10, 14))
    assert report.messages == 0 and report.waited == 1 and clock.sent == []
    [row] = await enrollments(engine)
    assert row.next_action_at == utc(2026, 2, 10, 20)  # 15:00 in New York
    await clock.at(utc(2026, 2, 10, 20))
    [message] = clock.sent
    assert message.channel == "telegram" and message.address == "4242"
    assert message.scheduled_for == utc(2026, 2, 10, 20)


async def test_a_preferred_step_falling_on_a_weekend_goes_on_monday_at_the_hour(engine):
    customer = await _both_channels(engine, due=date(2026, 2, 7))
    await _events(engine, customer, *_presses_at_three_pm([6, 7]))
    clock = Clock(engine)
    await clock.at(utc(2026, 2, 8, 14))  # the gentle email step, on a Sunday: waits
    await clock.at(utc(2026, 2, 9, 14))  # Monday 09:00: the email step, at the window's time
    await clock.at(utc(2026, 2, 14, 15))  # Saturday: the firm step falls due, and waits
    await clock.at(utc(2026, 2, 16, 20))  # Monday 15:00 New York
    gentle, firm = clock.sent
    assert (gentle.channel, gentle.scheduled_for) == ("email", utc(2026, 2, 9, 14))
    assert (firm.channel, firm.scheduled_for) == ("telegram", utc(2026, 2, 16, 20))
    # Each in its channel's words: the email with its HTML, the chat its own short text.
    assert gentle.body.startswith("Hello") and gentle.payload["html"].startswith("<!DOCTYPE")
    assert firm.body.startswith("Hi ") and "tap a" in firm.body.lower()  # either A/B arm
    assert firm.payload["html"] is None


async def test_an_hour_outside_the_window_is_the_windows_usual_time(engine):
    customer = await _both_channels(engine, due=date(2026, 2, 3))
    late = [(TELEGRAM_PRESSED, utc(2026, 1, d, 2), "telegram") for d in (6, 7)]  # 21:00
    await _events(engine, customer, *late)
    clock = Clock(engine)
    await clock.at(utc(2026, 2, 10, 14))
    [message] = clock.sent
    assert message.channel == "telegram" and message.scheduled_for == utc(2026, 2, 10, 14)


async def test_unknown_engagement_means_email_at_the_windows_usual_time(engine):
    await _both_channels(engine, due=date(2026, 2, 3))
    clock = Clock(engine)
    await clock.at(utc(2026, 2, 10, 14))  # 09:00 in New York
    [message] = clock.sent
    assert message.channel == "email" and message.address == "ap@acme.test"
    assert message.scheduled_for == utc(2026, 2, 10, 14)


async def test_a_step_with_its_own_channel_keeps_it_and_the_usual_time(engine):
    customer = await _both_channels(engine, due=date(2026, 2, 3))
    await _events(engine, customer, *_presses_at_three_pm([6, 7, 8]))
    clock = Clock(engine)
    await clock.at(utc(2026, 2, 4, 14))  # due+1d: `send: email`, 09:00 in New York
    [message] = clock.sent
    assert message.channel == "email" and message.scheduled_for == utc(2026, 2, 4, 14)


async def test_one_engagement_query_per_batch_whatever_the_number_of_customers(engine):
    counts: list[int] = []
    for n, prefix in ((1, "A"), (12, "B")):
        for k in range(n):
            customer = await add_customer(engine, f"{prefix}{k}", email=f"{prefix}{k}@acme.test")
            await add_invoice(engine, customer, f"{prefix}-{k}", issued=date(2026, 1, 1),
                              due=date(2026, 2, 3))  # fmt: skip
            await _events(engine, customer, *_presses_at_three_pm([6]))
        seen: list[str] = []

        def before(conn, cursor, statement, *args, seen: list[str] = seen) -> None:
            if "FROM events" in statement and "events.kind IN" in statement:
                seen.append(statement)

        sa_event.listen(engine.sync_engine, "before_cursor_execute", before)
        try:
            await Clock(engine).at(utc(2026, 2, 10 + len(counts) * 7, 14))
        finally:
            sa_event.remove(engine.sync_engine, "before_cursor_execute", before)
        counts.append(len(seen))
    assert counts == [1, 1]


def test_a_customer_who_linked_a_chat_prefers_telegram_before_any_press() -> None:
    # Linking with /start is the customer choosing Telegram; without it `preferred` would
    # stay on email until a press, which only a Telegram message can bring.
    found = {"email": _engaged({EMAIL_OPENED: 3}, {9: 3}),
             "telegram": _engaged({TELEGRAM_LINKED: 1}, {10: 1})}  # fmt: skip
    assert preference(found) == Preference(("telegram", "email"), 10)
    assert ACTIONS[TELEGRAM_LINKED] == "telegram"
