"""Property tests of the engine over random customers, zones, dates and tick instants.

SQLite only, a fresh database per example: the rules checked here do not depend on
the backend, and the scenario tests run on both.
"""

from __future__ import annotations

import shutil
import uuid
from datetime import timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import update

from sequences.calendar import is_business_day
from storage.db import create_engine
from storage.models import Invoice
from tests.sequences.engine_helpers import Clock, add_customer, add_invoice, outbox, utc

ZONES = ["UTC", "Europe/Paris", "Europe/London", "America/New_York", "America/Los_Angeles",
         "Asia/Tokyo", "Asia/Kolkata", "Australia/Sydney", "America/Sao_Paulo"]  # fmt: skip
COUNTRIES = ["US", "GB", "DE", "FR", "JP", "IN", "AU", "BR", None]
START = utc(2026, 3, 1)

customers = st.lists(
    st.tuples(
        st.sampled_from(ZONES),
        st.sampled_from(COUNTRIES),
        st.lists(st.integers(min_value=-20, max_value=30), min_size=1, max_size=3),  # due offsets
    ),
    min_size=1,
    max_size=3,
)
ticks = st.lists(st.integers(min_value=0, max_value=60 * 24), min_size=5, max_size=25)  # hours


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow,
          HealthCheck.function_scoped_fixture])  # fmt: skip
@given(people=customers, hours=ticks, pay_after=st.integers(min_value=0, max_value=24))
async def test_engine_rules_hold_for_any_ledger_and_any_tick_times(
    tmp_path, sqlite_template, people, hours, pay_after
):
    path = tmp_path / f"{uuid.uuid4().hex}.db"
    shutil.copy(sqlite_template, path)
    engine = create_engine(f"sqlite+aiosqlite:///{path}")
    try:
        zones: dict[int, tuple[str, str | None]] = {}
        invoices = []
        for n, (zone, country, dues) in enumerate(people):
            customer = await add_customer(engine, f"C{n}", timezone=zone, country=country,
                                          email=f"c{n}@example.test")  # fmt: skip
            zones[customer] = (zone, country)
            for k, offset in enumerate(dues):
                due = START.date() + timedelta(days=offset)
                invoices.append(await add_invoice(
                    engine, customer, f"INV-{n}-{k}", issued=due - timedelta(days=30), due=due
                ))  # fmt: skip
        paid_invoice, paid_at = invoices[0], START + timedelta(hours=pay_after * 24)
        clock = Clock(engine)
        paid = False
        for hour in sorted(set(hours)):
            now = START + timedelta(hours=hour)
            if not paid and now >= paid_at:
                async with engine.begin() as conn:
                    await conn.execute(
                        update(Invoice.__table__).where(Invoice.id == paid_invoice)
                        .values(open_amount=0, status="paid")
                    )  # fmt: skip
                paid = True
            await clock.at(now)
            before = await outbox(engine)
            again = await clock.at(now)  # the same tick twice writes nothing new
            assert again.messages == 0 and await outbox(engine) == before
        messages = [m for m in await outbox(engine) if m.kind == "customer_message"]
        by_customer: dict[int, list] = {}
        for m in messages:
            zone, country = zones[m.customer_id]
            local = m.scheduled_for.astimezone(ZoneInfo(zone))
            assert local.weekday() < 5, f"weekend message {local}"
            assert is_business_day(local.date(), country), f"holiday message {local}"
            assert 9 <= local.hour < 17, f"message outside the window: {local}"
            by_customer.setdefault(m.customer_id, []).append(m.scheduled_for)
            if paid and m.scheduled_for >= paid_at:
                assert paid_invoice not in m.invoice_ids, "a paid invoice was chased"
        for instants in by_customer.values():
            instants.sort()
            for a, b in pairwise(instants):
                assert b - a >= timedelta(days=2), "two messages within the frequency cap"
    finally:
        await engine.dispose()
