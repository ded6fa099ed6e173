"""Raw messages as they land in an AR mailbox: replies from Outlook and Gmail, auto-replies,
a bounce, written the way those clients write them (headers, parts, quoting); and the
ledger they answer (`sent_reminder`)."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.models import OutboxMessage
from tests.sequences.engine_helpers import add_customer, add_invoice, utc

OUR_ID = "<arseq.0123456789abcdef0123456789abcdef@ar.example.test>"
OLDER_ID = "<arseq.fedcba9876543210fedcba9876543210@ar.example.test>"


def crlf(text: str) -> bytes:
    return text.lstrip("\n").replace("\n", "\r\n").encode()


def outlook_reply(
    *, sender: str = "Ann Payable <Ann.Payable@Customer.example>", in_reply_to: str = OUR_ID,
    message_id: str = "<DB9PR01MB1234.eurprd01.prod.outlook.com>",
) -> bytes:  # fmt: skip
    """Outlook desktop: multipart/alternative, the quote under a From:/Sent: block."""
    return crlf(f"""
Received: from DB9PR01MB1234.eurprd01.prod.outlook.com by mx.ar.example.test
From: {sender}
To: "Acme AR" <ar@ar.example.test>
Subject: RE: Invoice INV-1 is overdue
Thread-Topic: Invoice INV-1 is overdue
Thread-Index: AQHZ1234abcdEFGH
Date: Tue, 10 Feb 2026 09:14:02 +0000
Message-ID: {message_id}
In-Reply-To: {in_reply_to}
References: {in_reply_to}
Content-Language: en-GB
X-MS-Has-Attach:
MIME-Version: 1.0
Content-Type: multipart/alternative; boundary="_000_DB9PR01MB1234_"

--_000_DB9PR01MB1234_
Content-Type: text/plain; charset="us-ascii"
Content-Transfer-Encoding: quoted-printable

Hello,

We paid INV-1 on Friday by bank transfer, reference 4471. Could you check a=
gain?

Kind regards,
Ann

From: Acme AR <ar@ar.example.test>
Sent: 09 February 2026 10:00
To: Ann Payable <ann.payable@customer.example>
Subject: Invoice INV-1 is overdue

Dear Customer C1, invoice INV-1 of $100.00 was due on 4 February.

--_000_DB9PR01MB1234_
Content-Type: text/html; charset="us-ascii"

<html><body><p>Hello,</p><p>We paid INV-1 on Friday by bank transfer, reference 4471.</p>
<div id="divRplyFwdMsg"><b>From:</b> Acme AR</div></body></html>

--_000_DB9PR01MB1234_--
""")


def gmail_reply(*, references: str = f"{OLDER_ID} {OUR_ID}", in_reply_to: str = "") -> bytes:
    """Gmail: the attribution wrapped over two lines, quoted with '>', then a signature."""
    reply_to = f"In-Reply-To: {in_reply_to}\n" if in_reply_to else ""
    return crlf(f"""
MIME-Version: 1.0
Date: Tue, 10 Feb 2026 11:02:45 +0100
Message-ID: <CAF9x+Yq3kR2m@mail.gmail.com>
{reply_to}References: {references}
Subject: Re: Invoice INV-1 is overdue
From: Bob Finance <bob.finance@gmail.example>
To: ar@ar.example.test
Content-Type: multipart/alternative; boundary="000000000000b1a2c3"

--000000000000b1a2c3
Content-Type: text/plain; charset="UTF-8"

Hi, we will pay next Tuesday. Sorry for the delay!

--
Bob Finance, Customer C1

On Mon, 9 Feb 2026 at 10:00, Acme AR <ar@ar.example.test>
wrote:

> Dear Customer C1, invoice INV-1 of $100.00 was due on 4 February.
>

--000000000000b1a2c3
Content-Type: text/html; charset="UTF-8"

<div dir="ltr">Hi, we will pay next Tuesday. Sorry for the delay!</div>
<div class="gmail_quote">On Mon, 9 Feb 2026 wrote:<blockquote>Dear Customer</blockquote></div>

--000000000000b1a2c3--
""")


def html_only_reply(sender: str = "carol@customer.example") -> bytes:
    """A client that sends HTML only: the text is read from the markup."""
    return crlf(f"""
