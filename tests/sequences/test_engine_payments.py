"""Payments that arrive through the real payments import between two ticks (SQLite and
PostgreSQL): in full the chase ends, in part it goes on for what is left, at its step."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

from tests.helpers.db import import_ok, write_csv
from tests.sequences.engine_helpers import (
    Clock,
    add_customer,
    add_invoice,
    enrollments,
    outbox,
    tasks,
    utc,
)


async def _import_payment(engine, tmp_path: Path, amount: str, paid: date, now: datetime) -> None:
    path = write_csv(
        tmp_path / f"payments-{paid}.csv",
        f"invoice_number,paid_at,amount,reference\nINV-1,{paid},{amount},bank-{paid}\n",
    )
    await import_ok(engine, "payments", path, now=now)


async def _overdue(engine) -> None:
    customer = await add_customer(engine)
    await add_invoice(engine, customer, "INV-1", issued=date(2026, 1, 5), due=date(2026, 2, 4))


async def test_a_payment_in_full_ends_the_chase(engine, tmp_path):
    await _overdue(engine)
    clock = Clock(engine)
    await clock.at(utc(2026, 2, 5, 10))  # due+1d: gentle
    await _import_payment(engine, tmp_path, "100.00", date(2026, 2, 6), utc(2026, 2, 6, 12))
    ended = await clock.at(utc(2026, 2, 11, 10))  # due+7d: the firm step would go
    assert ended.ended == {"paid": 1} and ended.messages == 0
    for day in (16, 18, 23):  # the call task, the final notices: none of them
        later = await clock.at(utc(2026, 2, day, 10))
        assert (later.due, later.messages, later.tasks) == (0, 0, 0)
    assert len(clock.sent) == 1 and len(await outbox(engine)) == 1
    assert await tasks(engine) == []
    [enrollment] = await enrollments(engine)
    assert (enrollment.state, enrollment.exit_reason) == ("exited", "paid")


async def test_payments_in_part_keep_the_steps_then_the_rest_ends_it(engine, tmp_path):
    await _overdue(engine)
    clock = Clock(engine)
    steps = []

    async def tick(*at: int) -> None:
        report = await clock.at(utc(*at))
        assert report.skipped_positions == 0
        steps.append((report.messages, report.tasks))

    await tick(2026, 2, 5, 10)  # due+1d: gentle, for 100
    await _import_payment(engine, tmp_path, "40.00", date(2026, 2, 6), utc(2026, 2, 6, 12))
    await tick(2026, 2, 11, 10)  # due+7d: firm, for the 60 left
    await _import_payment(engine, tmp_path, "20", date(2026, 2, 12), utc(2026, 2, 12, 12))
    await tick(2026, 2, 16, 10)  # due+10d (Saturday): the call task, on Monday
    await tick(2026, 2, 18, 10)  # due+14d: the first final notice, for the 40 left
    assert steps == [(1, 0), (1, 0), (0, 1), (1, 0)]
    gentle, firm, final = clock.sent
    assert "$100.00" in gentle.body and "past due" in gentle.subject.lower()
    assert "$60.00" in firm.body and "$100.00" not in firm.body
    assert "$40.00" in final.body and "final" in final.subject.lower()
    [call] = await tasks(engine)
    assert call.kind == "sequence_task" and "$40.00" in call.title
    [enrollment] = await enrollments(engine)
    assert (enrollment.state, enrollment.current_step, enrollment.repeat_count) == ("active", 3, 1)
    await _import_payment(engine, tmp_path, "40.00", date(2026, 2, 19), utc(2026, 2, 19, 12))
    ended = await clock.at(utc(2026, 2, 23, 10))  # due+19d: the next final would go
    assert ended.ended == {"paid": 1} and ended.messages == 0 and len(clock.sent) == 3
