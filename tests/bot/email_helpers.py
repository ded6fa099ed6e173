"""A small ledger with email outbox rows, and the email channel pointed at a sink."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.email import EmailChannel
from bot.settings import SmtpTls
from storage.models import OutboxMessage, User
from tests.fakes.smtp_sink import SmtpSink
from tests.sequences.engine_helpers import (
    add_contact,
    add_customer,
    add_invoice,
    add_sequence_row,
)

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
SENDER = "ar@acme-billing.test"
PUBLIC = "https://arseq.acme-billing.test"
PAY = "https://pay.acme-billing.test/p?invoice=INV-1&amount=100.00"
HTML = (
    "<html><body><p>Invoice INV-1 is overdue.</p>"
    f'<p><a href="{PAY.replace("&", "&amp;")}">Pay now</a></p></body></html>'
)
TEXT = f"Hello,\n\nInvoice INV-1 is overdue.\n\nPay here: {PAY}\n"


async def ledger(
    engine: AsyncEngine, *, email: str = "ap@customer.test", telegram: bool = False,
    owner_email: str | None = "collector@acme-billing.test",
) -> dict[str, Any]:  # fmt: skip
    """A customer owned by U0OWNER1 with an email contact (and a Telegram chat)."""
    customer = await add_customer(engine, email=None)
    if owner_email:
        async with engine.begin() as conn:
            await conn.execute(insert(User.__table__).values(
                slack_user_id="U0OWNER1", name="Olive Owner", email=owner_email,
                role="collector", created_at=NOW, updated_at=NOW))  # fmt: skip
    return {
        "customer": customer,
        "email": await add_contact(engine, customer, "email", email),
        "chat": await add_contact(engine, customer, "telegram", "4242") if telegram else None,
        "invoice": await add_invoice(
            engine, customer, "INV-1", issued=date(2026, 1, 1), due=date(2026, 1, 31)
        ),
        "sequence": await add_sequence_row(
            engine, "past-due-standard", "past_due", "invoice_overdue"
        ),
    }


async def queue(
    engine: AsyncEngine, ids: dict[str, Any], *, key: str = "touch:k1",
    html: str | None = HTML, body: str = TEXT, subject: str = "Invoice INV-1 is overdue",
) -> int:  # fmt: skip
    """One pending customer email due at NOW."""
    async with engine.begin() as conn:
        return int(await conn.scalar(
            insert(OutboxMessage.__table__).returning(OutboxMessage.id).values(
                idempotency_key=key, channel="email", kind="customer_message",
                customer_id=ids["customer"], contact_id=ids["email"],
                sequence_id=ids["sequence"], invoice_ids=[ids["invoice"]], subject=subject,
                body=body, payload={"html": html}, scheduled_for=NOW, state="pending",
                attempts=0, next_attempt_at=NOW, created_at=NOW,
            )
        ))  # fmt: skip


async def outbox_row(engine: AsyncEngine, outbox_id: int) -> Any:
    async with engine.connect() as conn:
        table = OutboxMessage.__table__
        return (await conn.execute(select(table).where(table.c.id == outbox_id))).one()


def channel_for(sink: SmtpSink, engine: AsyncEngine, **options: Any) -> EmailChannel:
    """The email channel sending to `sink` without TLS unless told otherwise."""
    options.setdefault("tls", SmtpTls.NONE)
    return EmailChannel(
        engine, host="127.0.0.1", port=sink.port, sender=SENDER, public_url=PUBLIC, **options
    )
