"""The re-check of a batch right before it leaves: opted out, paid, disputed, paused, promised.

One set of queries for the whole claimed batch (contacts, sequences, then
`storage.queries.touch_block_reasons`), never a few per message.
"""

from __future__ import annotations

from collections.abc import Sequence as Rows
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.models import Contact, Sequence
from storage.queries import TouchTarget, touch_block_reasons

CUSTOMER_MESSAGE = "customer_message"


@dataclass(frozen=True)
class Verdict:
    """Whether a row may go (`reason` None), and the address to send it to."""

    reason: str | None
    address: str | None


async def recheck(
    conn: AsyncConnection, rows: Rows[Row], *, now: datetime, promise_grace: timedelta
) -> dict[int, Verdict]:
    """A verdict per outbox row id. Team messages (not to a customer) always go."""
    customer_rows = [r for r in rows if r.kind == CUSTOMER_MESSAGE]
    contact_ids = {r.contact_id for r in customer_rows if r.contact_id is not None}
    sequence_ids = {r.sequence_id for r in customer_rows if r.sequence_id is not None}
    contacts = {}
    if contact_ids:
        found = await conn.execute(
            select(Contact.id, Contact.address, Contact.opted_out_at).where(
                Contact.id.in_(contact_ids)
            )
        )
        contacts = {c.id: c for c in found}
    sequences = {}
    if sequence_ids:
        found = await conn.execute(
            select(Sequence.id, Sequence.name, Sequence.kind).where(Sequence.id.in_(sequence_ids))
        )
        sequences = {s.id: s for s in found}
    verdicts = {r.id: Verdict(None, (r.payload or {}).get("address")) for r in rows}
    targets = {}
    for r in customer_rows:
        contact = contacts.get(r.contact_id)
        address = contact.address if contact is not None else (r.payload or {}).get("address")
        if contact is not None and contact.opted_out_at is not None:
            verdicts[r.id] = Verdict("opted_out", None)
            continue
        verdicts[r.id] = Verdict(None, address)
        sequence = sequences.get(r.sequence_id)
        targets[r.id] = TouchTarget(
            customer_id=r.customer_id,
            invoice_ids=tuple(r.invoice_ids or ()),
            sequence_name=sequence.name if sequence is not None else None,
            about_dispute=sequence is not None and sequence.kind == "disputes",
        )
    reasons = await touch_block_reasons(conn, targets, now=now, promise_grace=promise_grace)
    for row_id, reason in reasons.items():
        if reason is not None:
            verdicts[row_id] = Verdict(reason, verdicts[row_id].address)
    return verdicts
