"""Engine scenarios with ledger facts: promises, disputes, pauses, edits, exclusions."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy import select, update

from sequences import disputes, ledger, promises
from sequences.definition_loading import load_library
from sequences.engine import EngineConfig
from sequences.planner import CustomerFacts, variant_for
from sequences.store import store_sequences, stored_by_name
from sequences.templates import LIBRARY_TEMPLATES
from storage.models import (
    Customer,
    Dispute,
    Enrollment,
    Escalation,
    Invoice,
    PauseScope,
    Sequence,
)
from tests.sequences.engine_helpers import (
    Clock,
    add_customer,
    add_invoice,
    enrollments,
    outbox,
    tasks,
    utc,
)

SUBJECTS = {"past_due_firm": "Overdue:", "past_due_firm_short": "Please pay"}


async def _overdue(engine, **customer):
    customer_id = await add_customer(engine, **customer)
    invoice = await add_invoice(
        engine, customer_id, "INV-1", issued=date(2026, 1, 5), due=date(2026, 2, 4)
    )
    return customer_id, invoice


async def test_a_kept_promise_ends_the_chase(engine):
    _, invoice = await _overdue(engine)
    clock = Clock(engine)
    await clock.at(utc(2026, 2, 5, 10))  # gentle
    async with engine.begin() as conn:
        await promises.record_promise(
            conn, invoice_id=invoice, promised_date=date(2026, 2, 20), amount=None,
            source="telegram", actor="contact", now=utc(2026, 2, 6, 10),
        )  # fmt: skip
    for day in range(7, 20):  # paused: the firm step (Feb 11) does not go out
        await clock.at(utc(2026, 2, day, 10))
    assert len(clock.sent) == 1
    async with engine.begin() as conn:
        await conn.execute(update(Invoice.__table__).values(open_amount=0, status="paid"))
    await clock.at(utc(2026, 2, 25, 10))
    assert len(clock.sent) == 1
    [enrollment] = await enrollments(engine)
    assert enrollment.exit_reason == "paid"


async def test_a_broken_promise_resumes_with_a_broken_promise_message(engine):
    _, invoice = await _overdue(engine)
    clock = Clock(engine)
    await clock.at(utc(2026, 2, 5, 10))
    async with engine.begin() as conn:
        await promises.record_promise(
            conn, invoice_id=invoice, promised_date=date(2026, 2, 16), amount=None,
            source="slack", actor="U1", now=utc(2026, 2, 6, 10),
        )  # fmt: skip
    for day in range(7, 20):
        await clock.at(utc(2026, 2, day, 10))
    assert len(clock.sent) == 1  # still within Feb 16 + 3 days of grace
    await clock.at(utc(2026, 2, 20, 10))  # Friday: grace over, promise broken
    assert len(clock.sent) == 2
    assert "promised" in clock.sent[-1].subject.lower()
    # The owner hears of the broken promise; the call task missed while paused is due too.
    assert sorted(t.kind for t in await tasks(engine)) == ["broken_promise", "sequence_task"]
    await clock.at(utc(2026, 2, 23, 10))  # Monday: the sequence goes on where it was
    assert len(clock.sent) == 3


async def _promise(engine, invoice: int, promised: date, made) -> None:
    async with engine.begin() as conn:
        await promises.record_promise(
            conn, invoice_id=invoice, promised_date=promised, amount=None, source="slack",
            actor="U1", now=made,
        )  # fmt: skip


async def test_a_second_broken_promise_is_a_message_of_its_own(engine):
    """Regression: the second broken-promise notice of an enrollment reused the first
    one's outbox key, so it was silently dropped."""
    _, invoice = await _overdue(engine)
    clock = Clock(engine)
    await clock.at(utc(2026, 2, 5, 10))  # gentle
    await _promise(engine, invoice, date(2026, 2, 16), utc(2026, 2, 6, 10))
    await clock.at(utc(2026, 2, 20, 10))  # Friday: grace over, first promise broken
    await clock.at(utc(2026, 2, 23, 10))  # Monday: the sequence goes on
    await _promise(engine, invoice, date(2026, 3, 16), utc(2026, 2, 24, 10))
    second = await clock.at(utc(2026, 3, 20, 10))  # Friday: the second one broken
    assert second.promises_broken == 1 and second.messages == 1
    broken = [m for m in clock.sent if "promised" in m.subject.lower()]
    assert [m.scheduled_for for m in broken] == [utc(2026, 2, 20, 10), utc(2026, 3, 20, 10)]
    assert [t.kind for t in await tasks(engine)].count("broken_promise") == 2
    [enrollment] = await enrollments(engine)
    assert (enrollment.notice, enrollment.notice_key) == (None, None)


