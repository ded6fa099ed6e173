"""Building a small ledger and driving ticks and dispatch at chosen instants."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from sequences.channels import ConsoleChannel
from sequences.dispatch import dispatch_once
from sequences.engine import EngineConfig, TickReport, tick
from storage.models import (
    Contact,
    Customer,
    Enrollment,
    Invoice,
    OutboxMessage,
    Sequence,
    Task,
)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


async def add_customer(
    engine: AsyncEngine, external_id: str = "C1", *, timezone: str = "UTC",
    country: str | None = None, email: str | None = "ap@example.test",
    created_at: datetime = utc(2020, 1, 1),
) -> int:  # fmt: skip
    async with engine.begin() as conn:
        customer = await conn.scalar(
            insert(Customer.__table__).returning(Customer.id).values(
                external_id=external_id, name=f"Customer {external_id}", timezone=timezone,
                country=country, autopay=False, tags=[], owner_slack_id="U0OWNER1",
                created_at=created_at, updated_at=created_at,
            )
        )  # fmt: skip
        if email:
            await conn.execute(
                insert(Contact.__table__).values(
                    customer_id=customer, channel="email", address=email, is_primary=True,
                    created_at=created_at, updated_at=created_at,
                )
            )  # fmt: skip
    return int(customer)


async def add_invoice(
    engine: AsyncEngine, customer_id: int, number: str, *, issued: date, due: date,
    amount: str = "100.00", currency: str = "USD",
) -> int:  # fmt: skip
    async with engine.begin() as conn:
        return int(
            await conn.scalar(
                insert(Invoice.__table__)
                .returning(Invoice.id)
                .values(
                    number=number,
                    customer_id=customer_id,
                    issue_date=issued,
                    due_date=due,
                    amount=Decimal(amount),
                    open_amount=Decimal(amount),
                    currency=currency,
                    status="open",
                    created_at=utc(2020, 1, 1),
                    updated_at=utc(2020, 1, 1),
                )
            )
        )


class Clock:
    """Runs tick then dispatch at each instant, keeping every message sent."""

    def __init__(self, engine: AsyncEngine, config: EngineConfig | None = None) -> None:
        self.engine = engine
        self.config = config or EngineConfig()
        self.channels = {
            name: ConsoleChannel(name, io.StringIO()) for name in ("email", "telegram")
        }

    @property
    def sent(self) -> list[Any]:
        return sorted(
            (m for c in self.channels.values() for m in c.sent), key=lambda m: m.scheduled_for
        )

    async def at(self, now: datetime) -> TickReport:
        report = await tick(self.engine, now=now, config=self.config)
        while (await dispatch_once(self.engine, self.channels, now=now, worker="test")).claimed:
            pass
        return report


async def outbox(engine: AsyncEngine) -> list[Any]:
    async with engine.connect() as conn:
        table = OutboxMessage.__table__
        return list((await conn.execute(select(table).order_by(table.c.id))).all())


async def enrollments(engine: AsyncEngine) -> list[Any]:
    async with engine.connect() as conn:
        table = Enrollment.__table__
        return list((await conn.execute(select(table).order_by(table.c.id))).all())


async def tasks(engine: AsyncEngine) -> list[Any]:
    async with engine.connect() as conn:
        table = Task.__table__
        return list((await conn.execute(select(table).order_by(table.c.id))).all())


async def add_contact(engine: AsyncEngine, customer_id: int, channel: str, address: str) -> int:
    async with engine.begin() as conn:
        return int(
            await conn.scalar(
                insert(Contact.__table__)
                .returning(Contact.id)
                .values(
                    customer_id=customer_id,
                    channel=channel,
                    address=address,
                    is_primary=True,
                    created_at=utc(2020, 1, 1),
                    updated_at=utc(2020, 1, 1),
                )
            )
        )


async def add_sequence_row(engine: AsyncEngine, name: str, kind: str, trigger: str) -> int:
    """A bare stored sequence row (tests of dispatch and the ledger need only its name)."""
    async with engine.begin() as conn:
        return int(
            await conn.scalar(
                insert(Sequence.__table__)
                .returning(Sequence.id)
                .values(
                    name=name,
                    version=1,
                    kind=kind,
                    trigger=trigger,
                    definition={},
                    active=True,
                    created_at=utc(2020, 1, 1),
                )
            )
        )
