"""The reminder keyboard with several invoices: every button names its invoice."""

from __future__ import annotations

from decimal import Decimal

from bot.telegram.callbacks import InvoiceAction
from bot.telegram.keyboards import MAX_INVOICES, KeyboardInvoice, reminder_keyboard


def _invoices(count: int) -> list[KeyboardInvoice]:
    return [KeyboardInvoice(n, f"INV-{n}", Decimal("10.00"), "C1") for n in range(1, count + 1)]


def test_several_invoices_get_labelled_buttons_up_to_the_cap():
    keyboard = reminder_keyboard(_invoices(MAX_INVOICES + 2), "https://pay.test/{invoice}")
    assert keyboard is not None
    buttons = [b for row in keyboard.inline_keyboard for b in row]
    assert len(buttons) == 6 * MAX_INVOICES  # pay, paid, 3 promises, dispute each
    assert buttons[0].text == "Pay now INV-1" and buttons[0].url == "https://pay.test/INV-1"
    for button in buttons[1:6]:
        assert button.text.endswith(" INV-1")
        assert InvoiceAction.unpack(button.callback_data).invoice_id == 1
    assert "INV-6" not in str(keyboard)


def test_no_invoice_no_keyboard():
    assert reminder_keyboard([], "https://pay.test/{invoice}") is None