async def test_a_message_written_before_does_not_count_for_the_cap(engine):
    """Touches whose message is in the outbox already move on without a new one, and
    the cap does not count it as sent now (it used to hold the customer's other touches)."""
    customer, _ = await _overdue(engine)
    clock = Clock(engine)
    await clock.at(utc(2026, 2, 5, 10))  # gentle for INV-1

    async def owe_notice(at) -> None:  # a notice with no key of its own (as before 0006)
        async with engine.begin() as conn:
            await conn.execute(
                update(Enrollment.__table__)
                .where(Enrollment.invoice_id.is_not(None))
                .values(notice="promise_broken", notice_key=None, next_action_at=at)
            )

    await owe_notice(utc(2026, 2, 9, 10))
    await clock.at(utc(2026, 2, 9, 10))
    assert len(clock.sent) == 2  # the notice, under its key
    await owe_notice(utc(2026, 2, 12, 10))  # the same notice again: same key
    await add_invoice(engine, customer, "INV-2", issued=date(2026, 2, 12), due=date(2026, 3, 14))
    report = await clock.at(utc(2026, 2, 12, 10))
    assert "INV-2" in clock.sent[-1].body and len(clock.sent) == 3  # the delivery went
    # Only that delivery counts; INV-1's firm step (due Feb 11) is then held by the cap.
    assert (report.messages, report.capped) == (1, 1)
    [past_due, _] = await enrollments(engine)
    assert (past_due.notice, past_due.current_step) == (None, 1)


async def test_a_dispute_pauses_the_chase_and_runs_the_disputes_sequence(engine):
    _, invoice = await _overdue(engine)
    clock = Clock(engine)
    await clock.at(utc(2026, 2, 5, 10))
    async with engine.begin() as conn:
        dispute = await disputes.open_dispute(
            conn, invoice_id=invoice, reason="wrong quantity", actor="contact",
            now=utc(2026, 2, 6, 9),
        )  # fmt: skip
    await clock.at(utc(2026, 2, 6, 10))  # the team hears at once; the customer gets a receipt
    assert clock.sent[-1].subject == "We are looking into invoice INV-1"
    # The team hears through the dispute's escalation chain (not one task per level).
    assert await tasks(engine) == []
    async with engine.connect() as conn:
        [chain] = (await conn.execute(select(Escalation.__table__))).all()
    assert (chain.dispute_id, chain.state, len(chain.chain)) == (dispute, "active", 6)
    for day in range(9, 14):  # past-due steps wait
        await clock.at(utc(2026, 2, day, 10))
    assert len(clock.sent) == 2
    async with engine.begin() as conn:
        await disputes.acknowledge_dispute(
            conn, dispute_id=dispute, actor="U2", now=utc(2026, 2, 13, 11)
        )
        await disputes.resolve_dispute(
            conn, dispute_id=dispute, resolution="goods were delivered", credit_amount=None,
            actor="U2", now=utc(2026, 2, 16, 9),
        )  # fmt: skip
    await clock.at(utc(2026, 2, 16, 10))
    states = {e.sequence_id: (e.state, e.exit_reason) for e in await enrollments(engine)}
    assert ("exited", "resolved") in states.values()
    assert len(clock.sent) == 3  # the past-due chase picks up again
    async with engine.connect() as conn:
        assert (await conn.scalar(select(Dispute.status))) == "resolved"


async def test_a_customer_paused_until_a_date_hears_nothing_then_resumes(engine):
    customer, _ = await _overdue(engine)
    clock = Clock(engine)
    await clock.at(utc(2026, 2, 5, 10))
    async with engine.begin() as conn:
        await ledger.pause(
            conn, scope=PauseScope.CUSTOMER, customer_id=customer, until=utc(2026, 2, 20),
            reason="CFO on holiday", actor="U1", now=utc(2026, 2, 6, 9),
        )  # fmt: skip
    for day in range(6, 20):
        await clock.at(utc(2026, 2, day, 10))
    assert len(clock.sent) == 1
    await clock.at(utc(2026, 2, 20, 10))
    assert len(clock.sent) == 2


async def test_a_sequence_edited_while_enrollments_run(engine):
    customer, _ = await _overdue(engine)
    clock = Clock(engine)
    await clock.at(utc(2026, 2, 5, 10))
    [first] = await enrollments(engine)
    # A manager shortens the past-due sequence to a single gentle step.
    edited = next(s for s in load_library() if s.name == "past-due-standard")
    edited = edited.model_copy(update={"steps": edited.steps[:1]})
    async with engine.begin() as conn:
        [result] = await store_sequences(
            conn, [edited], template_dirs=(LIBRARY_TEMPLATES,), actor="U1", now=utc(2026, 2, 6)
        )
    assert (result.version, result.changed) == (2, True)
    await add_invoice(engine, customer, "INV-2", issued=date(2026, 1, 10), due=date(2026, 2, 9))
    await clock.at(utc(2026, 2, 11, 10))
    rows = {e.invoice_id: e for e in await enrollments(engine)}
    async with engine.connect() as conn:
        versions = dict((await conn.execute(select(Sequence.id, Sequence.version))).all())
    old, new = rows[first.invoice_id], next(e for e in rows.values() if e.id != first.id)
    assert versions[old.sequence_id] == 1 and old.state == "active"  # keeps its version
    assert versions[new.sequence_id] == 2 and new.state == "completed"  # one step only


