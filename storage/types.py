"""Column types that keep money exact and time zone-aware on every database."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, DateTime, Numeric
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine

# Four places covers every ISO 4217 minor unit (0, 2 or 3) with room for rates.
MONEY_SCALE = 4
_SCALE = Decimal(10) ** MONEY_SCALE
_QUANTUM = Decimal(1).scaleb(-MONEY_SCALE)


class Money(TypeDecorator[Decimal]):
    """An exact amount: NUMERIC on PostgreSQL, a scaled integer on SQLite.

    SQLite has no exact decimal; storing ten-thousandths as an integer keeps
    SUM() and comparisons exact there without ever passing through a float.
    """

    impl = Numeric(18, MONEY_SCALE)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(BigInteger())
        return dialect.type_descriptor(Numeric(18, MONEY_SCALE, asdecimal=True))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if not isinstance(value, Decimal):
            if isinstance(value, float):
                raise TypeError("money must be a Decimal or int, never a float")
            value = Decimal(value)
        if dialect.name == "sqlite":
            return to_scaled(value)
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        if dialect.name == "sqlite":
            return from_scaled(int(value))
        return Decimal(value).quantize(_QUANTUM)

    def coerce_compared_value(self, op: Any, value: Any) -> TypeEngine[Any]:
        # `money_column > 0` must bind 0 as money (scaled on SQLite), not as a plain int.
        return self


def to_scaled(value: Decimal) -> int:
    """Decimal -> integer ten-thousandths (the SQLite storage form)."""
    return int((value * _SCALE).to_integral_value())


def from_scaled(value: int) -> Decimal:
    """Integer ten-thousandths -> Decimal with four places."""
    return (Decimal(value) / _SCALE).quantize(_QUANTUM)


class UTCDateTime(TypeDecorator[datetime]):
    """An instant: stored as UTC, always returned timezone-aware; naive input is refused."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime, got {type(value).__name__}")
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("naive datetime: times must be timezone-aware")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)
