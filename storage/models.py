"""The domain's tables: SQLAlchemy 2 typed models.

Money columns are `Money` (exact Decimal), instants are `UTCDateTime` (aware UTC),
calendar dates (issue, due, paid, promised) are plain `Date`.
"""

from __future__ import annotations

import enum
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    Enum,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from storage.types import Money, UTCDateTime

# Row ids that can grow large: BIGINT on PostgreSQL, the rowid alias on SQLite.
BigId = BigInteger().with_variant(Integer(), "sqlite")

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    """The current instant, aware UTC (default for created_at columns)."""
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {  # noqa: RUF012 - SQLAlchemy reads this class attribute
        datetime: UTCDateTime(),
        Decimal: Money(),
        date: Date(),
        dict[str, Any]: JSON(),
        list[Any]: JSON(),
    }


def _enum(cls: type[enum.Enum]) -> Enum:
    # Stored as the value strings; a CHECK constraint rather than a native PG type,
    # so adding a member is a plain migration on both databases.
    return Enum(
        cls,
        native_enum=False,
        create_constraint=True,
        length=24,
        values_callable=lambda e: [m.value for m in e],
        name=cls.__name__.lower(),
    )


class ContactChannel(enum.StrEnum):
    EMAIL = "email"
    TELEGRAM = "telegram"


class InvoiceStatus(enum.StrEnum):
    OPEN = "open"
    PAID = "paid"
    VOID = "void"
    WRITTEN_OFF = "written_off"


class PromiseStatus(enum.StrEnum):
    PENDING = "pending"
    KEPT = "kept"
    BROKEN = "broken"
    CANCELLED = "cancelled"


