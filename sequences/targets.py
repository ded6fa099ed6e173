"""Naming what a person acts on: an invoice by number, else a customer (SPEC section 4).

`/ar pause ACME-7` pauses invoice ACME-7 if there is one, else the customer whose
external id or unambiguous name prefix is ACME-7 (`lookup.find_customer`).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from sequences.ledger import LedgerError
from sequences.lookup import CustomerLookupError, find_customer
from storage.models import Customer, Invoice


class UnknownInvoice(LedgerError):
    """No invoice has that number."""


@dataclass(frozen=True)
class Named:
    """A resolved target: the customer, and the invoice when one was named."""

    customer: Row
    invoice: Row | None = None


async def find_invoice(conn: AsyncConnection, number: str) -> Row:
    """The invoice numbered `number` (exactly); UnknownInvoice when there is none."""
    i = Invoice.__table__
    row = (await conn.execute(select(i).where(i.c.number == number.strip()))).first()
    if row is None:
        raise UnknownInvoice(f"no invoice numbered '{number.strip()}'")
    return row


async def name_target(conn: AsyncConnection, text: str) -> Named:
    """The invoice numbered `text`, else the customer it names.

    Raises lookup.CustomerLookupError (unknown, or ambiguous with the matches) when
    it is neither.
    """
    i, c = Invoice.__table__, Customer.__table__
    invoice = (await conn.execute(select(i).where(i.c.number == text.strip()))).first()
    if invoice is not None:
        customer = (await conn.execute(select(c).where(c.c.id == invoice.customer_id))).one()
        return Named(customer, invoice)
    try:
        return Named(await find_customer(conn, text))
    except CustomerLookupError as exc:
        if exc.matches:
            raise
        raise CustomerLookupError(
            f"no invoice numbered '{text.strip()}' and no customer with that external id "
            "or a name starting with it"
        ) from None
