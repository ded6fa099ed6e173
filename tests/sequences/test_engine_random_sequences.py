"""Property tests of the engine over random sequence definitions, customers, zones and ticks.

Hypothesis writes the sequences (kinds and triggers, send windows on any days and hours,
near midnight too, steps at `d` and `bd` offsets from due, issued or start, repeats,
email or preferred, inline words or library templates, A/B variants), stores them in
place of the library, and drives ticks at random increasing instants over a few weeks,
in batches of any size, while invoices get paid (some between a tick and its dispatch)
and promises are made, kept or broken. Every message is then checked against rules
computed here, independently of the code under test: inside its own sequences' windows
on a working day of the customer's country (the `holidays` package), never two delivered
within the frequency cap, nothing new from a tick run twice, and no paid invoice in a
message planned or sent after its payment.

The property test runs on SQLite only, a fresh database per example: the rules do not
depend on the backend, and the scenario tests (here, at the end, and elsewhere) run on
both SQLite and PostgreSQL.
"""

from __future__ import annotations

import shutil
import uuid
import warnings
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

import holidays
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from sequences.definition_loading import (
    load_library,
    load_sequence_text,
    sequence_to_yaml,
    validate_text,
)
from sequences.definitions import DAYS, Sequence
from sequences.dispatch import dispatch_once
from sequences.engine import EngineConfig, tick
from sequences.enrollments import EnrollmentError, enroll
from sequences.ledger import LedgerError
from sequences.promises import record_promise
from sequences.rewind import REWOUND
from sequences.store import store_sequences
from sequences.templates import LIBRARY_TEMPLATES
from storage.db import create_engine
from storage.models import Enrollment, Event, Invoice, Task
from storage.models import Sequence as SequenceRow
from tests.sequences.engine_helpers import (
    Clock,
    add_contact,
    add_customer,
    add_invoice,
    enrollments,
    outbox,
    tasks,
    utc,
)

ZONES = ["UTC", "Europe/Paris", "Europe/London", "America/New_York", "America/Los_Angeles",
         "America/Sao_Paulo", "America/Santiago", "America/Havana", "Asia/Tokyo",
         "Asia/Kolkata", "Australia/Sydney", "Australia/Lord_Howe", "Africa/Cairo"]  # fmt: skip
COUNTRIES = ["US", "GB", "DE", "FR", "JP", "AU", "IN", "IL", None]
# Starts just before DST changes (US, EU, Cairo, Santiago, Sydney) and holiday seasons
# (Golden Week, Christmas, the US New Year's Day of 2028 observed on Friday 2027-12-31).
NOTABLE_STARTS = [date(2026, 3, 5), date(2026, 3, 26), date(2026, 4, 1), date(2026, 4, 20),
                  date(2026, 10, 22), date(2026, 10, 29), date(2026, 12, 18),
                  date(2027, 3, 11), date(2027, 4, 1), date(2027, 12, 20)]  # fmt: skip
# Every day set holds a day from Monday to Thursday, a working day in each country above
# (Israel works Sunday to Thursday): a window on no working day never opens at all.
DAY_SETS = ["mon-fri", "tue-sat", "sun-thu", "mon,wed,fri", "mon-sun", "wed-sat", "thu-mon",
            "tue", "mon-thu", "fri-tue"]  # fmt: skip
INVOICE_TEMPLATES = ["past_due_gentle", "past_due_firm", "past_due_final", "invoice_reminder",
                     "invoice_delivery", "invoice_due_today", "invoice_overdue"]  # fmt: skip
CUSTOMER_TEMPLATES = ["onboarding_welcome"]
INLINE = {
    "subject": "About {{ invoices | length }} invoice(s), {{ customer.name }}",
    "body": "Hello {{ customer.name }},\n{% for i in invoices %}{{ i.number }}\n{% endfor %}",
}
# (kind, trigger): the combinations a definition may have; one automatic trigger each.
KINDS = [("past_due", "invoice_overdue"), ("invoicing", "invoice_created"),
         ("onboarding", "customer_created"), ("past_due", "manual"), ("invoicing", "manual"),
         ("onboarding", "manual")]  # fmt: skip
SPAN_DAYS = 21


# --- the rules, computed here --------------------------------------------------------


@cache
def _calendar(country: str, year: int) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return holidays.country_holidays(country, years=range(year - 1, year + 2))


def working_day(day: date, country: str | None) -> bool:
    """A working day of `country` by the `holidays` package (Saturday/Sunday off if unknown)."""
    if country is None:
        return day.weekday() < 5
    return bool(_calendar(country, day.year).is_working_day(day))