class DisputeStatus(enum.StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


class SequenceKind(enum.StrEnum):
    ONBOARDING = "onboarding"
    INVOICING = "invoicing"
    PAST_DUE = "past_due"
    DISPUTES = "disputes"


class TargetType(enum.StrEnum):
    CUSTOMER = "customer"
    INVOICE = "invoice"
    DISPUTE = "dispute"


class EnrollmentState(enum.StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"
    COMPLETED = "completed"
    EXITED = "exited"
    CANCELLED = "cancelled"


class PauseScope(enum.StrEnum):
    CUSTOMER = "customer"
    INVOICE = "invoice"
    SEQUENCE = "sequence"


class OutboxState(enum.StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    SKIPPED = "skipped"
    FAILED = "failed"


class OutboxChannel(enum.StrEnum):
    EMAIL = "email"
    TELEGRAM = "telegram"
    SLACK = "slack"
    CONSOLE = "console"


class TaskState(enum.StrEnum):
    OPEN = "open"
    SNOOZED = "snoozed"
    DONE = "done"
    CANCELLED = "cancelled"


class EscalationState(enum.StrEnum):
    ACTIVE = "active"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"
    EXHAUSTED = "exhausted"


class Role(enum.StrEnum):
    MANAGER = "manager"
    COLLECTOR = "collector"
    VIEWER = "viewer"


class LinkKind(enum.StrEnum):
    OPEN = "open"
    CLICK = "click"
    UNSUBSCRIBE = "unsubscribe"


class Timestamped:
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Customer(Timestamped, Base):
    """A paying party; `external_id` is the key of the ledger it came from."""

    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    external_id: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(255))
    email: Mapped[str | None] = mapped_column(String(320))
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    country: Mapped[str | None] = mapped_column(String(2))
    language: Mapped[str | None] = mapped_column(String(16))
    currency: Mapped[str | None] = mapped_column(String(3))
    owner_slack_id: Mapped[str | None] = mapped_column(String(32))
    telegram_username: Mapped[str | None] = mapped_column(String(64))
    autopay: Mapped[bool] = mapped_column(Boolean, default=False)
    tags: Mapped[list[Any]] = mapped_column(default=list)

    contacts: Mapped[list[Contact]] = relationship(back_populates="customer")
    invoices: Mapped[list[Invoice]] = relationship(back_populates="customer")


class Contact(Timestamped, Base):
    """One way to reach a customer: an email address or a linked Telegram chat."""

    __tablename__ = "contacts"
    __table_args__ = (UniqueConstraint("customer_id", "channel", "address"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    channel: Mapped[ContactChannel] = mapped_column(_enum(ContactChannel))
    address: Mapped[str] = mapped_column(String(320))
    name: Mapped[str | None] = mapped_column(String(255))
    is_primary: Mapped[bool] = mapped_column(Boolean, default=True)
    opted_out_at: Mapped[datetime | None]
    unreachable_at: Mapped[datetime | None]
    unreachable_reason: Mapped[str | None] = mapped_column(String(255))

    customer: Mapped[Customer] = relationship(back_populates="contacts")


class Invoice(Timestamped, Base):
    """An invoice; `open_amount` below zero is a credit owed to the customer."""

    __tablename__ = "invoices"
    __table_args__ = (Index(None, "status", "due_date"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    number: Mapped[str] = mapped_column(String(64), unique=True)
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="RESTRICT"), index=True
    )
    issue_date: Mapped[date]
    due_date: Mapped[date]
    amount: Mapped[Decimal]
    open_amount: Mapped[Decimal]
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[InvoiceStatus] = mapped_column(_enum(InvoiceStatus), default=InvoiceStatus.OPEN)
    paid_at: Mapped[date | None]

    customer: Mapped[Customer] = relationship(back_populates="invoices")
    payments: Mapped[list[Payment]] = relationship(back_populates="invoice")


class Payment(Base):
    """Money received against an invoice.

    `natural_key` identifies the payment across re-imports: `ref:<reference>` when the
    payer gave one, else `row:<date>:<amount>` (unique per invoice, so one remittance
    reference may settle several invoices).
    """

    __tablename__ = "payments"
    __table_args__ = (UniqueConstraint("invoice_id", "natural_key"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id", ondelete="CASCADE"))
    paid_at: Mapped[date] = mapped_column(index=True)
    amount: Mapped[Decimal]
    reference: Mapped[str | None] = mapped_column(String(128))
    natural_key: Mapped[str] = mapped_column(String(160))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    invoice: Mapped[Invoice] = relationship(back_populates="payments")


class Promise(Base):
    """A promise to pay an invoice by a date."""

    __tablename__ = "promises"
    __table_args__ = (Index(None, "status", "promised_date"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id", ondelete="CASCADE"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    promised_date: Mapped[date]
    amount: Mapped[Decimal | None]
    status: Mapped[PromiseStatus] = mapped_column(
        _enum(PromiseStatus), default=PromiseStatus.PENDING
    )
    source: Mapped[str] = mapped_column(String(16))
    created_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    resolved_at: Mapped[datetime | None]


class Dispute(Base):
    """A customer's disagreement with an invoice, from open to resolved."""

    __tablename__ = "disputes"
    __table_args__ = (Index(None, "status", "opened_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id", ondelete="CASCADE"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[DisputeStatus] = mapped_column(_enum(DisputeStatus), default=DisputeStatus.OPEN)
    opened_by: Mapped[str | None] = mapped_column(String(64))
    opened_at: Mapped[datetime] = mapped_column(default=utcnow)
    acknowledged_by: Mapped[str | None] = mapped_column(String(64))
    acknowledged_at: Mapped[datetime | None]
    resolved_by: Mapped[str | None] = mapped_column(String(64))
    resolved_at: Mapped[datetime | None]
    resolution: Mapped[str | None] = mapped_column(Text)
    credit_amount: Mapped[Decimal | None]


class Sequence(Base):
    """One stored version of a sequence definition; enrollments point at a version."""

    __tablename__ = "sequences"
    __table_args__ = (UniqueConstraint("name", "version"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer)
    kind: Mapped[SequenceKind] = mapped_column(_enum(SequenceKind))
    trigger: Mapped[str] = mapped_column(String(32))
    definition: Mapped[dict[str, Any]]
    source: Mapped[str | None] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Enrollment(Base):
    """One target running one sequence version."""

    __tablename__ = "enrollments"
    __table_args__ = (
        Index(None, "customer_id", "state"),
        Index(None, "invoice_id", "state"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    sequence_id: Mapped[int] = mapped_column(ForeignKey("sequences.id", ondelete="RESTRICT"))
    target_type: Mapped[TargetType] = mapped_column(_enum(TargetType))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    invoice_id: Mapped[int | None] = mapped_column(ForeignKey("invoices.id", ondelete="CASCADE"))
    dispute_id: Mapped[int | None] = mapped_column(ForeignKey("disputes.id", ondelete="CASCADE"))
    state: Mapped[EnrollmentState] = mapped_column(
        _enum(EnrollmentState), default=EnrollmentState.ACTIVE
    )
    current_step: Mapped[int] = mapped_column(Integer, default=0)
    repeat_count: Mapped[int] = mapped_column(Integer, default=0)
    next_action_at: Mapped[datetime | None]
    paused_until: Mapped[datetime | None]
    pause_reason: Mapped[str | None] = mapped_column(String(255))
    variant: Mapped[str | None] = mapped_column(String(64))
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    ended_at: Mapped[datetime | None]
    exit_reason: Mapped[str | None] = mapped_column(String(64))


class Pause(Base):
    """A hold on touches for a customer, an invoice or a whole sequence."""

    __tablename__ = "pauses"
    __table_args__ = (Index(None, "scope", "lifted_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    scope: Mapped[PauseScope] = mapped_column(_enum(PauseScope))
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    invoice_id: Mapped[int | None] = mapped_column(ForeignKey("invoices.id", ondelete="CASCADE"))
    sequence_name: Mapped[str | None] = mapped_column(String(64))
    until: Mapped[datetime | None]
    reason: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    lifted_at: Mapped[datetime | None]
    lifted_by: Mapped[str | None] = mapped_column(String(64))


class OutboxMessage(Base):
    """A message to send, written by the tick and sent by dispatch.

    `idempotency_key` makes a second tick over the same instant write nothing new,
    and is passed to providers that accept one.
    """

    __tablename__ = "outbox_messages"
    __table_args__ = (Index("ix_outbox_messages_ready", "state", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    channel: Mapped[OutboxChannel] = mapped_column(_enum(OutboxChannel))
    kind: Mapped[str] = mapped_column(String(32))
    customer_id: Mapped[int | None] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="SET NULL"))
    enrollment_id: Mapped[int | None] = mapped_column(
        ForeignKey("enrollments.id", ondelete="SET NULL")
    )
    sequence_id: Mapped[int | None] = mapped_column(ForeignKey("sequences.id", ondelete="SET NULL"))
    step_index: Mapped[int | None] = mapped_column(Integer)
    variant: Mapped[str | None] = mapped_column(String(64))
    invoice_ids: Mapped[list[Any]] = mapped_column(default=list)
    subject: Mapped[str | None] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text, default="")
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    scheduled_for: Mapped[datetime]
    state: Mapped[OutboxState] = mapped_column(_enum(OutboxState), default=OutboxState.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime]
    lease_until: Mapped[datetime | None]
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    sent_at: Mapped[datetime | None]
    provider_message_id: Mapped[str | None] = mapped_column(String(255))
    skip_reason: Mapped[str | None] = mapped_column(String(64))
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Task(Base):
    """A collector task; `slack_channel`/`slack_ts` locate its message for in-place updates."""

    __tablename__ = "tasks"
    __table_args__ = (Index(None, "state", "assignee_slack_id"), Index(None, "state", "due_at"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    idempotency_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(32))
    customer_id: Mapped[int | None] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    invoice_id: Mapped[int | None] = mapped_column(ForeignKey("invoices.id", ondelete="CASCADE"))
    enrollment_id: Mapped[int | None] = mapped_column(
        ForeignKey("enrollments.id", ondelete="SET NULL")
    )
    title: Mapped[str] = mapped_column(Text)
    body: Mapped[str | None] = mapped_column(Text)
    assignee_slack_id: Mapped[str | None] = mapped_column(String(32))
    state: Mapped[TaskState] = mapped_column(_enum(TaskState), default=TaskState.OPEN)
    due_at: Mapped[datetime]
    snoozed_until: Mapped[datetime | None]
    slack_channel: Mapped[str | None] = mapped_column(String(32))
    slack_ts: Mapped[str | None] = mapped_column(String(32))
    last_pinged_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    done_at: Mapped[datetime | None]
    done_by: Mapped[str | None] = mapped_column(String(64))
    outcome: Mapped[str | None] = mapped_column(Text)


class Escalation(Base):
    """A dispute's escalation chain: the steps frozen when it started, and where it is."""

    __tablename__ = "escalations"
    __table_args__ = (Index(None, "state", "next_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    dispute_id: Mapped[int] = mapped_column(
        ForeignKey("disputes.id", ondelete="CASCADE"), unique=True
    )
    chain: Mapped[list[Any]] = mapped_column(default=list)
    level: Mapped[int] = mapped_column(Integer, default=0)
    state: Mapped[EscalationState] = mapped_column(
        _enum(EscalationState), default=EscalationState.ACTIVE
    )
    next_at: Mapped[datetime | None]
    # Bumped on every transition: a run holding a stale guard does nothing.
    guard: Mapped[int] = mapped_column(Integer, default=0)
    slack_channel: Mapped[str | None] = mapped_column(String(32))
    slack_ts: Mapped[str | None] = mapped_column(String(32))
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    acknowledged_at: Mapped[datetime | None]
    acknowledged_by: Mapped[str | None] = mapped_column(String(64))


class Event(Base):
    """The audit trail and engagement log: what happened, to what, by whom, why."""

    __tablename__ = "events"
    __table_args__ = (Index(None, "customer_id", "at"), Index(None, "kind", "at"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    kind: Mapped[str] = mapped_column(String(48))
    actor: Mapped[str | None] = mapped_column(String(64))
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    invoice_id: Mapped[int | None] = mapped_column(ForeignKey("invoices.id", ondelete="CASCADE"))
    enrollment_id: Mapped[int | None] = mapped_column(
        ForeignKey("enrollments.id", ondelete="SET NULL")
    )
    outbox_id: Mapped[int | None] = mapped_column(
        ForeignKey("outbox_messages.id", ondelete="SET NULL")
    )
    reason: Mapped[str | None] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)


class User(Base):
    """A Slack user known to ARSeq, with the role that decides what they may do."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    slack_user_id: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str | None] = mapped_column(String(255))
    email: Mapped[str | None] = mapped_column(String(320))
    role: Mapped[Role] = mapped_column(_enum(Role), default=Role.VIEWER)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class TelegramLinkToken(Base):
    """A one-time deep-link token from `/ar link`; only its hash is stored."""

    __tablename__ = "telegram_link_tokens"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    created_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    chat_id: Mapped[int | None] = mapped_column(BigInteger)


class TrackingLink(Base):
    """An unguessable token behind /o, /r and /u links in outgoing messages."""

    __tablename__ = "tracking_links"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    token: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[LinkKind] = mapped_column(_enum(LinkKind))
    outbox_id: Mapped[int | None] = mapped_column(
        ForeignKey("outbox_messages.id", ondelete="CASCADE")
    )
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    url: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class KpiSnapshot(Base):
    """The KPIs of one day and currency, kept so the digest can compare."""

    __tablename__ = "kpi_snapshots"
    __table_args__ = (UniqueConstraint("as_of", "currency"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    as_of: Mapped[date]
    currency: Mapped[str] = mapped_column(String(3))
    data: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class DailyClaim(Base):
    """Once-a-day work (digest, re-pings, snapshot): the unique row is the claim."""

    __tablename__ = "daily_claims"
    __table_args__ = (UniqueConstraint("job", "day"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    job: Mapped[str] = mapped_column(String(48))
    day: Mapped[date]
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    claimed_at: Mapped[datetime] = mapped_column(default=utcnow)
    done_at: Mapped[datetime | None]


# The tick reads only active enrollments that are due: a partial index keeps its
# cost following the due work, not the size of the table.
Index(
    "ix_enrollments_active_due",
    Enrollment.next_action_at,
    postgresql_where=text("state = 'active'"),
    sqlite_where=text("state = 'active'"),
)
