"""The typed callback data behind the reminder's buttons (fits Telegram's 64 bytes)."""

from __future__ import annotations

import enum

from aiogram.filters.callback_data import CallbackData


class Action(enum.StrEnum):
    PAID = "paid"
    PROMISE = "promise"
    DISPUTE = "dispute"


class InvoiceAction(CallbackData, prefix="inv"):
    """A press on one invoice's button: what, which invoice, and for a promise how many days."""

    action: Action
    invoice_id: int
    days: int = 0
