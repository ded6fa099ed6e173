"""Money stays exact and instants stay aware UTC on every backend."""

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import StatementError

from storage.db import session_factory
from storage.models import Customer, Event, Invoice


async def _customer(session) -> Customer:
    customer = Customer(external_id="C1", name="Acme")
    session.add(customer)
    await session.flush()
    return customer


async def test_money_sums_exactly_where_floats_would_drift(engine):
    async with session_factory(engine)() as session:
        customer = await _customer(session)
        for n in range(100):
            session.add(
                Invoice(
                    number=f"I{n}",
                    customer_id=customer.id,
                    issue_date=date(2026, 1, 1),
                    due_date=date(2026, 1, 31),
                    amount=Decimal("0.10"),
                    open_amount=Decimal("0.10"),
                    currency="USD",
                )
            )
        await session.commit()
        total = (await session.execute(select(func.sum(Invoice.amount)))).scalar_one()
        assert total == Decimal("10.00")
        assert sum([0.1] * 100) != 10.0  # what a float column would have given
        big = (
            (
                await session.execute(
                    select(Invoice.amount).where(Invoice.amount > Decimal("0.0999"))
                )
            )
            .scalars()
            .all()
        )
        assert len(big) == 100


async def test_money_keeps_four_places_and_refuses_floats(engine):
    async with session_factory(engine)() as session:
        customer = await _customer(session)
        invoice = Invoice(
            number="I1",
            customer_id=customer.id,
            issue_date=date(2026, 1, 1),
            due_date=date(2026, 1, 31),
            amount=Decimal("1234567890.1234"),
            open_amount=Decimal("0.0001"),
            currency="BHD",
        )
        session.add(invoice)
        await session.commit()
        row = (await session.execute(select(Invoice.amount, Invoice.open_amount))).one()
        assert row == (Decimal("1234567890.1234"), Decimal("0.0001"))
        session.add(
            Invoice(
                number="I2",
                customer_id=customer.id,
                issue_date=date(2026, 1, 1),
                due_date=date(2026, 1, 31),
                amount=12.5,
                open_amount=Decimal(0),
                currency="USD",
            )
        )
        with pytest.raises(StatementError, match="never a float"):
            await session.flush()


async def test_instants_come_back_aware_utc(engine):
    paris_winter = timezone(timedelta(hours=1))
    async with session_factory(engine)() as session:
        session.add(Event(kind="test", at=datetime(2026, 1, 15, 10, 30, tzinfo=paris_winter)))
        await session.commit()
    async with session_factory(engine)() as session:
        at = (await session.execute(select(Event.at))).scalar_one()
    assert at == datetime(2026, 1, 15, 9, 30, tzinfo=UTC)
    assert at.tzinfo is not None and at.utcoffset() == timedelta(0)


async def test_naive_instants_are_refused(engine):
    async with session_factory(engine)() as session:
        session.add(Event(kind="test", at=datetime(2026, 1, 15, 10, 30)))
        with pytest.raises(StatementError, match="naive datetime"):
            await session.flush()
