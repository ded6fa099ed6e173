"""Reply capture against a real Dovecot: a pass records, marks \\Seen, keeps every message;
IDLE wakes the reader; a reply ends a `replied` sequence at the next tick."""

from __future__ import annotations

import asyncio
import imaplib
import subprocess
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import date

import pytest
from sqlalchemy import select

from bot.channels import Adapters
from bot.email_replies import ReplyReader, add_replies, read_new_replies
from bot.imap import Mailbox, MailboxConfig, MailboxError
from bot.settings import load_settings
from storage.models import Event
from tests.fakes.dovecot import Dovecot, running_dovecot
from tests.sequences import reply_samples as samples
from tests.sequences.engine_helpers import (
    Clock,
    add_customer,
    add_invoice,
    enrollments,
    tasks,
    utc,
)

WAIT = 15.0  # bound on waiting for the reader; never reached when it works


@pytest.fixture(scope="module")
def dovecot() -> Iterator[Dovecot]:
    """One private Dovecot for the module; each test has its own mailbox in it."""
    with running_dovecot() as server:
        yield server


@dataclass
class SenderBox:
    """A fresh mailbox of the test Dovecot, driven with stdlib imaplib as a sender would."""

    server: Dovecot
    name: str

    @property
    def config(self) -> MailboxConfig:
        return MailboxConfig.from_url(self.server.url(self.name))

    def _session(self) -> imaplib.IMAP4:
        imap = imaplib.IMAP4(self.server.host, self.server.port)
        imap.login(self.server.user, self.server.password)
        return imap

    def create(self) -> None:
        imap = self._session()
        assert imap.create(self.name)[0] == "OK"
        imap.logout()

    def append(self, *raws: bytes) -> None:
        imap = self._session()
        for raw in raws:
            assert imap.append(self.name, None, None, raw)[0] == "OK"
        imap.logout()

    def search(self, criterion: str) -> list[bytes]:
        imap = self._session()
        imap.select(self.name, readonly=True)
        found = imap.uid("SEARCH", criterion)[1][0].split()
        imap.logout()
        return found


@pytest.fixture
async def mailbox(dovecot: Dovecot) -> SenderBox:
    box = SenderBox(dovecot, f"Replies{uuid.uuid4().hex[:8]}")
    await asyncio.to_thread(box.create)
    return box


@pytest.fixture
async def opened(mailbox: SenderBox) -> AsyncIterator[Mailbox]:
    box = await Mailbox.open(mailbox.config, command_timeout=WAIT)
    try:
        yield box
    finally:
        await box.close()


async def _events(engine) -> list[str]:
    async with engine.connect() as conn:
        ev = Event.__table__
        return list((await conn.execute(select(ev.c.kind).order_by(ev.c.id))).scalars())


async def test_a_pass_records_new_mail_marks_it_seen_and_keeps_it(engine, mailbox, opened):
    ledger = await samples.sent_reminder(engine)
    await asyncio.to_thread(
        mailbox.append,
        samples.outlook_reply(),
        samples.exchange_out_of_office(),
        samples.html_only_reply("stranger@elsewhere.example"),
        b"\r\nno header at all\r\n",
    )
    counts = await read_new_replies(opened, engine, now=utc(2026, 2, 10, 12))
    assert counts == Counter(replied=1, auto_replied=1, unmatched=1, unreadable=1)
    assert await _events(engine) == [
        "replied",
        "auto_replied",
        "reply_unmatched",
        "reply_unreadable",
    ]
    [task] = await tasks(engine)
    assert (task.kind, task.customer_id) == ("reply", ledger["customer"])
    # Every message is still there, and seen.
    assert len(await asyncio.to_thread(mailbox.search, "ALL")) == 4
    assert await asyncio.to_thread(mailbox.search, "UNSEEN") == []
    # A second pass finds nothing new and records nothing.
    assert await read_new_replies(opened, engine, now=utc(2026, 2, 10, 13)) == Counter()
    assert len(await _events(engine)) == 4


async def test_a_message_seen_again_after_a_crash_is_not_recorded_twice(engine, mailbox, opened):
    await samples.sent_reminder(engine)
    await asyncio.to_thread(mailbox.append, samples.outlook_reply(), samples.outlook_reply())
    # The same reply twice: as if a pass had recorded it and died before marking it seen.
    counts = await read_new_replies(opened, engine, now=utc(2026, 2, 10, 12))
    assert counts == Counter(replied=1, duplicate=1)
    assert len(await tasks(engine)) == 1


async def test_a_reply_ends_a_sequence_that_exits_on_replies_at_the_next_tick(
    engine, mailbox, opened
):
    customer = await add_customer(engine, "C1", email="ap@example.test")
    await add_invoice(engine, customer, "INV-1", issued=date(2026, 1, 5), due=date(2026, 2, 4))
    clock = Clock(engine)
    await clock.at(utc(2026, 2, 5, 10))  # past-due-standard: the gentle reminder
    assert len(clock.sent) == 1
    await asyncio.to_thread(
        mailbox.append, samples.plain_reply(sender="ap@example.test", message_id="<r1@x.example>")
    )
    assert await read_new_replies(opened, engine, now=utc(2026, 2, 6, 9)) == Counter(replied=1)
    await clock.at(utc(2026, 2, 6, 10))
    [enrollment] = [e for e in await enrollments(engine) if e.invoice_id is not None]
    assert (enrollment.state, enrollment.exit_reason) == ("exited", "replied")
    await clock.at(utc(2026, 2, 12, 10))  # the firm step would have gone out on Feb 11
    assert len(clock.sent) == 1


