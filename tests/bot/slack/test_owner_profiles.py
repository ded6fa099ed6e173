"""Customers' owners read from Slack (users.info) into `users`: they sign the reminders."""

from __future__ import annotations

from datetime import timedelta

from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import select, update

from bot.slack.owner_profiles import OwnerProfiles
from storage.models import Customer, User
from storage.owner_queries import customer_owners
from tests.sequences.engine_helpers import add_customer, utc

NOW = utc(2026, 3, 2, 10)


async def _users(engine) -> dict[str, tuple]:
    async with engine.connect() as conn:
        rows = await conn.execute(select(User.slack_user_id, User.name, User.email))
        return {r.slack_user_id: (r.name, r.email) for r in rows}


async def test_owners_are_read_once_then_refreshed_daily(engine, fake_slack):
    known = await add_customer(engine, "C1")  # owned by U0OWNER1
    gone = await add_customer(engine, "C2")
    async with engine.begin() as conn:
        await conn.execute(update(Customer.__table__).where(Customer.id == gone)
                           .values(owner_slack_id="U0GONE01"))  # fmt: skip
    fake_slack.add_user("U0OWNER1", real_name="Olive Owner",
                        profile={"email": "olive@ar.example.test"})  # fmt: skip
    step = OwnerProfiles(AsyncWebClient(token="xoxb-test", base_url=fake_slack.base_url)).step

    assert await step(engine, NOW, "w1") == "owners read from Slack: 2"
    assert await _users(engine) == {"U0OWNER1": ("Olive Owner", "olive@ar.example.test"),
                                    "U0GONE01": (None, None)}  # fmt: skip
    async with engine.connect() as conn:
        owners = await customer_owners(conn, [known, gone])
    assert owners == {known: {"name": "Olive Owner", "email": "olive@ar.example.test"}}

    calls = len(fake_slack.calls_to("users.info"))
    assert await step(engine, NOW + timedelta(minutes=30), "w1") is None  # looked an hour ago
    assert await step(engine, NOW + timedelta(hours=2), "w1") is None  # nobody is a day old
    assert len(fake_slack.calls_to("users.info")) == calls

    fake_slack.add_user("U0OWNER1", real_name="Olive Owner-Smith",
                        profile={"email": "olive@ar.example.test"})  # fmt: skip
    assert await step(engine, NOW + timedelta(days=1, hours=1), "w1") == "owners read from Slack: 2"
    assert (await _users(engine))["U0OWNER1"][0] == "Olive Owner-Smith"


async def test_a_slack_failure_reads_nobody_and_is_tried_again(engine, fake_slack):
    await add_customer(engine, "C1")
    fake_slack.fail("users.info", error="internal_error")
    step = OwnerProfiles(AsyncWebClient(token="xoxb-test", base_url=fake_slack.base_url)).step
    assert await step(engine, NOW, "w1") is None
    assert await _users(engine) == {}