def window_days(spec: str) -> set[int]:
    """The weekdays (Monday = 0) of a day spec like `thu-mon` or `mon,wed,fri`."""
    days: set[int] = set()
    for part in spec.split(","):
        first, _, last = part.partition("-")
        a, b = DAYS.index(first), DAYS.index(last or first)
        days |= {(a + n) % 7 for n in range((b - a) % 7 + 1)}
    return days


def hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


# --- strategies ----------------------------------------------------------------------


@st.composite
def windows(draw: st.DrawFn) -> dict[str, str]:
    """A send window: usual office hours, or short ones, near midnight among them."""
    start = draw(st.one_of(st.sampled_from([0, 30, 60, 120, 480, 540, 1320, 1380, 1410]),
                           st.integers(0, 1437)))  # fmt: skip
    length = draw(st.one_of(st.sampled_from([30, 60, 120, 480, 1439]), st.integers(1, 1439)))
    end = min(start + length, 1439)  # 23:59 at the latest: the window does not wrap
    return {"days": draw(st.sampled_from(DAY_SETS)), "from": hhmm(start), "to": hhmm(end)}


@st.composite
def steps(draw: st.DrawFn, target: str, anchors: list[str]) -> list[dict[str, Any]]:
    """Steps in order on each anchor (the rule definitions are checked against)."""
    offsets = st.tuples(st.sampled_from(anchors), st.integers(-8, 20), st.sampled_from(["d", "bd"]))
    raw = draw(st.lists(offsets, min_size=1, max_size=4))
    if target == "customer":  # no date before the enrollment itself
        raw = [(a, abs(n), unit) for a, n, unit in raw]

    def days(offset: tuple[str, int, str]) -> int:  # as sequences.definition_checks orders
        n = abs(offset[1])
        n += 2 * (n // 5) if offset[2] == "bd" else 0
        return n if offset[1] >= 0 else -n

    ordered = list(raw)
    for anchor in anchors:
        places = [k for k, o in enumerate(raw) if o[0] == anchor]
        for k, offset in zip(places, sorted((raw[k] for k in places), key=days), strict=True):
            ordered[k] = offset
    result = []
    for anchor, n, unit in ordered:
        step: dict[str, Any] = {"at": f"{anchor}{n:+d}{unit}" if n or unit == "bd" else anchor}
        if draw(st.integers(0, 5)) == 0:
            step["task"] = "Call {{ customer.name }}"
        else:
            step["send"] = draw(st.sampled_from(["email", "preferred"]))
            names = INVOICE_TEMPLATES if target == "invoice" else CUSTOMER_TEMPLATES
            words = draw(st.sampled_from(["inline", "template", "variants"]))
            if words == "inline":
                step |= INLINE
            elif words == "variants" and target == "invoice":
                pair = draw(st.lists(st.sampled_from(names), min_size=2, max_size=2, unique=True))
                step |= {"template": pair[0], "variants": pair}
            else:
                step["template"] = draw(st.sampled_from(names))
        if draw(st.booleans()):
            every = f"{draw(st.integers(1, 6))}{draw(st.sampled_from(['d', 'bd']))}"
            step["repeat"] = {"every": every, "times": draw(st.integers(1, 4))}
        result.append(step)
    return result


@st.composite
def definitions(draw: st.DrawFn) -> list[Sequence]:
    """One to three valid sequences, no two started by the same automatic trigger."""
    chosen = draw(st.lists(st.sampled_from(KINDS), min_size=1, max_size=3,
                           unique_by=lambda k: k[1] if k[1] != "manual" else k))  # fmt: skip
    result = []
    for n, (kind, trigger) in enumerate(chosen):
        target = "customer" if kind == "onboarding" else "invoice"
        anchors = ["start"] if target == "customer" else ["due", "issued", "start"]
        exits = ["paid", "disputed", "promised", "replied"]
        data = {
            "name": f"random-{n}-{kind}",
            "kind": kind,
            "trigger": trigger,
            "exit_on": draw(st.lists(st.sampled_from(exits), unique=True, max_size=4)),
            "send_window": draw(windows()),
            "steps": draw(steps(target, anchors)),
        }
        # Through the YAML loader: the definition is valid by every rule a user meets.
        sequence = Sequence.model_validate(data)
        result.append(load_sequence_text(sequence_to_yaml(sequence)))
    return result


@dataclass(frozen=True)
class InvoicePlan:
    """An invoice and what happens to it; instants are fractions of the span."""

    due_day: int
    issued_before: int
    paid: float | None
    paid_before_dispatch: bool  # the payment lands between a tick and its dispatch
    promised: float | None  # a promise to pay, kept or broken, made then
    promise_days: int  # the promised date, days after the promise


@dataclass(frozen=True)
class Person:
    zone: str
    country: str | None
    telegram: bool
    invoices: list[InvoicePlan]


@dataclass(frozen=True)
class Scenario:
    start: datetime
    sequences: list[Sequence]
    people: list[Person]
    ticks: list[datetime]
    cap: timedelta
    batch: int  # enrollments per batch: a customer's touches may span batches


invoice_plans = st.builds(
    InvoicePlan, st.integers(-20, 20), st.integers(0, 40), st.none() | st.floats(-0.1, 1),
    st.booleans(), st.none() | st.floats(0, 1), st.integers(0, 6),
)  # fmt: skip
people = st.lists(
    st.builds(
        Person,
        zone=st.sampled_from(ZONES),
        country=st.sampled_from(COUNTRIES),
        telegram=st.booleans(),
        invoices=st.lists(invoice_plans, min_size=1, max_size=3),
    ),
    min_size=1,
    max_size=3,
)


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    """Sequences, customers and tick instants, many of them inside some customer's window."""
    day = draw(st.one_of(st.sampled_from(NOTABLE_STARTS), st.dates(date(2026, 1, 1),
                                                                 date(2027, 12, 31))))  # fmt: skip
    start = datetime.combine(day, time(0), tzinfo=UTC)
    sequences = draw(definitions())
    customers = draw(people)
    instants = set()
    for offset in draw(st.lists(st.integers(0, SPAN_DAYS), min_size=8, max_size=16)):
        if draw(st.integers(0, 4)) == 0:  # any time of day
            instants.add(start + timedelta(days=offset, minutes=draw(st.integers(0, 1439))))
            continue
        # About a window's hours in some customer's zone, edges included.
        window = draw(st.sampled_from(sequences)).send_window
        zone = ZoneInfo(draw(st.sampled_from(customers)).zone)
        opens = window.from_.hour * 60 + window.from_.minute
        closes = window.to.hour * 60 + window.to.minute
        local_day = day + timedelta(days=offset)
        while local_day.weekday() not in window_days(window.days):
            local_day += timedelta(days=1)
        local = datetime.combine(local_day, time(0), tzinfo=zone)
        minutes = draw(st.one_of(st.sampled_from([opens, closes - 1, closes]),
                                 st.integers(opens, closes)))  # fmt: skip
        instants.add((local + timedelta(minutes=minutes)).astimezone(UTC))
    cap = draw(st.sampled_from([timedelta(days=2), timedelta(days=1), timedelta(hours=60)]))
    batch = draw(st.sampled_from([500, 1, 2, 3]))
    return Scenario(start, sequences, customers, sorted(instants), cap, batch)


# --- the test ------------------------------------------------------------------------


async def _pay(engine: AsyncEngine, invoices: list[int]) -> None:
    async with engine.begin() as conn:
        await conn.execute(update(Invoice.__table__).where(Invoice.id.in_(invoices))
                           .values(open_amount=0, status="paid"))  # fmt: skip


async def _promise(engine: AsyncEngine, made: list[tuple[int, int]], now: datetime) -> None:
    for invoice, days in made:
        async with engine.begin() as conn:
            with suppress(LedgerError):  # paid already
                await record_promise(conn, invoice_id=invoice, amount=None, source="telegram",
                                     promised_date=now.date() + timedelta(days=days),
                                     actor="contact", now=now)  # fmt: skip


async def _rewinds(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return len(list(await conn.scalars(select(Event.id).where(Event.kind == REWOUND))))


async def _snapshot(engine: AsyncEngine) -> tuple[list[Any], ...]:
    """What a tick writes: outbox rows, tasks, enrollments and the audit trail."""
    async with engine.connect() as conn:
        events = (await conn.execute(select(Event.__table__).order_by(Event.id))).all()
    return await outbox(engine), await tasks(engine), await enrollments(engine), list(events)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow,
          HealthCheck.function_scoped_fixture, HealthCheck.data_too_large])  # fmt: skip