async def test_an_auto_reply_does_not_end_the_sequence(engine, mailbox, opened):
    customer = await add_customer(engine, "C1", email="ann.payable@customer.example")
    await add_invoice(engine, customer, "INV-1", issued=date(2026, 1, 5), due=date(2026, 2, 4))
    clock = Clock(engine)
    await clock.at(utc(2026, 2, 5, 10))
    await asyncio.to_thread(mailbox.append, samples.exchange_out_of_office(in_reply_to="<x@y>"))
    counts = await read_new_replies(opened, engine, now=utc(2026, 2, 6, 9))
    assert counts == Counter(auto_replied=1)
    await clock.at(utc(2026, 2, 11, 10))
    assert len(clock.sent) == 2  # the firm step went out all the same


async def test_idle_wakes_the_reader_when_mail_arrives_and_stop_ends_it(engine, mailbox):
    await samples.sent_reminder(engine)
    passes: asyncio.Queue[Counter[str]] = asyncio.Queue()
    # No polling to fall back on: only IDLE can wake it within the test.
    reader = ReplyReader(engine, mailbox.config, poll_every=3600, on_pass=passes.put_nowait)
    stop = asyncio.Event()
    running = asyncio.create_task(reader.run(stop))
    try:
        assert await asyncio.wait_for(passes.get(), WAIT) == Counter()
        await asyncio.to_thread(mailbox.append, samples.outlook_reply())
        assert await asyncio.wait_for(passes.get(), WAIT) == Counter(replied=1)
    finally:
        stop.set()
        await asyncio.wait_for(running, WAIT)
    assert await _events(engine) == ["replied"]


@pytest.fixture(scope="module")
def dovecot_without_idle() -> Iterator[Dovecot]:
    """A Dovecot that does not offer IDLE: the reader polls it."""
    with running_dovecot("imap_capability = IMAP4rev1 LITERAL+\n") as server:
        yield server


async def test_without_idle_the_reader_polls(engine, dovecot_without_idle):
    await samples.sent_reminder(engine)
    mailbox = SenderBox(dovecot_without_idle, "INBOX")
    passes: asyncio.Queue[Counter[str]] = asyncio.Queue()
    reader = ReplyReader(engine, mailbox.config, poll_every=0.05, on_pass=passes.put_nowait)
    stop = asyncio.Event()
    running = asyncio.create_task(reader.run(stop))
    try:
        assert await asyncio.wait_for(passes.get(), WAIT) == Counter()
        await asyncio.to_thread(mailbox.append, samples.outlook_reply())

        async def until_recorded() -> Counter[str]:
            while not (counts := await passes.get()):
                pass
            return counts

        assert await asyncio.wait_for(until_recorded(), WAIT) == Counter(replied=1)
    finally:
        stop.set()
        await asyncio.wait_for(running, WAIT)


async def test_a_dropped_connection_is_reopened(engine, mailbox, caplog):
    passes: asyncio.Queue[Counter[str]] = asyncio.Queue()
    reader = ReplyReader(
        engine, mailbox.config, poll_every=3600, backoff=(0.01, 0.01), on_pass=passes.put_nowait
    )
    stop = asyncio.Event()
    running = asyncio.create_task(reader.run(stop))
    try:
        await asyncio.wait_for(passes.get(), WAIT)
        await asyncio.to_thread(_kick, mailbox.server)
        # Reconnected: a fresh session makes a fresh first pass.
        assert await asyncio.wait_for(passes.get(), WAIT) == Counter()
    finally:
        stop.set()
        await asyncio.wait_for(running, WAIT)
    assert "reconnecting" in caplog.text


def _kick(server: Dovecot) -> None:
    subprocess.run(
        ["doveadm", "-c", str(server.root / "dovecot.conf"), "kick", server.user],
        check=True, capture_output=True,
    )  # fmt: skip


async def test_a_missing_mailbox_is_a_clear_error(mailbox):
    missing = MailboxConfig.from_url(mailbox.server.url("NoSuchFolder"))
    with pytest.raises(MailboxError, match=r"cannot select 127\.0\.0\.1:\d+/NoSuchFolder"):
        await Mailbox.open(missing, command_timeout=WAIT)


async def test_a_refused_login_is_a_clear_error():
    # A server of its own: Dovecot slows down later logins from an address that failed one.
    with running_dovecot() as server:
        wrong = MailboxConfig.from_url(server.url().replace(server.password, "wrong"))
        with pytest.raises(MailboxError, match=r"IMAP login to 127\.0\.0\.1 refused"):
            await Mailbox.open(wrong, command_timeout=WAIT)


def test_the_mailbox_url_is_read_with_its_defaults():
    tls = MailboxConfig.from_url("imaps://ar%40acme.example:p%40ss@imap.acme.example/AR/Replies")
    assert (tls.host, tls.port, tls.tls, tls.user, tls.password, tls.mailbox) == (
        "imap.acme.example", 993, True, "ar@acme.example", "p@ss", "AR/Replies",
    )  # fmt: skip
    plain = MailboxConfig.from_url("imap://u:p@127.0.0.1:1143")
    assert (plain.port, plain.tls, plain.mailbox) == (1143, False, "INBOX")
    with pytest.raises(ValueError, match="expected imaps://"):
        MailboxConfig.from_url("pop3://u:p@host")


async def test_the_reader_is_a_service_only_when_imap_url_is_set(engine):
    adapters = Adapters()
    add_replies(adapters, load_settings(imap_url=None), engine)
    assert adapters.services == []
    add_replies(adapters, load_settings(imap_url="imaps://u:p@imap.example/INBOX"), engine)
    assert len(adapters.services) == 1
