"""The row parsers: the invoices fast path agrees with the checked parser on every row."""

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from storage import import_rows as rows

HEADER = ["number", "customer_external_id", "issue_date", "due_date", "amount", "currency",
          "open_amount"]  # fmt: skip

dates = st.one_of(
    st.dates().map(lambda d: d.isoformat()),
    st.sampled_from(["2026-02-30", "2026-W02-1", "20260105", "2026-1-5", "", " 2026-01-05 "]),
)
amounts = st.one_of(
    st.decimals(min_value=0, max_value=Decimal("1e15"), places=4).map(str),
    st.decimals(min_value=0, max_value=1000, places=6).map(str),
    st.sampled_from(["0", "0.00", "1_000", "1e3", "-5", ".5", "5.", "NaN", "１２", "", "12.34567"]),
)
texts = st.one_of(st.text(max_size=70), st.sampled_from(["INV-1", "C-1", " x "]))
currencies = st.sampled_from(["", "USD", "eur", "XYZ", "JPY", " GBP "])


def _outcome(parse, fields):
    try:
        return ("ok", parse(fields))
    except rows.RowError as exc:
        return ("error", str(exc))


@pytest.mark.parametrize("form", [rows.SQLITE_FORM, rows.NATIVE_FORM], ids=["sqlite", "native"])
@settings(max_examples=400, deadline=None)
@given(
    number=texts, customer=texts, issued=dates, due=dates, amount=amounts,
    currency=currencies, open_amount=amounts,
)  # fmt: skip
def test_invoice_fast_path_matches_the_checked_parser(
    form, number, customer, issued, due, amount, currency, open_amount
):
    fields = [number, customer, issued, due, amount, currency, open_amount]
    fast = rows.invoice_parser(HEADER, form)
    checked = rows._checked_invoice_parser(HEADER, form)
    assert _outcome(fast, fields) == _outcome(checked, fields)


def test_money_is_shifted_exactly_without_floats():
    assert rows.parse_money("0.1", "amount") == 1_000
    assert rows.parse_money("12.3456", "amount") == 123_456
    assert rows.parse_money("99999999999999.9999", "amount") == 999_999_999_999_999_999
    with pytest.raises(rows.RowError, match="more than 4 decimals"):
        rows.parse_money("0.00001", "amount")
