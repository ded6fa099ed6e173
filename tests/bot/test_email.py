"""The email channel through dispatch, against a real SMTP server (aiosmtpd) on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from email.utils import parsedate_to_datetime

import pytest
from sqlalchemy import select, update

from sequences.dispatch import dispatch_once
from sequences.engine import EngineConfig, tick
from storage.models import Contact, OutboxMessage, Task, TrackingLink
from tests.bot.email_helpers import (
    NOW,
    PAY,
    PUBLIC,
    SENDER,
    channel_for,
    ledger,
    outbox_row,
    queue,
)
from tests.fakes.smtp_sink import SmtpSink
from tests.sequences.engine_helpers import add_customer, add_invoice


@pytest.fixture
async def sink() -> AsyncIterator[SmtpSink]:
    async with SmtpSink() as server:
        yield server


async def _links(engine, outbox_id):
    async with engine.connect() as conn:
        t = TrackingLink.__table__
        rows = (await conn.execute(select(t).where(t.c.outbox_id == outbox_id))).all()
    return {(str(r.kind), r.token): r for r in rows}


async def test_a_reminder_is_multipart_with_every_header(engine, sink):
    ids = await ledger(engine)
    outbox = await queue(engine, ids)
    email = channel_for(sink, engine)
    report = await dispatch_once(engine, {"email": email}, now=NOW, worker="w")
    await email.aclose()
    assert report.sent == 1
    [got] = sink.received
    assert (got.mail_from, got.rcpt_tos) == (SENDER, ["ap@customer.test"])
    mail = got.parsed()
    assert mail.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in mail.iter_parts()] == ["text/plain", "text/html"]
    assert mail["From"] == SENDER and mail["To"] == "ap@customer.test"
    assert mail["Subject"] == "Invoice INV-1 is overdue"
    assert mail["Reply-To"] == "collector@acme-billing.test"
    assert parsedate_to_datetime(mail["Date"]) == NOW  # the engine's instant
    assert mail["Message-ID"].startswith("<arseq.")
    assert mail["Message-ID"].endswith("@acme-billing.test>")
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert mail["Auto-Submitted"] == "auto-generated"
    assert mail["X-ARSeq-Idempotency-Key"] == "touch:k1"
    row = await outbox_row(engine, outbox)
    assert row.state == "sent" and row.provider_message_id == mail["Message-ID"]
    links = await _links(engine, outbox)
    unsubscribe = mail["List-Unsubscribe"].strip()  # a long header may be folded
    assert unsubscribe.startswith(f"<{PUBLIC}/u/") and unsubscribe.endswith(">")
    assert ("unsubscribe", unsubscribe[len(PUBLIC) + 4 : -1]) in links


async def test_the_pay_link_is_tracked_and_its_token_leads_to_the_real_url(engine, sink):
    ids = await ledger(engine)
    outbox = await queue(engine, ids)
    email = channel_for(sink, engine)
    await dispatch_once(engine, {"email": email}, now=NOW, worker="w")
    await email.aclose()
    mail = sink.received[0].parsed()
    text = mail.get_body(("plain",)).get_content()
    html = mail.get_body(("html",)).get_content()
    assert PAY not in text and PAY.replace("&", "&amp;") not in html
    links = await _links(engine, outbox)
    [(_, click)] = [k for k in links if k[0] == "click"]
    [(_, pixel)] = [k for k in links if k[0] == "open"]
    assert links[("click", click)].url == PAY
    assert links[("click", click)].contact_id == ids["email"]
    assert f"{PUBLIC}/r/{click}" in text
    assert f'href="{PUBLIC}/r/{click}"' in html
    assert f'<img src="{PUBLIC}/o/{pixel}"' in html


async def test_a_template_without_html_gets_its_text_escaped_into_a_layout(engine, sink):
    ids = await ledger(engine)
    body = f"Dear <Acme> & co,\n\nPlease pay: {PAY}.\n"
    await queue(engine, ids, html=None, body=body)
    email = channel_for(sink, engine)
    await dispatch_once(engine, {"email": email}, now=NOW, worker="w")
    await email.aclose()
    html = sink.received[0].parsed().get_body(("html",)).get_content()
    assert "Dear &lt;Acme&gt; &amp; co," in html
    assert f'<a href="{PUBLIC}/r/' in html and "/o/" in html
    assert html.rstrip().endswith("</html>")


async def test_a_batch_shares_the_pool_of_connections_and_keeps_message_ids(engine, sink):
    ids = await ledger(engine)
    for n in range(5):
        await queue(engine, ids, key=f"touch:k{n}")
    email = channel_for(sink, engine, connections=2)  # the sends overlap on two connections
    report = await dispatch_once(engine, {"email": email}, now=NOW, worker="w")
    assert report.sent == 5 and sink.connections == 2 and sink.open_connections == 2
    await email.aclose()
    await sink.wait_no_connections()
    ids_sent = [r.parsed()["Message-ID"] for r in sink.received]
    assert len(set(ids_sent)) == 5


async def test_451_is_retried_later_and_sent_once(engine, sink):
    ids = await ledger(engine)
    outbox = await queue(engine, ids)
    sink.fail_next(1, "451 4.3.0 mailbox busy", at="DATA")
    email = channel_for(sink, engine)
    first = await dispatch_once(engine, {"email": email}, now=NOW, worker="w")
    row = await outbox_row(engine, outbox)
    assert first.retried == 1 and row.state == "pending" and "451" in row.last_error
    second = await dispatch_once(
        engine, {"email": email}, now=NOW + timedelta(minutes=1), worker="w"
    )
    await email.aclose()
    assert second.sent == 1 and len(sink.received) == 1
    assert sink.connections == 1  # the 451 left the connection usable
    links = await _links(engine, outbox)
    assert len(links) == 3  # open, unsubscribe, one click: the retry reused the tokens
    assert (
        sink.received[0].parsed()["Message-ID"]
        == (await outbox_row(engine, outbox)).provider_message_id
    )


@pytest.mark.parametrize("stage", ["MAIL", "RCPT"])
async def test_4xx_on_mail_or_rcpt_is_temporary(engine, sink, stage):
    ids = await ledger(engine)
    outbox = await queue(engine, ids)
    sink.fail_next(1, "450 4.2.1 try later", at=stage)
    email = channel_for(sink, engine)
    report = await dispatch_once(engine, {"email": email}, now=NOW, worker="w")
    await email.aclose()
    assert report.retried == 1 and (await outbox_row(engine, outbox)).state == "pending"


async def test_a_421_greeting_is_temporary(engine, sink):
    ids = await ledger(engine)
    outbox = await queue(engine, ids)
    sink.reject_connections(1)
    email = channel_for(sink, engine)
    report = await dispatch_once(engine, {"email": email}, now=NOW, worker="w")
    assert report.retried == 1 and "421" in (await outbox_row(engine, outbox)).last_error
    again = await dispatch_once(engine, {"email": email}, now=NOW + timedelta(hours=1), worker="w")
    await email.aclose()
    assert again.sent == 1 and len(sink.received) == 1


async def test_a_dropped_connection_is_reopened_once(engine, sink):
    ids = await ledger(engine)
    await queue(engine, ids, key="touch:a")
    email = channel_for(sink, engine)
    await dispatch_once(engine, {"email": email}, now=NOW, worker="w")
    sink.drop_connections()
    await sink.wait_no_connections()
    await queue(engine, ids, key="touch:b")
    report = await dispatch_once(engine, {"email": email}, now=NOW, worker="w")
    await email.aclose()
    assert report.sent == 1 and len(sink.received) == 2 and sink.connections == 2


async def test_an_idle_connection_is_closed(engine, sink):
    ids = await ledger(engine)
    await queue(engine, ids)
    email = channel_for(sink, engine, idle_timeout=0)
    await dispatch_once(engine, {"email": email}, now=NOW, worker="w")
    await sink.wait_no_connections()  # returns only once the channel hung up by itself
    assert sink.connections == 1


async def test_a_bounce_marks_the_contact_and_falls_back_to_telegram(engine, sink):
    ids = await ledger(engine, telegram=True)
    outbox = await queue(engine, ids)
    sink.refuse("ap@customer.test", "550 5.1.1 <ap@customer.test>: no such user")
    email = channel_for(sink, engine)
    report = await dispatch_once(engine, {"email": email}, now=NOW, worker="w")
    await email.aclose()
    assert (report.failed, report.fallbacks) == (1, 1) and sink.received == []
    row = await outbox_row(engine, outbox)
    assert row.state == "failed" and row.last_error.startswith("bounced: 550")
    async with engine.connect() as conn:
        contact = (await conn.execute(
            select(Contact.__table__).where(Contact.id == ids["email"]))).one()  # fmt: skip
        tasks = (await conn.execute(select(Task.__table__))).all()
        fallback = (await conn.execute(select(OutboxMessage.__table__).where(
            OutboxMessage.channel == "telegram"))).one()  # fmt: skip
    assert contact.unreachable_at == NOW and contact.unreachable_reason.startswith("bounced: 550")
    assert [t.kind for t in tasks] == ["bounced"]
    assert "ap@customer.test" in tasks[0].body and "550 5.1.1" in tasks[0].body
    assert fallback.contact_id == ids["chat"] and fallback.state == "pending"


async def test_a_bounce_without_another_channel_leaves_the_unreachable_task(engine, sink):
    ids = await ledger(engine)
    await queue(engine, ids)
    sink.refuse("ap@customer.test")
    email = channel_for(sink, engine)
    report = await dispatch_once(engine, {"email": email}, now=NOW, worker="w")
    await email.aclose()
    assert (report.failed, report.fallbacks, report.tasks) == (1, 0, 2)
    async with engine.connect() as conn:
        kinds = (await conn.execute(select(Task.kind).order_by(Task.id))).scalars().all()
    assert kinds == ["bounced", "unreachable"]


async def test_another_5xx_fails_the_message_but_keeps_the_contact(engine, sink):
    ids = await ledger(engine)
    outbox = await queue(engine, ids)
    sink.fail_next(1, "554 5.7.1 message refused as spam", at="DATA")
    email = channel_for(sink, engine)
    report = await dispatch_once(engine, {"email": email}, now=NOW, worker="w")
    await email.aclose()
    assert report.failed == 1 and "554" in (await outbox_row(engine, outbox)).last_error
    async with engine.connect() as conn:
        contact = (await conn.execute(
            select(Contact.__table__).where(Contact.id == ids["email"]))).one()  # fmt: skip
        kinds = (await conn.execute(select(Task.kind))).scalars().all()
    assert contact.unreachable_at is None and kinds == ["unreachable"]


async def test_an_opted_out_contact_gets_nothing(engine, sink):
    ids = await ledger(engine)
    outbox = await queue(engine, ids)
    async with engine.begin() as conn:
        await conn.execute(update(Contact.__table__).values(opted_out_at=NOW))
    email = channel_for(sink, engine)
    report = await dispatch_once(engine, {"email": email}, now=NOW, worker="w")
    await email.aclose()
    assert report.skipped == {"opted_out": 1}
    assert sink.connections == 0 and await _links(engine, outbox) == {}


async def test_no_reply_to_when_the_owner_has_no_email(engine, sink):
    ids = await ledger(engine, owner_email=None)
    await queue(engine, ids)
    email = channel_for(sink, engine)
    await dispatch_once(engine, {"email": email}, now=NOW, worker="w")
    await email.aclose()
    assert sink.received[0].parsed()["Reply-To"] is None


async def test_a_server_that_is_down_is_retried(engine):
    ids = await ledger(engine)
    outbox = await queue(engine, ids)
    async with SmtpSink() as gone:
        port = gone.port
    email = channel_for(gone, engine)
    report = await dispatch_once(engine, {"email": email}, now=NOW, worker="w")
    row = await outbox_row(engine, outbox)
    assert report.retried == 1 and row.state == "pending"
    assert f"127.0.0.1:{port} unreachable" in row.last_error
    async with SmtpSink() as back:
        email.port = back.port  # the same server, back on its port
        report = await dispatch_once(
            engine, {"email": email}, now=NOW + timedelta(hours=1), worker="w"
        )
        await email.aclose()
        assert report.sent == 1 and len(back.received) == 1


async def test_a_library_reminder_from_a_tick_arrives_with_its_pay_link_tracked(engine, sink):
    customer = await add_customer(engine, email="ap@customer.test")
    await add_invoice(engine, customer, "INV-7", issued=date(2026, 1, 5), due=date(2026, 2, 4),
                      amount="1234.50")  # fmt: skip
    pay = "https://pay.example.test/{customer}/{invoice}?a={amount}"
    instant = datetime(2026, 2, 5, 10, tzinfo=UTC)
    await tick(engine, now=instant, config=EngineConfig(pay_url=pay))
    email = channel_for(sink, engine)
    report = await dispatch_once(engine, {"email": email}, now=instant, worker="w")
    await email.aclose()
    assert report.sent == 1
    mail = sink.received[0].parsed()
    html = mail.get_body(("html",)).get_content()
    assert "INV-7" in html and "pay.example.test" not in html and f"{PUBLIC}/r/" in html
    assert parsedate_to_datetime(mail["Date"]) == instant
    async with engine.connect() as conn:
        urls = await conn.execute(select(TrackingLink.url).where(TrackingLink.kind == "click"))
        assert urls.scalars().all() == ["https://pay.example.test/C1/INV-7?a=1234.50"]