From: Carol <{sender}>
To: ar@ar.example.test
Subject: Re: Invoice INV-1
Message-ID: <html-only-1@customer.example>
MIME-Version: 1.0
Content-Type: text/html; charset="utf-8"

<html><head><style>p {{ color: red }}</style></head><body>
<p>Dear <b>Acme</b>,</p><p>the amount is wrong: we ordered 3 units, not 4.</p>
<blockquote>Dear Customer C1, invoice INV-1 is overdue.</blockquote>
</body></html>
""")


def exchange_out_of_office(*, in_reply_to: str = OUR_ID) -> bytes:
    """Exchange's automatic reply: Auto-Submitted and X-Auto-Response-Suppress."""
    return crlf(f"""
From: Ann Payable <ann.payable@customer.example>
To: Acme AR <ar@ar.example.test>
Subject: Automatic reply: Invoice INV-1 is overdue
Date: Tue, 10 Feb 2026 09:00:01 +0000
Message-ID: <oof-1@customer.example>
In-Reply-To: {in_reply_to}
Auto-Submitted: auto-generated
X-Auto-Response-Suppress: All
X-MS-Exchange-Inbox-Rules-Loop: ann.payable@customer.example
Content-Type: text/plain; charset="utf-8"

I am out of the office until 20 February with limited access to email.
""")


def german_out_of_office_without_headers() -> bytes:
    """A small provider's vacation reply: no headers say so, only the subject."""
    return crlf("""
From: buchhaltung@kunde.example
To: ar@ar.example.test
Subject: Abwesenheitsnotiz: Rechnung INV-1
Message-ID: <urlaub-1@kunde.example>
Content-Type: text/plain; charset="utf-8"

Ich bin bis zum 20. Februar nicht im Büro.
""")


def bounce(*, original_id: str = OUR_ID) -> bytes:
    """A delivery status notification (RFC 3464) from the mailer daemon."""
    return crlf(f"""
From: Mail Delivery System <MAILER-DAEMON@mx.customer.example>
To: ar@ar.example.test
Subject: Undelivered Mail Returned to Sender
Message-ID: <bounce-1@mx.customer.example>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="dsn"

--dsn
Content-Type: text/plain

This is the mail system at host mx.customer.example. Your message could not be delivered.

--dsn
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.customer.example
Final-Recipient: rfc822; gone@customer.example
Action: failed
Status: 5.1.1

--dsn
Content-Type: text/rfc822-headers

Message-ID: {original_id}
Subject: Invoice INV-1 is overdue

--dsn--
""")


def plain_reply(
    *, sender: str, message_id: str, subject: str = "Re: Invoice INV-1", body: str = "Thanks!",
    extra: str = "",
) -> bytes:  # fmt: skip
    """A minimal plain-text reply, with any extra header lines."""
    return crlf(f"""
From: {sender}
To: ar@ar.example.test
Subject: {subject}
Message-ID: {message_id}
{extra}Content-Type: text/plain; charset="utf-8"

{body}
""")


async def sent_reminder(engine: AsyncEngine) -> dict[str, Any]:
    """A customer with a contact and an invoice, and the reminder we sent it."""
    customer = await add_customer(engine, "C1", email="ann.payable@customer.example")
    invoice = await add_invoice(
        engine, customer, "INV-1", issued=date(2026, 1, 5), due=date(2026, 2, 4)
    )
    other = await add_customer(engine, "C2", email="bob.finance@gmail.example")
    async with engine.begin() as conn:
        outbox = await conn.scalar(
            insert(OutboxMessage.__table__).returning(OutboxMessage.id).values(
                idempotency_key="k1", channel="email", kind="customer_message",
                customer_id=customer, invoice_ids=[invoice], subject="Invoice INV-1 is overdue",
                body="...", payload={}, scheduled_for=utc(2026, 2, 9, 10), state="sent",
                next_attempt_at=utc(2026, 2, 9, 10), sent_at=utc(2026, 2, 9, 10),
                provider_message_id=OUR_ID, created_at=utc(2026, 2, 9, 10),
            )
        )  # fmt: skip
    return {"customer": customer, "invoice": invoice, "outbox": outbox, "other": other}
