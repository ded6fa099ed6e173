"""Link tokens: work once, for 7 days, stored only as a hash; a bad one changes nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from sequences.ledger import LedgerError
from sequences.telegram_links import (
    TELEGRAM_LINKED,
    Linked,
    LinkRefusal,
    chat_customers,
    issue_link_token,
    redeem_link_token,
    token_hash,
)
from storage.models import Contact, Event, TelegramLinkToken
from tests.sequences.engine_helpers import add_customer, utc
from tests.sequences.telegram_ledger import row_counts

NOW = utc(2026, 2, 10, 10)


async def _token(engine, customer: int) -> str:
    async with engine.begin() as conn:
        return await issue_link_token(conn, customer_id=customer, actor="U0OWNER1", now=NOW)


async def _redeem(engine, token: str, chat_id: int = 555, *, at=NOW):
    async with engine.begin() as conn:
        return await redeem_link_token(conn, token=token, chat_id=chat_id, username="ana", now=at)


async def _telegram_contacts(engine) -> list:
    async with engine.connect() as conn:
        c = Contact.__table__
        return list((await conn.execute(select(c).where(c.c.channel == "telegram"))).all())


async def test_a_token_links_the_chat_once_and_only_its_hash_is_stored(engine):
    customer = await add_customer(engine)
    token = await _token(engine, customer)
    async with engine.connect() as conn:
        [stored] = (await conn.execute(select(TelegramLinkToken.__table__))).all()
    assert stored.token_hash == token_hash(token) and token not in stored.token_hash
    assert stored.expires_at == NOW + timedelta(days=7)
    linked = await _redeem(engine, token)
    assert isinstance(linked, Linked) and linked.customer_id == customer
    assert linked.customer_name == "Customer C1"
    [contact] = await _telegram_contacts(engine)
    assert (contact.customer_id, contact.address, contact.name) == (customer, "555", "ana")
    async with engine.connect() as conn:
        assert await chat_customers(conn, 555) == [customer]
        [event] = (
            await conn.execute(select(Event.__table__).where(Event.kind == TELEGRAM_LINKED))
        ).all()
    assert event.actor == "telegram:555" and event.data["chat_id"] == 555


async def test_a_used_token_is_refused_and_links_no_second_chat(engine):
    token = await _token(engine, await add_customer(engine))
    assert isinstance(await _redeem(engine, token, 555), Linked)
    before = await row_counts(engine)
    assert await _redeem(engine, token, 666) == LinkRefusal.USED
    assert await row_counts(engine) == before
    assert [c.address for c in await _telegram_contacts(engine)] == ["555"]


async def test_an_expired_token_is_refused(engine):
    token = await _token(engine, await add_customer(engine))
    before = await row_counts(engine)
    late = NOW + timedelta(days=7)
    assert await _redeem(engine, token, at=late) == LinkRefusal.EXPIRED
    assert await row_counts(engine) == before
    assert isinstance(await _redeem(engine, token, at=late - timedelta(seconds=1)), Linked)


async def test_a_wrong_token_changes_nothing(engine):
    await _token(engine, await add_customer(engine))
    before = await row_counts(engine)
    assert await _redeem(engine, "not-a-token-we-gave") == LinkRefusal.UNKNOWN
    assert await row_counts(engine) == before


async def test_linking_the_same_chat_again_revives_an_opted_out_or_blocked_contact(engine):
    customer = await add_customer(engine)
    await _redeem(engine, await _token(engine, customer))
    async with engine.begin() as conn:
        await conn.execute(
            update(Contact.__table__)
            .where(Contact.channel == "telegram")
            .values(opted_out_at=NOW, unreachable_at=NOW, unreachable_reason="Telegram 403")
        )
    await _redeem(engine, await _token(engine, customer))
    [contact] = await _telegram_contacts(engine)
    assert (contact.opted_out_at, contact.unreachable_at, contact.unreachable_reason) == (
        None, None, None,
    )  # fmt: skip


async def test_a_token_for_an_unknown_customer_is_refused(engine):
    before = await row_counts(engine)
    async with engine.begin() as conn:
        with pytest.raises(LedgerError, match="no customer with id 999999"):
            await issue_link_token(conn, customer_id=999999, actor="U0OWNER1", now=NOW)
    assert await row_counts(engine) == before
