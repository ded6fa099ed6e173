"""One batch of due enrollments: the facts the engine reads for it, all at once.

A tick takes due enrollments in batches. For a batch, the customers, invoices, disputes,
usable contacts, last replies and messages, active pauses, checklists and engagement
(for `send: preferred`) and owners (the collector who signs) of all its enrollments are
read with a few set-based queries, never one query per enrollment.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from sequences.planner import CustomerFacts, DisputeFacts, InvoiceFacts
from sequences.preferences import ACTIONS, LOOKBACK, Preference, preference
from sequences.store import Stored, stored_by_id
from storage.engagement_queries import engagement_by_channel
from storage.models import Contact, Customer, Dispute, Invoice
from storage.owner_queries import customer_owners
from storage.queries import (
    active_pauses,
    checklist_done,
    disputed_invoices,
    last_customer_messages,
    last_replies,
)

INDEFINITE_PAUSE_RECHECK = timedelta(days=1)


@dataclass
class Batch:
    """What the engine knows about the enrollments of one batch, by id."""

    sequences: dict[int, Stored]
    customers: dict[int, Row]
    invoices: dict[int, InvoiceFacts]
    disputes: dict[int, DisputeFacts]
    contacts: dict[int, list[Row]]
    replies: dict[int, datetime]
    last_message: dict[int, datetime]
    pauses: list[Row]
    checklists: dict[int, set[str]]
    preferences: dict[int, Preference] = field(default_factory=dict)
    # The template's `collector` per customer (name, email); absent: not known.
    collectors: dict[int, dict[str, str | None]] = field(default_factory=dict)
    _facts: dict[int, CustomerFacts] = field(default_factory=dict, repr=False)

    def customer(self, customer_id: int) -> CustomerFacts:
        """The planner's view of a customer of this batch (made once per batch)."""
        facts = self._facts.get(customer_id)
        if facts is None:
            facts = self._facts[customer_id] = self._customer(customer_id)
        return facts

    def _customer(self, customer_id: int) -> CustomerFacts:
        row = self.customers[customer_id]
        return CustomerFacts(
            id=row.id, external_id=row.external_id, name=row.name,
            timezone=row.timezone or "UTC", country=row.country, language=row.language,
            owner_slack_id=row.owner_slack_id, last_reply_at=self.replies.get(customer_id),
            checklist_done=frozenset(self.checklists.get(customer_id, ())),
        )  # fmt: skip

    def preference(self, customer_id: int) -> Preference:
        """Where and when `send: preferred` reaches this customer (learnt from engagement)."""
        return self.preferences.get(customer_id, Preference())

    def paused_until(self, row: Row, sequence_name: str, now: datetime) -> datetime | None:
        """When the pauses on this enrollment's target end (indefinite: a day from now)."""
        ends = [
            p.until or now + INDEFINITE_PAUSE_RECHECK
            for p in self.pauses
            if (p.scope == "customer" and p.customer_id == row.customer_id)
            or (p.scope == "invoice" and row.invoice_id and p.invoice_id == row.invoice_id)
            or (p.scope == "sequence" and p.sequence_name == sequence_name)
        ]
        return max(ends) if ends else None


async def load_batch(conn: AsyncConnection, rows: list[Row], now: datetime) -> Batch:
    """Read the facts of the enrollments in `rows` as of `now`."""
    customer_ids = {r.customer_id for r in rows}
    invoice_ids = {r.invoice_id for r in rows if r.invoice_id}
    dispute_ids = {r.dispute_id for r in rows if r.dispute_id}
    c, i, d, ct = Customer.__table__, Invoice.__table__, Dispute.__table__, Contact.__table__
    customers = {r.id: r for r in await conn.execute(select(c).where(c.c.id.in_(customer_ids)))}
    disputed = await disputed_invoices(conn, invoice_ids)
    invoices = {
        r.id: InvoiceFacts(
            r.id,
            r.number,
            r.issue_date,
            r.due_date,
            r.amount,
            r.open_amount,
            r.currency,
            str(r.status),
            r.id in disputed,
        )
        for r in await conn.execute(select(i).where(i.c.id.in_(invoice_ids)))
    }
    disputes = {
        r.id: DisputeFacts(r.id, str(r.status), r.opened_at)
        for r in await conn.execute(select(d).where(d.c.id.in_(dispute_ids)))
    }
    contacts: dict[int, list[Row]] = defaultdict(list)
    usable = select(ct).where(
        ct.c.customer_id.in_(customer_ids), ct.c.opted_out_at.is_(None),
        ct.c.unreachable_at.is_(None),
    ).order_by(ct.c.is_primary.desc(), ct.c.id)  # fmt: skip
    for r in await conn.execute(usable):
        contacts[r.customer_id].append(r)
    sequences = await stored_by_id(conn, {r.sequence_id for r in rows})
    pauses = await active_pauses(
        conn, customer_ids=customer_ids, invoice_ids=invoice_ids,
        sequence_names={s.sequence.name for s in sequences.values()}, now=now,
    )  # fmt: skip
    engagement = await engagement_by_channel(
        conn, {cid: r.timezone or "UTC" for cid, r in customers.items()}, actions=ACTIONS,
        since=now - LOOKBACK, now=now,
    )  # fmt: skip
    preferences = {
        cid: preference(engagement.get(cid, {}), {str(r.channel) for r in contacts.get(cid, [])})
        for cid in customers
    }
    return Batch(
        sequences=sequences,
        customers=customers,
        invoices=invoices,
        disputes=disputes,
        contacts=contacts,
        replies=await last_replies(conn, customer_ids),
        last_message=await last_customer_messages(conn, customer_ids),
        pauses=pauses,
        checklists=await checklist_done(conn, customer_ids),
        preferences=preferences,
        collectors=await customer_owners(conn, customer_ids),
    )
