"""`/ar` subcommands through signed requests into the real endpoint, on both databases.

Each answer is ephemeral on the response URL; a malformed or refused one names the
subcommand's usage line and writes nothing.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import insert, select

from bot.slack.command_parser import USAGE
from sequences.ledger import add_task
from storage.models import (
    Dispute,
    Enrollment,
    Event,
    OutboxMessage,
    Pause,
    Promise,
    TelegramLinkToken,
)
from tests.bot.slack.command_ledger import NOW, ar, build_ledger, count, shown
from tests.bot.slack.harness import COLLECTOR, MANAGER, SlackHarness


async def test_help_lists_every_subcommand_and_an_unknown_one_suggests_the_closest(
    engine, fake_slack
):
    async with SlackHarness(engine, fake_slack, now=NOW) as slack:
        listed = shown(await ar(slack, "help"))
        empty = shown(await ar(slack, ""))
        typo = shown(await ar(slack, "statsu BETA"))
    assert all(usage in listed for usage in USAGE.values()) and empty == listed
    assert "unknown subcommand 'statsu' (did you mean 'status'?)" in typo
    assert "Usage: `/ar help`" in typo


async def test_status_shows_balance_aging_invoices_sequences_touches_disputes_promises(
    engine, fake_slack
):
    ids = await build_ledger(engine)
    async with SlackHarness(engine, fake_slack, now=NOW) as slack:
        await ar(slack, "enroll BETA past-due-standard")
        await ar(slack, "dispute INV-1 wrong quantity")
        await ar(slack, "promise INV-2 2026-03-25 100")
        async with engine.begin() as conn:
            await conn.execute(insert(OutboxMessage.__table__).values(
                idempotency_key="k1", channel="email", kind="reminder", customer_id=ids["BETA"],
                subject="Invoice INV-1 is overdue", body="", payload={}, scheduled_for=NOW,
                state="sent", next_attempt_at=NOW, sent_at=NOW - timedelta(days=1),
            ))  # fmt: skip
        text = shown(await ar(slack, "status BETA"))
    assert "Customer BETA (BETA)" in text and "$1,500.50" in text
    assert "2 open invoice(s)" in text and "1-30 $1,200.00" in text and "current $300.50" in text
    assert "`INV-1` $1,200.00 · 30d overdue · disputed" in text
    assert "`INV-2` $300.50 · due 2026-03-20 · promised 2026-03-25" in text
    assert "past-due-standard (invoice `INV-1`)" in text
    assert "email: Invoice INV-1 is overdue" in text
    assert "wrong quantity" in text and f"<@{COLLECTOR}>" in text
    assert "`INV-2` by 2026-03-25 · $100.00" in text


async def test_status_names_a_customer_by_prefix_and_lists_an_ambiguous_ones_matches(
    engine, fake_slack
):
    await build_ledger(engine)
    async with SlackHarness(engine, fake_slack, now=NOW) as slack:
        by_prefix = shown(await ar(slack, 'status "customer be"'))
        ambiguous = shown(await ar(slack, 'status "Customer AC"'))
        unknown = shown(await ar(slack, "status NOPE"))
        missing = shown(await ar(slack, "status"))
    assert "Customer BETA (BETA)" in by_prefix
    assert "matches 2 customers" in ambiguous
    assert "• Customer ACME1 (ACME1)\n• Customer ACME2 (ACME2)" in ambiguous
    assert "no customer has the external id" in unknown and USAGE["status"] in unknown
    assert "missing CUSTOMER" in missing and USAGE["status"] in missing


async def test_sequences_and_sequence_show(engine, fake_slack):
    await build_ledger(engine)
    async with SlackHarness(engine, fake_slack, now=NOW) as slack:
        await ar(slack, "enroll BETA past-due-standard")
        listing = shown(await ar(slack, "sequences"))
        steps = await ar(slack, "sequence show past-due-standard")
        manager_view = await ar(slack, "sequence show past-due-standard", user=MANAGER)
        unknown = shown(await ar(slack, "sequence show past-due-standart"))
        bare = shown(await ar(slack, "sequence"))
    assert "*past-due-standard* v1 · past_due · trigger invoice_overdue" in listing
    assert "*2* running" in listing
    assert "`due+1d` send email: past_due_gentle" in shown(steps)
    skips = [b["accessory"] for b in steps["blocks"] if b.get("accessory")]
    assert len(skips) == 2 and skips[0]["action_id"] == "enrollment_skip_step"
    assert not any(b["type"] == "actions" for b in steps["blocks"])  # Edit: managers only
    assert any(b["type"] == "actions" for b in manager_view["blocks"])
    assert "no sequence named 'past-due-standart' (did you mean 'past-due-standard'?)" in unknown
    assert "missing show or new" in bare


async def test_enroll_and_unenroll_record_who_and_refuse_twice(engine, fake_slack):
    ids = await build_ledger(engine)
    async with SlackHarness(engine, fake_slack, now=NOW) as slack:
        started = shown(await ar(slack, "enroll INV-2 past-due-standard"))
        again = shown(await ar(slack, "enroll INV-2 past-due-standard"))
        customer = shown(await ar(slack, "enroll BETA onboarding-standard"))
        wrong = shown(await ar(slack, "enroll INV-2 onboarding-standard"))
        unknown = shown(await ar(slack, "enroll BETA nosuch"))
        missing = shown(await ar(slack, "enroll BETA"))
        stopped = shown(await ar(slack, "unenroll BETA past-due-standard"))
        not_running = shown(await ar(slack, "unenroll BETA past-due-standard"))
    assert "Started *past-due-standard* for invoice(s) INV-2 of Customer BETA" in started
    assert "invoice INV-2 already runs 'past-due-standard'" in again
    assert USAGE["enroll"] in again
    assert "Started *onboarding-standard* for Customer BETA (BETA)" in customer
    assert "runs for a customer: name the customer" in wrong
    assert "no sequence named 'nosuch'" in unknown and "missing SEQUENCE" in missing
    assert "Stopped *past-due-standard* for invoice(s) INV-2" in stopped
    assert "is not running for this customer" in not_running
    e, ev = Enrollment.__table__, Event.__table__
    assert await count(engine, e, e.c.customer_id == ids["BETA"]) == 2
    assert await count(engine, e, e.c.state == "cancelled") == 1
    assert await count(engine, ev, ev.c.kind == "enrolled", ev.c.actor == COLLECTOR) == 2
    assert await count(engine, ev, ev.c.kind == "unenrolled", ev.c.actor == COLLECTOR) == 1


async def test_pause_and_resume_a_customer_an_invoice_and_a_whole_sequence(engine, fake_slack):
    ids = await build_ledger(engine)
    p = Pause.__table__
    async with SlackHarness(engine, fake_slack, now=NOW) as slack:
        week = shown(await ar(slack, "pause BETA 7d customer on holiday"))
        dated = shown(await ar(slack, "pause INV-3 until 2026-03-20"))
        bad = shown(await ar(slack, "pause BETA 7days"))
        past = shown(await ar(slack, "pause BETA until 2026-03-01"))
        refused = shown(await ar(slack, "pause sequence:past-due-standard audit"))
        by_manager = shown(await ar(slack, "pause sequence:past-due-standard", user=MANAGER))
        resumed = shown(await ar(slack, "resume BETA"))
        nothing = shown(await ar(slack, "resume BETA"))
        async with engine.connect() as conn:
            rows = (await conn.execute(select(p).order_by(p.c.id))).all()
    assert "Paused *Customer BETA (BETA)* until 2026-03-09 10:00 (customer on holiday)" in week
    assert "Paused invoice *INV-3* of Customer ACME1 (ACME1) until 2026-03-20 00:00" in dated
    assert "bad duration '7days'" in bad and USAGE["pause"] in bad
    assert "a pause must end in the future" in past
    assert "for managers" in refused
    assert "Paused sequence *past-due-standard* until further notice" in by_manager
    assert "Resumed *Customer BETA (BETA)*" in resumed and "was not paused" in nothing
    assert [(r.scope, r.created_by) for r in rows] == [
        ("customer", COLLECTOR), ("invoice", COLLECTOR), ("sequence", MANAGER),
    ]  # fmt: skip
    assert rows[0].customer_id == ids["BETA"] and rows[0].lifted_by == COLLECTOR
    assert rows[0].until == NOW + timedelta(days=7)


async def test_dispute_and_resolve(engine, fake_slack):
    await build_ledger(engine)
    d = Dispute.__table__
    async with SlackHarness(engine, fake_slack, now=NOW) as slack:
        opened = shown(await ar(slack, "dispute INV-1 goods arrived damaged"))
        twice = shown(await ar(slack, "dispute INV-1 again"))
        unknown = shown(await ar(slack, "dispute INV-9 lost"))
        no_reason = shown(await ar(slack, "dispute INV-2"))
        resolved = shown(await ar(slack, "resolve INV-1 credit note issued"))
        none_open = shown(await ar(slack, "resolve INV-2 nothing"))
        no_words = shown(await ar(slack, "resolve INV-1"))
        async with engine.connect() as conn:
            row = (await conn.execute(select(d))).one()
    assert "Dispute opened on invoice *INV-1*" in opened
    assert "already has an open dispute" in twice
    assert "no invoice numbered 'INV-9'" in unknown and USAGE["dispute"] in unknown
    assert "missing the reason" in no_reason
    assert "Dispute on invoice *INV-1* resolved" in resolved
    assert "invoice INV-2 has no open dispute" in none_open and USAGE["resolve"] in none_open
    assert "missing the resolution" in no_words
    assert (row.reason, row.opened_by, row.status, row.resolved_by, row.resolution) == (
        "goods arrived damaged", COLLECTOR, "resolved", COLLECTOR, "credit note issued",
    )  # fmt: skip


async def test_promise_records_date_and_amount_and_refuses_bad_input(engine, fake_slack):
    await build_ledger(engine)
    p = Promise.__table__
    async with SlackHarness(engine, fake_slack, now=NOW) as slack:
        done = shown(await ar(slack, "promise INV-1 2026-03-10 600.00"))
        bad_date = shown(await ar(slack, "promise INV-1 10/03/2026"))
        no_day = shown(await ar(slack, "promise INV-1 2026-02-30"))
        past = shown(await ar(slack, "promise INV-1 2026-02-01"))
        bad_amount = shown(await ar(slack, "promise INV-1 2026-03-10 1,000"))
        async with engine.connect() as conn:
            rows = (await conn.execute(select(p))).all()
    assert "Promise recorded: invoice *INV-1* 600.00 USD by 2026-03-10" in done
    assert "bad date '10/03/2026': expected YYYY-MM-DD" in bad_date
    assert USAGE["promise"] in bad_date
    assert "no such day" in no_day and "in the past" in past
    assert "bad amount '1,000'" in bad_amount
    assert [(r.promised_date, r.amount, r.source, r.created_by) for r in rows] == [
        (date(2026, 3, 10), Decimal("600.00"), "slack", COLLECTOR)
    ]


async def test_tasks_lists_open_tasks_of_everyone_or_one_user(engine, fake_slack):
    ids = await build_ledger(engine)
    async with engine.begin() as conn:
        await add_task(conn, kind="call", customer_id=ids["BETA"], title="Call BETA",
                       now=NOW, key="t1")  # fmt: skip
        await add_task(conn, kind="call", customer_id=None, title="Check the bank feed",
                       now=NOW, key="t2")  # fmt: skip
    async with SlackHarness(engine, fake_slack, now=NOW) as slack:
        everyone = shown(await ar(slack, "tasks"))
        owner = shown(await ar(slack, "tasks <@U0OWNER1|owner>"))
        nobody = shown(await ar(slack, f"tasks <@{MANAGER}>"))
        plain_name = shown(await ar(slack, "tasks @bob"))
    assert "*Open tasks* (2)" in everyone and "Check the bank feed" in everyone
    assert "Call BETA" in owner and "Check the bank feed" not in owner
    assert f"No open task of <@{MANAGER}>" in nobody
    assert "'@bob' is not a user" in plain_name and USAGE["tasks"] in plain_name


async def test_kpi_preview_and_link(engine, fake_slack):
    ids = await build_ledger(engine)
    t = TelegramLinkToken.__table__
    async with SlackHarness(engine, fake_slack, now=NOW) as slack:
        kpi = await ar(slack, "kpi")
        extra = shown(await ar(slack, "kpi now"))
        preview = shown(await ar(slack, "preview past-due-standard BETA"))
        no_sequence = shown(await ar(slack, "preview nosuch BETA"))
        link = shown(await ar(slack, "link BETA"))
        no_customer = shown(await ar(slack, "link"))
        async with engine.connect() as conn:
            tokens = (await conn.execute(select(t))).all()
    assert kpi["blocks"] and "USD" in shown(kpi)
    assert "unexpected 'now'" in extra and USAGE["kpi"] in extra
    assert "Preview of past-due-standard" in preview and "Invoice INV-1" in preview
    assert "no sequence named 'nosuch'" in no_sequence and USAGE["preview"] in no_sequence
    assert "`/start " in link and "works once until 2026-03-09 10:00" in link
    assert "missing CUSTOMER" in no_customer
    assert [(r.customer_id, r.created_by) for r in tokens] == [(ids["BETA"], COLLECTOR)]


async def test_an_internal_failure_is_a_polite_message_without_the_exception(engine, fake_slack):
    await build_ledger(engine)
    async with SlackHarness(engine, fake_slack, now=NOW) as slack:
        slack.settings.timezone = "Not/AZone"  # the handler's ZoneInfo raises
        text = shown(await ar(slack, "status BETA"))
    assert "failed on our side and was logged; nothing was changed" in text
    assert "ZoneInfo" not in text and "Traceback" not in text and "Not/AZone" not in text
