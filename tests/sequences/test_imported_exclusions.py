"""Exclusions set through the customers import keep a tick away from those customers."""

from __future__ import annotations

from sequences.engine import EngineConfig
from tests.helpers.db import import_ok, write_csv
from tests.sequences.engine_helpers import Clock, enrollments, utc

CUSTOMERS = """
external_id,name,email,autopay,tags
PAYS,Pays Alone,pays@example.test,no,vip
AUTO,Autopay Ltd,auto@example.test,true,
TAGGED,Tagged Ltd,tagged@example.test,0,vip;no-reminders
"""
INVOICES = """
number,customer_external_id,issue_date,due_date,amount
INV-P,PAYS,2026-01-05,2026-02-04,100.00
INV-A,AUTO,2026-01-05,2026-02-04,100.00
INV-T,TAGGED,2026-01-05,2026-02-04,100.00
"""


async def _ledger(engine, tmp_path, customers: str = CUSTOMERS) -> None:
    await import_ok(engine, "customers", write_csv(tmp_path / "customers.csv", customers))
    await import_ok(engine, "invoices", write_csv(tmp_path / "invoices.csv", INVOICES))


async def _enrolled_customers(engine) -> set[int]:
    return {e.customer_id for e in await enrollments(engine)}


async def test_imported_autopay_and_exclude_tag_are_never_enrolled(engine, tmp_path) -> None:
    await _ledger(engine, tmp_path)
    clock = Clock(engine)

    for day in (5, 12, 19, 26):
        await clock.at(utc(2026, 2, day, 10))

    assert clock.sent and {m.address for m in clock.sent} == {"pays@example.test"}
    assert len(await _enrolled_customers(engine)) == 1


async def test_the_exclude_tag_is_the_configured_one(engine, tmp_path) -> None:
    await _ledger(engine, tmp_path)
    clock = Clock(engine, EngineConfig(exclude_tag="vip"))

    await clock.at(utc(2026, 2, 5, 10))

    # AUTO has autopay; PAYS and TAGGED both carry `vip`, now the exclude tag.
    assert clock.sent == []


async def test_a_customer_excluded_after_enrolment_is_not_chased_any_more(engine, tmp_path):
    await _ledger(engine, tmp_path)
    clock = Clock(engine)
    await clock.at(utc(2026, 2, 5, 10))  # PAYS's gentle reminder
    assert [m.address for m in clock.sent] == ["pays@example.test"]
    changed = CUSTOMERS.replace("PAYS,Pays Alone,pays@example.test,no,vip",
                                "PAYS,Pays Alone,pays@example.test,yes,vip")  # fmt: skip
    await import_ok(engine, "customers", write_csv(tmp_path / "again.csv", changed))

    for day in (12, 19, 26):
        await clock.at(utc(2026, 2, day, 10))

    assert len(clock.sent) == 1  # nothing after the customer went on autopay
    ended = {e.exit_reason for e in await enrollments(engine) if e.customer_id is not None}
    assert ended == {"excluded"}
