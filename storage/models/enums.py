"""The states and kinds stored in the domain tables."""

import enum


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


__all__ = [
    "ContactChannel",
    "DisputeStatus",
    "EnrollmentState",
    "EscalationState",
    "InvoiceStatus",
    "LinkKind",
    "OutboxChannel",
    "OutboxState",
    "PauseScope",
    "PromiseStatus",
    "Role",
    "SequenceKind",
    "TargetType",
    "TaskState",
]
