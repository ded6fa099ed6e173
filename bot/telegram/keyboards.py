"""The reminder's inline keyboard: Pay now, I've paid, Promise 3/7/14 days, Dispute."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from bot.telegram.callbacks import Action, InvoiceAction
from sequences.customer_answers import PROMISE_DAYS
from sequences.messages import fill_pay_url

# Past this many invoices the keyboard would swamp the chat: /invoices lists the rest.
MAX_INVOICES = 5


@dataclass(frozen=True)
class KeyboardInvoice:
    """What a button needs to know about an invoice."""

    id: int
    number: str
    open_amount: Decimal
    customer_external_id: str


def pay_link(pay_url: str, invoice: KeyboardInvoice) -> str:
    """ARSEQ_PAY_URL filled in for one invoice (as the templates' `pay_url` is)."""
    return fill_pay_url(pay_url, invoice=invoice.number, customer=invoice.customer_external_id,
                        amount=invoice.open_amount)  # fmt: skip


def _press(action: Action, invoice_id: int, days: int = 0) -> str:
    return InvoiceAction(action=action, invoice_id=invoice_id, days=days).pack()


def reminder_keyboard(
    invoices: list[KeyboardInvoice], pay_url: str | None
) -> InlineKeyboardMarkup | None:
    """The buttons of a reminder about `invoices`; None when there is no invoice."""
    rows: list[list[InlineKeyboardButton]] = []
    several = len(invoices) > 1
    for invoice in invoices[:MAX_INVOICES]:
        # With several invoices every button names the one it is about.
        label = f" {invoice.number}" if several else ""
        first = [
            InlineKeyboardButton(
                text=f"I've paid{label}", callback_data=_press(Action.PAID, invoice.id)
            )
        ]
        if pay_url:
            pay = InlineKeyboardButton(text=f"Pay now{label}", url=pay_link(pay_url, invoice))
            first.insert(0, pay)
        promises = [
            InlineKeyboardButton(
                text=f"Promise {days} days{label}",
                callback_data=_press(Action.PROMISE, invoice.id, days),
            )
            for days in PROMISE_DAYS
        ]
        dispute = InlineKeyboardButton(
            text=f"Dispute{label}", callback_data=_press(Action.DISPUTE, invoice.id)
        )
        rows += [first, promises, [dispute]]
    return InlineKeyboardMarkup(inline_keyboard=rows) if rows else None
