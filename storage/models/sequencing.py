"""Sequences at work: definitions, enrollments, pauses, the outbox, tasks, escalations."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, BigId, enum_column, utcnow
from storage.models.enums import (
    EnrollmentState,
    EscalationState,
    OutboxChannel,
    OutboxState,
    PauseScope,
    SequenceKind,
    TargetType,
    TaskState,
)


class Sequence(Base):
    """One stored version of a sequence definition; enrollments point at a version."""

    __tablename__ = "sequences"
    __table_args__ = (UniqueConstraint("name", "version"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer)
    kind: Mapped[SequenceKind] = mapped_column(enum_column(SequenceKind))
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
    target_type: Mapped[TargetType] = mapped_column(enum_column(TargetType))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    invoice_id: Mapped[int | None] = mapped_column(ForeignKey("invoices.id", ondelete="CASCADE"))
    dispute_id: Mapped[int | None] = mapped_column(ForeignKey("disputes.id", ondelete="CASCADE"))
    state: Mapped[EnrollmentState] = mapped_column(
        enum_column(EnrollmentState), default=EnrollmentState.ACTIVE
    )
    current_step: Mapped[int] = mapped_column(Integer, default=0)
    repeat_count: Mapped[int] = mapped_column(Integer, default=0)
    next_action_at: Mapped[datetime | None]
    paused_until: Mapped[datetime | None]
    pause_reason: Mapped[str | None] = mapped_column(String(255))
    # A one-off message owed before the next step (e.g. "promise_broken").
    notice: Mapped[str | None] = mapped_column(String(64))
    # Which occurrence that notice is (e.g. "promise:17"): its outbox key, so a second
    # one on the same enrollment is a new message, not a duplicate of the first.
    notice_key: Mapped[str | None] = mapped_column(String(64))
    variant: Mapped[str | None] = mapped_column(String(64))
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    ended_at: Mapped[datetime | None]
    exit_reason: Mapped[str | None] = mapped_column(String(64))


class Pause(Base):
    """A hold on touches for a customer, an invoice or a whole sequence."""

    __tablename__ = "pauses"
    __table_args__ = (Index(None, "scope", "lifted_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    scope: Mapped[PauseScope] = mapped_column(enum_column(PauseScope))
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
    __table_args__ = (
        Index("ix_outbox_messages_ready", "state", "next_attempt_at"),
        # A reply names the message it answers by its Message-ID: found without a scan.
        Index(None, "provider_message_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    channel: Mapped[OutboxChannel] = mapped_column(enum_column(OutboxChannel))
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
    state: Mapped[OutboxState] = mapped_column(
        enum_column(OutboxState), default=OutboxState.PENDING
    )
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
    state: Mapped[TaskState] = mapped_column(enum_column(TaskState), default=TaskState.OPEN)
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
        enum_column(EscalationState), default=EscalationState.ACTIVE
    )
    next_at: Mapped[datetime | None]
    # Bumped on every transition: a run holding a stale guard does nothing.
    guard: Mapped[int] = mapped_column(Integer, default=0)
    slack_channel: Mapped[str | None] = mapped_column(String(32))
    slack_ts: Mapped[str | None] = mapped_column(String(32))
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    acknowledged_at: Mapped[datetime | None]
    acknowledged_by: Mapped[str | None] = mapped_column(String(64))


class TriggerScan(Base):
    """Where a sequence version's trigger last looked for new targets, so the next look is short.

    `scanned_for` is the tick's instant (due dates crossed since then are looked at
    again); `scanned_at` and `full_at` are wall-clock times (rows updated since then,
    and the last look at every open invoice, which catches what a short look cannot:
    a customer whose tag or autopay changed, a dispute resolved).
    """

    __tablename__ = "trigger_scans"

    sequence_id: Mapped[int] = mapped_column(
        ForeignKey("sequences.id", ondelete="CASCADE"), primary_key=True
    )
    scanned_for: Mapped[datetime]
    scanned_at: Mapped[datetime]
    full_at: Mapped[datetime]
    max_invoice_id: Mapped[int] = mapped_column(BigId)
    max_customer_id: Mapped[int] = mapped_column(BigId)


# The tick reads only active enrollments that are due: a partial index keeps its
# cost following the due work, not the size of the table.
Index(
    "ix_enrollments_active_due",
    Enrollment.next_action_at,
    postgresql_where=text("state = 'active'"),
    sqlite_where=text("state = 'active'"),
)
# Waking paused enrollments whose pause ran out, likewise, reads only those.
Index(
    "ix_enrollments_paused_until",
    Enrollment.paused_until,
    postgresql_where=text("state = 'paused'"),
    sqlite_where=text("state = 'paused'"),
)
