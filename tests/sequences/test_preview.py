"""The preview timeline (pure): the engine's days, windows, zones and A/B arms."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from sequences.definition_loading import load_library
from sequences.planner import (
    CustomerFacts,
    DisputeFacts,
    EnrollmentFacts,
    InvoiceFacts,
    variant_for,
)
from sequences.preview import timeline

LIBRARY = {s.name: s for s in load_library()}
NOW = datetime(2026, 2, 10, 10, tzinfo=UTC)  # a Tuesday
ENROLLED = EnrollmentFacts(1, 0, 0, NOW)


def customer(zone: str = "UTC", country: str | None = None) -> CustomerFacts:
    return CustomerFacts(1, "C1", "Acme", timezone=zone, country=country)


def invoice(due: date) -> InvoiceFacts:
    return InvoiceFacts(1, "INV-1", date(2026, 1, 1), due, Decimal(10), Decimal(10), "EUR")


def test_messages_go_out_in_the_window_on_business_days_of_the_customer() -> None:
    # due Fri 2026-04-03: due+1d is Saturday, and Easter Monday is a holiday in Germany.
    steps = timeline(
        LIBRARY["past-due-standard"], customer=customer("Europe/Berlin", "DE"),
        enrollment=ENROLLED, now=NOW, invoice=invoice(date(2026, 4, 3)),
    )  # fmt: skip
    gentle = steps[0]
    assert gentle.kind == "message" and gentle.template == "past_due_gentle"
    assert gentle.local("Europe/Berlin") == datetime.fromisoformat("2026-04-07T09:00+02:00")
    assert not gentle.past
    task = next(s for s in steps if s.kind == "task")
    assert task.local("Europe/Berlin").isoformat() == "2026-04-13T00:00:00+02:00"


def test_past_positions_are_marked_and_the_ab_arm_is_the_engines() -> None:
    sequence = LIBRARY["past-due-standard"]
    steps = timeline(
        sequence, customer=customer(), enrollment=ENROLLED, now=NOW,
        invoice=invoice(date(2026, 2, 2)),
    )  # fmt: skip
    assert [s.past for s in steps[:3]] == [True, True, False]
    assert steps[1].template == variant_for(sequence, 1, customer())
    assert [s.kind for s in steps][-1] == "escalation"
    assert len(steps) == 8  # the final notice repeats four times


def test_a_dispute_day_starts_when_it_was_opened_and_acknowledgement_stops_escalations() -> None:
    opened = datetime(2026, 2, 10, 15, tzinfo=UTC)
    facts = {"customer": customer(), "enrollment": ENROLLED, "now": NOW,
             "invoice": invoice(date(2026, 2, 2))}  # fmt: skip
    sequence = LIBRARY["disputes-standard"]
    steps = timeline(sequence, dispute=DisputeFacts(1, "open", opened), **facts)  # type: ignore[arg-type]
    assert steps[0].kind == "escalation" and steps[0].at == opened
    assert steps[1].kind == "message" and steps[1].at == opened
    acked = timeline(sequence, dispute=DisputeFacts(1, "acknowledged", opened), **facts)  # type: ignore[arg-type]
    assert [s.kind for s in acked] == ["message", "task"]
