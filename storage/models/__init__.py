"""The domain's tables: SQLAlchemy 2 typed models, one module per area.

Money columns are `Money` (exact Decimal), instants are `UTCDateTime` (aware UTC),
calendar dates (issue, due, paid, promised) are plain `Date`.
"""

from storage.models.base import Base, BigId, enum_column, utcnow
from storage.models.enums import (
    ContactChannel,
    DisputeStatus,
    EnrollmentState,
    EscalationState,
    InvoiceStatus,
    LinkKind,
    OutboxChannel,
    OutboxState,
    PauseScope,
    PromiseStatus,
    Role,
    SequenceKind,
    TargetType,
    TaskState,
)
from storage.models.ledger import Contact, Customer, Dispute, Invoice, Payment, Promise
from storage.models.records import (
    DailyClaim,
    Event,
    KpiSnapshot,
    TelegramLinkToken,
    TrackingLink,
    User,
)
from storage.models.sequencing import (
    Enrollment,
    Escalation,
    OutboxMessage,
    Pause,
    Sequence,
    Task,
    TriggerScan,
)

__all__ = [
    "Base",
    "BigId",
    "Contact",
    "ContactChannel",
    "Customer",
    "DailyClaim",
    "Dispute",
    "DisputeStatus",
    "Enrollment",
    "EnrollmentState",
    "Escalation",
    "EscalationState",
    "Event",
    "Invoice",
    "InvoiceStatus",
    "KpiSnapshot",
    "LinkKind",
    "OutboxChannel",
    "OutboxMessage",
    "OutboxState",
    "Pause",
    "PauseScope",
    "Payment",
    "Promise",
    "PromiseStatus",
    "Role",
    "Sequence",
    "SequenceKind",
    "TargetType",
    "Task",
    "TaskState",
    "TelegramLinkToken",
    "TrackingLink",
    "TriggerScan",
    "User",
    "enum_column",
    "utcnow",
]
