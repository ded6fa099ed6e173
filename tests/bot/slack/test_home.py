"""App Home: published on app_home_opened with the viewer's tasks and accounts; Pause from it."""

from __future__ import annotations

import json
from datetime import date

from sqlalchemy import select, update

from bot.slack.ids import Action
from sequences.disputes import open_dispute
from sequences.ledger import add_task
from storage.models import Customer, Pause
from tests.bot.slack.harness import COLLECTOR, MANAGER, SlackHarness
from tests.sequences.engine_helpers import add_customer, add_invoice, utc

NOW = utc(2026, 3, 2, 10)


async def _ledger(engine) -> dict[str, int]:
    ids = {}
    for external_id, owner, amount in (("BIG", COLLECTOR, "900.00"), ("SMALL", COLLECTOR, "50.00"),
                                       ("ELSE", MANAGER, "5000.00")):  # fmt: skip
        customer = await add_customer(engine, external_id)
        async with engine.begin() as conn:
            await conn.execute(update(Customer.__table__).where(Customer.id == customer)
                               .values(owner_slack_id=owner))  # fmt: skip
        ids[external_id] = customer
        ids[f"INV-{external_id}"] = await add_invoice(
            engine, customer, f"INV-{external_id}", issued=date(2026, 1, 1),
            due=date(2026, 2, 1), amount=amount,
        )  # fmt: skip
    async with engine.begin() as conn:
        await add_task(conn, kind="sequence_task", customer_id=ids["BIG"], title="Call BIG",
                       now=NOW, key="t1")  # fmt: skip
        await add_task(conn, kind="sequence_task", customer_id=ids["ELSE"], title="Call ELSE",
                       now=NOW, key="t2")  # fmt: skip
        await open_dispute(conn, invoice_id=ids["INV-SMALL"], reason="wrong <price>",
                           actor="telegram", now=NOW)  # fmt: skip
    return ids


async def test_the_home_tab_shows_the_viewers_tasks_and_accounts(engine, fake_slack):
    await _ledger(engine)
    async with SlackHarness(engine, fake_slack, now=NOW) as slack:
        reply = await slack.event({"type": "app_home_opened", "user": COLLECTOR, "tab": "home"})
    assert reply.status == 200
    view = fake_slack.views[f"home:{COLLECTOR}"]
    shown = json.dumps(view["blocks"])
    assert "Your open tasks (1)" in shown and "Call BIG" in shown and "Call ELSE" not in shown
    assert shown.index("Customer BIG") < shown.index("Customer SMALL")  # largest overdue first
    assert "$900.00" in shown and "Customer ELSE" not in shown
    assert "disputes INV-SMALL (not acknowledged): wrong &lt;price&gt;" in shown
    actions = {e["action_id"] for b in view["blocks"] if b["type"] == "actions"
               for e in b["elements"]}  # fmt: skip
    assert {Action.TASK_DONE, Action.TASK_SNOOZE_1D, Action.HOME_STATUS, Action.HOME_PAUSE} <= (
        actions
    )


async def test_pause_from_home_holds_the_account_and_publishes_again(engine, fake_slack):
    ids = await _ledger(engine)
    value = json.dumps({"customer_id": ids["BIG"]})
    async with SlackHarness(engine, fake_slack, now=NOW) as slack:
        payload = slack.button(Action.HOME_PAUSE, value)
        payload["container"] = {"type": "view", "view_id": "V0HOME"}
        await slack.interact(payload)
        status = slack.button(Action.HOME_STATUS, value)
        await slack.interact(status)
    async with engine.connect() as conn:
        pauses = (await conn.execute(select(Pause.__table__))).all()
    assert [(p.customer_id, p.created_by) for p in pauses] == [(ids["BIG"], COLLECTOR)]
    assert f"home:{COLLECTOR}" in fake_slack.views
    dms = [m.text for m in fake_slack.messages if m.channel == COLLECTOR]
    assert dms[0].startswith("Paused") and "INV-BIG: $900.00 due 2026-02-01" in dms[1]


async def test_an_event_delivered_again_by_slack_is_handled_once(engine, fake_slack):
    await _ledger(engine)
    opened = {"type": "app_home_opened", "user": COLLECTOR, "tab": "home"}
    async with SlackHarness(engine, fake_slack, now=NOW) as slack:
        first = await slack.event(opened, event_id="Ev0AAA")
        retry = await slack.event(opened, event_id="Ev0AAA")  # Slack's retry of the same event
        other = await slack.event(opened, event_id="Ev0BBB")
    assert first.status == retry.status == other.status == 200
    assert len(fake_slack.calls_to("views.publish")) == 2
