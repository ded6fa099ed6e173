"""The `collector` of templates: the customer's owner, as the `users` table knows them."""

from __future__ import annotations

from datetime import date

from sqlalchemy import insert, update

from sequences.preview_report import load_preview, preview_lines
from storage.models import Customer, User
from storage.owner_queries import customer_owners
from tests.sequences.engine_helpers import Clock, add_customer, add_invoice, utc

OWNER = "U0OWNER1"  # every add_customer's owner


async def _user(engine, slack_id: str = OWNER, name: str | None = "Olive Owner",
                email: str | None = "olive@ar.example") -> None:  # fmt: skip
    async with engine.begin() as conn:
        await conn.execute(insert(User.__table__).values(
            slack_user_id=slack_id, name=name, email=email, role="collector",
            created_at=utc(2026, 1, 1), updated_at=utc(2026, 1, 1)))  # fmt: skip


async def _overdue(engine, key: str, owner: str = OWNER) -> int:
    customer = await add_customer(engine, key, email=f"{key.lower()}@example.test")
    async with engine.begin() as conn:
        await conn.execute(
            update(Customer.__table__).where(Customer.id == customer).values(owner_slack_id=owner)
        )
    await add_invoice(engine, customer, f"INV-{key}", issued=date(2026, 1, 5),
                      due=date(2026, 2, 4))  # fmt: skip
    return customer


async def test_a_message_is_signed_by_the_owner_when_they_are_a_known_user(engine) -> None:
    await _user(engine)
    await _user(engine, "U0NONAME1", name=None, email="team@ar.example")
    await _overdue(engine, "KNOWN")
    await _overdue(engine, "STRANGER", owner="U0NOBODY1")  # no users row
    await _overdue(engine, "NONAME", owner="U0NONAME1")  # a users row without a name
    clock = Clock(engine)

    await clock.at(utc(2026, 2, 5, 10))

    sent = {m.address.split("@")[0]: m for m in clock.sent}
    assert set(sent) == {"known", "stranger", "noname"}
    assert "Olive Owner\nAccounts Receivable" in sent["known"].body
    assert "Olive Owner<br>" in sent["known"].payload["html"]
    for other in ("stranger", "noname"):
        assert "Thank you,\nAccounts Receivable" in sent[other].body
        assert "None" not in sent[other].body and "None" not in sent[other].payload["html"]


async def test_owners_are_read_in_one_query_for_many_customers(engine) -> None:
    await _user(engine)
    known, stranger = await _overdue(engine, "KNOWN"), await _overdue(engine, "S", "U0NOBODY1")
    async with engine.connect() as conn:
        owners = await customer_owners(conn, {known, stranger, None})
    assert owners == {known: {"name": "Olive Owner", "email": "olive@ar.example"}}


async def test_the_preview_signs_as_the_engine_does(engine) -> None:
    await _user(engine)
    await _overdue(engine, "KNOWN")
    now = utc(2026, 2, 5, 10)
    async with engine.connect() as conn:
        found = await load_preview(conn, "past-due-standard", "KNOWN", now=now)
    text = "\n".join(preview_lines(found, now=now, pay_url=None))
    assert "Olive Owner" in text