@given(scenario=scenarios())
async def test_engine_rules_hold_for_random_sequences(tmp_path, sqlite_template, scenario):
    path = tmp_path / f"{uuid.uuid4().hex}.db"
    shutil.copy(sqlite_template, path)
    engine = create_engine(f"sqlite+aiosqlite:///{path}")
    try:
        await _run_and_check(engine, scenario)
    finally:
        await engine.dispose()


async def _run_and_check(engine: AsyncEngine, scenario: Scenario) -> None:
    start, first = scenario.start, scenario.ticks[0]
    async with engine.begin() as conn:  # in place of the library (stored before any tick)
        await store_sequences(conn, scenario.sequences, template_dirs=(LIBRARY_TEMPLATES,),
                              actor="test", now=start - timedelta(days=1))  # fmt: skip
    customers: dict[int, Person] = {}
    payments: list[tuple[datetime, int, bool]] = []
    promises: list[tuple[datetime, int, int]] = []
    for n, person in enumerate(scenario.people):
        customer = await add_customer(
            engine, f"C{n}", timezone=person.zone, country=person.country,
            email=f"c{n}@example.test", created_at=start - timedelta(hours=1),
        )  # fmt: skip
        if person.telegram:
            await add_contact(engine, customer, "telegram", f"{9000 + n}")
        customers[customer] = person
        for k, plan in enumerate(person.invoices):
            due = start.date() + timedelta(days=plan.due_day)
            issued = due - timedelta(days=plan.issued_before)
            invoice = await add_invoice(engine, customer, f"INV-{n}-{k}", issued=issued, due=due)
            span = timedelta(days=SPAN_DAYS)
            if plan.paid is not None:
                payments.append((start + plan.paid * span, invoice, plan.paid_before_dispatch))
            if plan.promised is not None:
                promises.append((start + plan.promised * span, invoice, plan.promise_days))
    async with engine.begin() as conn:
        for sequence in (s for s in scenario.sequences if s.trigger == "manual"):
            for customer in customers:
                with suppress(EnrollmentError):  # every invoice of the customer is paid
                    await enroll(conn, sequence_name=sequence.name, customer_id=customer,
                                 invoice_id=None, actor="test", now=first)  # fmt: skip
    clock = Clock(engine, EngineConfig(frequency_cap=scenario.cap, batch=scenario.batch))
    recorded: dict[int, tuple[datetime, bool]] = {}  # invoice -> tick, after it planned?
    for now in scenario.ticks:
        await _promise(engine, [(i, days) for at, i, days in promises if at <= now], now)
        promises = [p for p in promises if p[0] > now]
        paying = [(i, late) for at, i, late in payments if at <= now and i not in recorded]
        await _pay(engine, [i for i, late in paying if not late])
        report = await tick(engine, now=now, config=clock.config)
        paid_late = [i for i, late in paying if late]
        await _pay(engine, paid_late)  # dispatch must re-check
        recorded |= {i: (now, late) for i, late in paying}
        rewound = await _rewinds(engine)
        while (await dispatch_once(engine, clock.channels, now=now, worker="test")).claimed:
            pass
        rewound = await _rewinds(engine) - rewound
        if paid_late or rewound or not (report.due or report.enrolled or report.woken):
            # A tick that read nothing has nothing to do twice; after a payment since,
            # a second one has a new fact to act on (a promise kept), and so after
            # dispatch put back a step of a message it held (sequences.rewind).
            continue
        before = await _snapshot(engine)
        again = await tick(engine, now=now, config=clock.config)
        assert again.messages == 0, f"the tick at {now} run twice planned {again.messages} more"
        after = await _snapshot(engine)
        new = [[r for r in rows if r not in old] for rows, old in zip(after, before, strict=True)]
        assert after == before, f"the tick at {now} run twice wrote again: {new}"
    async with engine.connect() as conn:
        names = dict((await conn.execute(select(SequenceRow.id, SequenceRow.name))).all())
    by_name = {s.name: s for s in scenario.sequences}
    sequence_of = {e.id: by_name[names[e.sequence_id]] for e in await enrollments(engine)}
    rows = await outbox(engine)
    messages = [m for m in rows if m.kind == "customer_message"]
    event(f"customer messages: {min(len(messages), 5)}+")
    event(f"notices: {min(sum(m.step_index is None for m in messages), 1)}+")
    _check_messages(rows, sequence_of, customers, scenario.cap, recorded)