async def test_autopay_tagged_and_small_balances_are_left_alone(engine):
    autopay = await add_customer(engine, "AUTO", email="auto@example.test")
    tagged = await add_customer(engine, "TAG", email="tag@example.test")
    small = await add_customer(engine, "SMALL", email="small@example.test")
    async with engine.begin() as conn:
        await conn.execute(
            update(Customer.__table__).where(Customer.id == autopay).values(autopay=True)
        )
        await conn.execute(
            update(Customer.__table__).where(Customer.id == tagged).values(tags=["no-reminders"])
        )
    for n, customer in enumerate((autopay, tagged)):
        await add_invoice(
            engine, customer, f"INV-{n}", issued=date(2026, 1, 5), due=date(2026, 2, 4)
        )
    await add_invoice(engine, small, "INV-S", issued=date(2026, 1, 5), due=date(2026, 2, 4),
                      amount="4.99")  # fmt: skip
    clock = Clock(engine, EngineConfig(min_balance=Decimal("5")))
    report = await clock.at(utc(2026, 2, 5, 10))
    assert report.enrolled == 0 and clock.sent == []


async def test_ab_variants_are_stable_per_customer_and_recorded(engine):
    """Each customer's arm is the hash assignment, the same on its next invoice."""
    customers = {}
    for n in range(12):
        customer = await add_customer(engine, f"C{n:02d}", email=f"c{n}@example.test")
        customers[customer] = CustomerFacts(customer, f"C{n:02d}", f"Customer C{n:02d}")
        await add_invoice(engine, customer, f"INV-A{n:02d}", issued=date(2026, 1, 5),
                          due=date(2026, 2, 4))  # fmt: skip
    clock = Clock(engine)
    await clock.at(utc(2026, 2, 5, 10))  # gentle (no variants)
    await clock.at(utc(2026, 2, 11, 10))  # firm: variants
    async with engine.begin() as conn:  # the first invoices are paid; new ones come due
        await conn.execute(update(Invoice.__table__).values(open_amount=0, status="paid"))
        stored = await stored_by_name(conn, "past-due-standard")
    for customer in customers:
        await add_invoice(engine, customer, f"INV-B{customer}", issued=date(2026, 1, 21),
                          due=date(2026, 2, 20))  # fmt: skip
    await clock.at(utc(2026, 2, 23, 10))  # gentle for the new invoices
    await clock.at(utc(2026, 2, 27, 10))  # firm again: the same arm for each customer
    assert stored is not None
    firm = [m for m in await outbox(engine) if m.step_index == 1]
    assert len(firm) == 24
    arms: dict[int, set[str]] = {}
    for m in firm:
        assert m.variant == variant_for(stored.sequence, 1, customers[m.customer_id])
        assert m.subject.startswith(SUBJECTS[m.variant])  # spoken with the arm's words
        arms.setdefault(m.customer_id, set()).add(m.variant)
    assert all(len(a) == 1 for a in arms.values())
    assert set().union(*arms.values()) == {"past_due_firm", "past_due_firm_short"}


async def test_onboarding_chases_the_checklist_until_it_is_done(engine):
    clock = Clock(engine)
    await clock.at(utc(2026, 3, 2, 7))  # first run: the library is stored
    customer = await add_customer(engine, "NEW", created_at=utc(2026, 3, 2, 8))  # a new one
    await clock.at(utc(2026, 3, 2, 10))
    assert "welcome" in clock.sent[0].subject.lower()
    async with engine.begin() as conn:
        for item in ("Billing contact confirmed", "Tax form received"):
            await ledger.mark_checklist_item(
                conn, customer_id=customer, item=item, actor="U1", now=utc(2026, 3, 3)
            )
    await clock.at(utc(2026, 3, 5, 10))  # start+3bd: the checklist reminder
    assert "Payment method set up" in clock.sent[-1].body
    async with engine.begin() as conn:
        await ledger.mark_checklist_item(
            conn, customer_id=customer, item="Payment method set up", actor="U1",
            now=utc(2026, 3, 6),
        )  # fmt: skip
    for day in range(9, 31):
        await clock.at(utc(2026, 3, day, 10))
    assert len(clock.sent) == 2
    [enrollment] = await enrollments(engine)
    assert enrollment.exit_reason == "checklist_done"
