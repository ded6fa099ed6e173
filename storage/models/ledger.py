"""Who owes what: customers, their contacts, invoices, payments, promises, disputes."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Boolean,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from storage.models.base import Base, BigId, Timestamped, enum_column, utcnow
from storage.models.enums import ContactChannel, DisputeStatus, InvoiceStatus, PromiseStatus


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
    channel: Mapped[ContactChannel] = mapped_column(enum_column(ContactChannel))
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
    __table_args__ = (
        Index(None, "status", "due_date"),
        Index(None, "updated_at"),
        # Covers the credit-sales query of the KPIs (sales per issue day and currency).
        Index("ix_invoices_sales", "issue_date", "currency", "status", "amount"),
    )

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
    status: Mapped[InvoiceStatus] = mapped_column(
        enum_column(InvoiceStatus), default=InvoiceStatus.OPEN
    )
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
        enum_column(PromiseStatus), default=PromiseStatus.PENDING
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
    status: Mapped[DisputeStatus] = mapped_column(
        enum_column(DisputeStatus), default=DisputeStatus.OPEN
    )
    opened_by: Mapped[str | None] = mapped_column(String(64))
    opened_at: Mapped[datetime] = mapped_column(default=utcnow)
    acknowledged_by: Mapped[str | None] = mapped_column(String(64))
    acknowledged_at: Mapped[datetime | None]
    resolved_by: Mapped[str | None] = mapped_column(String(64))
    resolved_at: Mapped[datetime | None]
    resolution: Mapped[str | None] = mapped_column(Text)
    credit_amount: Mapped[Decimal | None]