def _check_messages(
    rows: list[Any], sequence_of: dict[int, Sequence], customers: dict[int, Person],
    cap: timedelta, recorded: dict[int, tuple[datetime, bool]],
) -> None:  # fmt: skip
    """Each message in the windows of the sequences it speaks for, on a working day; the
    cap between delivered ones; no paid invoice in one planned or sent after its payment."""
    sent: dict[int, list[datetime]] = {}
    for m in (m for m in rows if m.kind == "customer_message"):
        person = customers[m.customer_id]
        local = m.scheduled_for.astimezone(ZoneInfo(person.zone))
        assert working_day(local.date(), person.country), f"{local} is a day off in {person}"
        for enrollment in m.payload["enrollments"]:
            window = sequence_of[enrollment].send_window
            assert local.weekday() in window_days(window.days), f"{local} not on {window.days}"
            assert window.from_ <= local.time().replace(tzinfo=None) < window.to, (
                f"{local} outside {window.from_}-{window.to}"
            )
        for invoice, (at, late) in recorded.items():
            planned_after = m.scheduled_for > at if late else m.scheduled_for >= at
            sent_after = m.state == "sent" and m.sent_at >= at
            if planned_after or sent_after:
                assert invoice not in m.invoice_ids, f"invoice {invoice} paid by {at}, chased"
        if m.state == "sent":
            sent.setdefault(m.customer_id, []).append(m.scheduled_for)
    for customer, instants in sent.items():
        for a, b in pairwise(sorted(instants)):
            assert b - a >= cap, f"customer {customer}: messages at {a} and {b}"


