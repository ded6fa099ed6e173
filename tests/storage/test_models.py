"""The domain tables: a full graph round-trips, and the database enforces its rules."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import insert, inspect, select, text
from sqlalchemy.exc import IntegrityError

from storage.db import create_engine, session_factory
from storage.models import (
    Base,
    Contact,
    ContactChannel,
    Customer,
    DailyClaim,
    Dispute,
    Enrollment,
    Escalation,
    Event,
    Invoice,
    KpiSnapshot,
    LinkKind,
    OutboxChannel,
    OutboxMessage,
    Pause,
    PauseScope,
    Payment,
    Promise,
    Role,
    Sequence,
    SequenceKind,
    TargetType,
    Task,
    TelegramLinkToken,
    TrackingLink,
    User,
)

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

EXPECTED_TABLES = {
    "customers",
    "contacts",
    "invoices",
    "payments",
    "promises",
    "disputes",
    "sequences",
    "enrollments",
    "pauses",
    "outbox_messages",
    "tasks",
    "escalations",
    "events",
    "users",
    "telegram_link_tokens",
    "tracking_links",
    "kpi_snapshots",
    "daily_claims",
    "trigger_scans",
}


def test_every_domain_noun_has_its_plural_table():
    assert set(Base.metadata.tables) == EXPECTED_TABLES


async def test_a_whole_domain_graph_round_trips(engine):
    async with session_factory(engine)() as s:
        customer = Customer(
            external_id="C-1",
            name="Zoë Café",
            timezone="Europe/Paris",
            country="FR",
            currency="EUR",
            tags=["vip"],
        )
        s.add(customer)
        await s.flush()
        contact = Contact(
            customer_id=customer.id, channel=ContactChannel.EMAIL, address="ap@cafe.fr"
        )
        invoice = Invoice(
            number="F-1",
            customer_id=customer.id,
            issue_date=date(2026, 2, 1),
            due_date=date(2026, 3, 1),
            amount=Decimal("120.00"),
            open_amount=Decimal("70.00"),
            currency="EUR",
        )
        s.add_all([contact, invoice])
        await s.flush()
        seq = Sequence(
            name="past-due-standard",
            version=1,
            kind=SequenceKind.PAST_DUE,
            trigger="invoice_overdue",
            definition={"steps": []},
        )
        dispute = Dispute(
            invoice_id=invoice.id, customer_id=customer.id, reason="wrong qty", opened_at=NOW
        )
        s.add_all([seq, dispute])
        await s.flush()
        enrollment = Enrollment(
            sequence_id=seq.id,
            target_type=TargetType.INVOICE,
            customer_id=customer.id,
            invoice_id=invoice.id,
            next_action_at=NOW,
            started_at=NOW,
        )
        s.add(enrollment)
        await s.flush()
        outbox = OutboxMessage(
            idempotency_key="k1",
            channel=OutboxChannel.EMAIL,
            kind="reminder",
            customer_id=customer.id,
            contact_id=contact.id,
            enrollment_id=enrollment.id,
            invoice_ids=[invoice.id],
            body="Hello",
            scheduled_for=NOW,
            next_attempt_at=NOW,
        )
        s.add(outbox)
        await s.flush()
        s.add_all(
            [
                Payment(
                    invoice_id=invoice.id,
                    paid_at=date(2026, 3, 2),
                    amount=Decimal("50.00"),
                    natural_key="ref:R1",
                    reference="R1",
                ),
                Promise(
                    invoice_id=invoice.id,
                    customer_id=customer.id,
                    promised_date=date(2026, 3, 9),
                    amount=Decimal("70.00"),
                    source="slack",
                ),
                Pause(
                    scope=PauseScope.SEQUENCE,
                    sequence_name="past-due-standard",
                    until=NOW + timedelta(days=7),
                    reason="month end",
                ),
                Task(
                    kind="call",
                    customer_id=customer.id,
                    title="Call Zoë",
                    due_at=NOW,
                    slack_channel="C0123ABCD",
                    slack_ts="1700000000.000100",
                ),
                Escalation(
                    dispute_id=dispute.id, chain=[{"wait": "1d", "notify": "managers"}], next_at=NOW
                ),
                Event(
                    kind="payment_recorded",
                    customer_id=customer.id,
                    invoice_id=invoice.id,
                    actor="U0123ABCD",
                    reason="import",
                    data={"amount": "50.00"},
                    at=NOW,
                ),
                User(slack_user_id="U0123ABCD", role=Role.MANAGER),
                TelegramLinkToken(
                    token_hash="a" * 64, customer_id=customer.id, expires_at=NOW + timedelta(days=7)
                ),
                TrackingLink(
                    token="t" * 32,
                    kind=LinkKind.CLICK,
                    outbox_id=outbox.id,
                    url="https://pay.example.com/F-1",
                ),
                KpiSnapshot(as_of=date(2026, 3, 1), currency="EUR", data={"dso": "41.2"}),
                DailyClaim(job="digest", day=date(2026, 3, 2), claimed_by="worker-1"),
            ]
        )
        await s.commit()
    async with session_factory(engine)() as s:
        loaded = (await s.execute(select(Invoice).where(Invoice.number == "F-1"))).scalar_one()
        assert loaded.open_amount == Decimal("70.00")
        enrollment = (await s.execute(select(Enrollment))).scalar_one()
        assert enrollment.next_action_at == NOW
        assert enrollment.state == "active"
        outbox = (await s.execute(select(OutboxMessage))).scalar_one()
        assert outbox.invoice_ids == [loaded.id] and outbox.state == "pending"
        customer = (await s.execute(select(Customer))).scalar_one()
        assert customer.name == "Zoë Café" and customer.tags == ["vip"]


async def test_foreign_keys_are_enforced(engine):
    async with engine.connect() as conn:
        with pytest.raises(IntegrityError):
            await conn.execute(
                insert(Invoice.__table__).values(
                    number="X",
                    customer_id=999,
                    issue_date=date(2026, 1, 1),
                    due_date=date(2026, 1, 2),
                    amount=Decimal(1),
                    open_amount=Decimal(1),
                    currency="USD",
                    status="open",
                    created_at=NOW,
                    updated_at=NOW,
                )
            )


async def test_outbox_idempotency_key_is_unique(engine):
    row = dict(
        channel="email",
        kind="reminder",
        body="",
        payload={},
        invoice_ids=[],
        scheduled_for=NOW,
        next_attempt_at=NOW,
        state="pending",
        attempts=0,
        created_at=NOW,
    )
    async with engine.begin() as conn:
        await conn.execute(insert(OutboxMessage.__table__).values(idempotency_key="k", **row))
    async with engine.connect() as conn:
        with pytest.raises(IntegrityError):
            await conn.execute(insert(OutboxMessage.__table__).values(idempotency_key="k", **row))


async def test_daily_claim_is_one_row_per_job_and_day(engine):
    async with engine.begin() as conn:
        await conn.execute(
            insert(DailyClaim.__table__).values(
                job="digest", day=date(2026, 3, 2), claimed_by="a", claimed_at=NOW
            )
        )
    async with engine.connect() as conn:
        with pytest.raises(IntegrityError):
            await conn.execute(
                insert(DailyClaim.__table__).values(
                    job="digest", day=date(2026, 3, 2), claimed_by="b", claimed_at=NOW
                )
            )


async def test_enum_columns_refuse_unknown_states(engine):
    async with engine.begin() as conn:
        customer_id = await conn.scalar(
            insert(Customer.__table__)
            .returning(Customer.id)
            .values(
                external_id="C",
                name="C",
                timezone="UTC",
                autopay=False,
                tags=[],
                created_at=NOW,
                updated_at=NOW,
            )
        )
    async with engine.connect() as conn:
        with pytest.raises(IntegrityError):
            await conn.execute(
                text(
                    "INSERT INTO contacts (customer_id, channel, address, is_primary, "
                    "created_at, updated_at) "
                    "VALUES (:customer, 'fax', '123', true, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
                ),
                {"customer": customer_id},
            )


async def test_due_enrollments_have_their_index(engine):
    def indexes(sync_conn):
        return {ix["name"]: ix for ix in inspect(sync_conn).get_indexes("enrollments")}

    async with engine.connect() as conn:
        found = await conn.run_sync(indexes)
    assert found["ix_enrollments_active_due"]["column_names"] == ["next_action_at"]


async def test_sqlite_runs_in_wal_mode_with_foreign_keys(tmp_path):
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'pragmas.db'}")
    try:
        async with engine.connect() as conn:
            assert (await conn.exec_driver_sql("PRAGMA journal_mode")).scalar() == "wal"
            assert (await conn.exec_driver_sql("PRAGMA foreign_keys")).scalar() == 1
            assert (await conn.exec_driver_sql("PRAGMA busy_timeout")).scalar() >= 1000
    finally:
        await engine.dispose()
