"""`/ar checklist`: a customer's onboarding checklist, ticked item by item until it ends."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from sequences.engine import tick
from storage.models import Enrollment, Event
from tests.bot.slack.command_ledger import NOW, ar, build_ledger, shown
from tests.bot.slack.harness import SlackHarness


async def test_checklist_is_shown_ticked_once_and_ends_the_onboarding(engine, fake_slack):
    ids = await build_ledger(engine)
    async with SlackHarness(engine, fake_slack, now=NOW) as slack:
        assert "Started" in shown(await ar(slack, "enroll BETA onboarding-standard"))
        before = shown(await ar(slack, "checklist BETA"))
        ticked = shown(await ar(slack, "checklist BETA tax"))
        again = shown(await ar(slack, "checklist BETA Tax form received"))
        unknown = shown(await ar(slack, "checklist BETA invoice address"))
        vague = shown(await ar(slack, "checklist BETA e"))
        await ar(slack, "checklist BETA billing")
        done = shown(await ar(slack, "checklist BETA payment method"))
    assert "onboarding-standard" in before and ":white_large_square: Tax form received" in before
    assert "Ticked *Tax form received*" in ticked
    assert ":white_check_mark: Tax form received" in ticked
    assert "was already ticked" in again
    assert "no checklist item matches 'invoice address'" in unknown
    assert "/ar checklist CUSTOMER [item]" in unknown  # the usage line
    assert "matches 3 items" in vague
    assert "All done: the onboarding ends at the next pass." in done
    async with engine.connect() as conn:
        ticks = select(Event.__table__).where(
            Event.kind == "checklist_item_done", Event.customer_id == ids["BETA"]
        )
        events = (await conn.execute(ticks)).all()
    assert len(events) == 3 and {e.actor for e in events} == {"U0COLLECT"}

    # The last tick made the enrollment due: the next pass ends it instead of a reminder.
    await tick(engine, now=NOW + timedelta(minutes=1))
    async with engine.connect() as conn:
        onboarding = select(Enrollment.__table__).where(
            Enrollment.customer_id == ids["BETA"], Enrollment.invoice_id.is_(None)
        )
        row = (await conn.execute(onboarding)).one()
    assert (row.state, row.exit_reason) == ("exited", "checklist_done")


async def test_a_customer_without_onboarding_says_so(engine, fake_slack):
    await build_ledger(engine)  # nobody was enrolled in the onboarding
    async with SlackHarness(engine, fake_slack, now=NOW) as slack:
        shown_ = shown(await ar(slack, "checklist BETA"))
        refused = shown(await ar(slack, "checklist BETA tax"))
    assert "runs no onboarding checklist" in shown_
    assert "runs no onboarding checklist" in refused