# --- found while writing the strategies ----------------------------------------------

WEEKEND_ONLY = """name: weekend-only
kind: past_due
trigger: manual
send_window: {days: sat-sun, from: "09:00", to: "17:00"}
steps:
  - at: due+1d
    send: email
    template: past_due_gentle
"""


async def test_a_window_that_never_opens_for_one_customer_does_not_stop_the_others(engine):
    assert validate_text(WEEKEND_ONLY) == []  # accepted: it opens for customers who work then
    async with engine.begin() as conn:
        await store_sequences(conn, [*load_library(), load_sequence_text(WEEKEND_ONLY)],
                              template_dirs=(LIBRARY_TEMPLATES,), actor="test",
                              now=utc(2026, 1, 1))  # fmt: skip
    stuck = await add_customer(engine, "US", country="US", email="us@example.test")
    other = await add_customer(engine, "FR", country="FR", email="fr@example.test")
    for customer in (stuck, other):
        await add_invoice(engine, customer, f"INV-{customer}", issued=date(2026, 1, 5),
                          due=date(2026, 2, 4))  # fmt: skip
    async with engine.begin() as conn:
        await enroll(conn, sequence_name="weekend-only", customer_id=stuck, invoice_id=None,
                     actor="U1", now=utc(2026, 2, 5, 9))  # fmt: skip
    await Clock(engine).at(utc(2026, 2, 5, 10))  # Thursday: the past-due gentle step is due
    messages = [m for m in await outbox(engine) if m.kind == "customer_message"]
    assert other in {m.customer_id for m in messages}
    # The stuck enrollment ended, and its owner was told why.
    async with engine.connect() as conn:
        ended = set(await conn.scalars(select(Enrollment.exit_reason).where(
            Enrollment.customer_id == stuck, Enrollment.exit_reason.is_not(None))))  # fmt: skip
        titles = list(await conn.scalars(select(Task.title).where(Task.customer_id == stuck)))
    assert ended == {"no_send_window"}
    assert any("weekend-only cannot reach this customer" in t for t in titles)


async def test_a_payment_between_tick_and_dispatch_does_not_lose_the_other_invoices_step(engine):
    """Dispatch skips the message that lists the paid invoice; the other one keeps its step."""
    customer = await add_customer(engine, "C1")
    paid, kept = [
        await add_invoice(engine, customer, number, issued=date(2026, 1, 5), due=date(2026, 2, 4))
        for number in ("INV-A", "INV-B")
    ]
    clock = Clock(engine)
    now = utc(2026, 2, 5, 10)
    await tick(engine, now=now)  # one gentle reminder for both invoices
    async with engine.begin() as conn:
        await conn.execute(update(Invoice.__table__).where(Invoice.id == paid)
                           .values(open_amount=0, status="paid"))  # fmt: skip
    while (await dispatch_once(engine, clock.channels, now=now, worker="test")).claimed:
        pass
    for day in range(6, 11):  # before the firm step (due+7d)
        await clock.at(utc(2026, 2, day, 10))
    sent = [m for m in await outbox(engine) if m.state == "sent"]
    assert all(paid not in m.invoice_ids for m in sent)
    assert any(kept in m.invoice_ids and m.step_index == 0 for m in sent), "INV-B's step lost"
