"""A ledger of due touches: customers, their contact and open invoice, pending outbox rows.

Shared by the worker tests and the worker benchmark: `add_due_emails` writes `count`
reminders due at `now`, keyed `touch:<n>` (the X-ARSeq-Idempotency-Key the sink sees);
`channel="telegram"` gives each customer the chat `chat_id(n)` instead.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.models import Contact, Customer, Invoice, OutboxMessage

KEY_HEADER = re.compile(rb"^X-ARSeq-Idempotency-Key: (\S+)\r?$", re.MULTILINE)
CHUNK = 5_000


def chat_id(n: int) -> int:
    """The Telegram chat of customer `n`."""
    return 700_000 + n


def _address(channel: str, n: int) -> str:
    return str(chat_id(n)) if channel == "telegram" else f"ap{n}@customer{n}.test"


async def add_due_emails(
    engine: AsyncEngine, count: int, now: datetime, *, channel: str = "email"
) -> None:
    """`count` customers, each with a contact, an open invoice and one due reminder."""
    for start in range(0, count, CHUNK):
        numbers = range(start, min(count, start + CHUNK))
        async with engine.begin() as conn:
            await conn.execute(insert(Customer.__table__), [dict(
                external_id=f"C{n}", name=f"Customer {n}", timezone="UTC", autopay=False,
                tags=[], created_at=now, updated_at=now,
            ) for n in numbers])  # fmt: skip
            ids = dict((await conn.execute(
                select(Customer.external_id, Customer.id).where(
                    Customer.external_id.in_([f"C{n}" for n in numbers]))
            )).all())  # fmt: skip
            await conn.execute(insert(Contact.__table__), [dict(
                customer_id=ids[f"C{n}"], channel=channel, address=_address(channel, n),
                is_primary=True, created_at=now, updated_at=now,
            ) for n in numbers])  # fmt: skip
            await conn.execute(insert(Invoice.__table__), [dict(
                number=f"INV-{n}", customer_id=ids[f"C{n}"], issue_date=date(2026, 1, 1),
                due_date=date(2026, 1, 31), amount=Decimal("1250.00"),
                open_amount=Decimal("1250.00"), currency="USD", status="open",
                created_at=now, updated_at=now,
            ) for n in numbers])  # fmt: skip
            cids = list(ids.values())
            contacts = dict((await conn.execute(
                select(Contact.customer_id, Contact.id).where(Contact.customer_id.in_(cids))
            )).all())  # fmt: skip
            invoices = dict((await conn.execute(
                select(Invoice.customer_id, Invoice.id).where(Invoice.customer_id.in_(cids))
            )).all())  # fmt: skip
            await conn.execute(insert(OutboxMessage.__table__), [dict(
                idempotency_key=f"touch:{n}", channel=channel, kind="customer_message",
                customer_id=ids[f"C{n}"], contact_id=contacts[ids[f"C{n}"]],
                invoice_ids=[invoices[ids[f"C{n}"]]],
                subject=f"Invoice INV-{n} is past due",
                body=f"Hello Customer {n},\n\nINV-{n} for $1,250.00 is past due.\n",
                scheduled_for=now, state="pending", attempts=0, next_attempt_at=now,
                created_at=now,
            ) for n in numbers])  # fmt: skip


def keys_seen(messages: Iterable[bytes]) -> Counter[str]:
    """How many times the sink received each idempotency key."""
    seen: Counter[str] = Counter()
    for data in messages:
        head = data.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
        if found := KEY_HEADER.search(head):
            seen[found.group(1).decode()] += 1
    return seen


async def outbox_states(engine: AsyncEngine) -> dict[str, int]:
    """How many outbox rows are in each state."""
    async with engine.connect() as conn:
        found = await conn.execute(
            select(OutboxMessage.state, func.count()).group_by(OutboxMessage.state)
        )
        return {str(getattr(state, "value", state)): n for state, n in found}
