"""The engagement links through the service's real aiohttp app on loopback (both databases)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date, timedelta

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.channels import Adapters, build_adapters
from bot.clock import Clock, engine_config
from bot.links import PIXEL, add_links
from bot.settings import load_settings
from bot.web import build_app
from sequences.channels import ConsoleChannel
from sequences.dispatch import dispatch_once
from sequences.engagement_links import MessageLinks, create_message_links
from sequences.engine import tick
from storage.models import Contact, Customer, Event
from tests.sequences.engine_helpers import add_customer, add_invoice, outbox, utc

NOW = utc(2026, 2, 10, 10)  # a Tuesday, inside the send window
SHOP = "https://pay.example.test/invoice/INV-1"


@dataclass
class Sent:
    """A planned (not yet sent) reminder and the links of its email."""

    customer: int
    contact: int
    outbox: int
    links: MessageLinks

    def token(self, url: str) -> str:
        return url.rsplit("/", 1)[1]


async def _message(engine: AsyncEngine, click_urls: list[str] | None = None) -> Sent:
    customer = await add_customer(engine)
    await add_invoice(engine, customer, "INV-1", issued=date(2026, 1, 1), due=date(2026, 2, 3))
    await tick(engine, now=NOW)
    [row] = await outbox(engine)
    async with engine.begin() as conn:
        links = await create_message_links(
            conn, public_url="https://ar.example.test", outbox_id=row.id,
            contact_id=row.contact_id, click_urls=click_urls or [SHOP], now=NOW,
        )  # fmt: skip
    return Sent(customer, row.contact_id, row.id, links)


@pytest.fixture
async def client(engine: AsyncEngine) -> AsyncIterator[TestClient]:
    settings = load_settings()
    clock = Clock(engine, {}, engine_config(settings), timedelta(minutes=1), "test-worker")
    app = build_app(engine, clock)
    adapters = Adapters()
    add_links(adapters, settings, engine)
    for add in adapters.routes:
        add(app)
    async with TestClient(TestServer(app, host="127.0.0.1")) as test_client:
        yield test_client


async def _events(engine: AsyncEngine, kind: str | None = None) -> list:
    ev = Event.__table__
    query = select(ev).order_by(ev.c.id)
    if kind is not None:
        query = query.where(ev.c.kind == kind)
    async with engine.connect() as conn:
        return list((await conn.execute(query)).all())


async def _event_count(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int(await conn.scalar(select(func.count()).select_from(Event.__table__)))


def test_the_service_serves_the_links_whatever_is_configured(caplog, monkeypatch) -> None:
    monkeypatch.delenv("ARSEQ_PUBLIC_URL", raising=False)
    settings = load_settings()
    app = build_app(None, None)  # type: ignore[arg-type]
    for add in build_adapters(settings, None).routes:  # type: ignore[arg-type]
        add(app)
    paths = {(r.method, r.resource.canonical) for r in app.router.routes() if r.resource}
    assert {("GET", "/o/{token}"), ("GET", "/r/{token}"), ("GET", "/u/{token}"),
            ("POST", "/u/{token}")} <= paths  # fmt: skip
    assert "ARSEQ_PUBLIC_URL is http://localhost:8080" in caplog.text


async def test_the_pixel_records_each_open(engine, client):
    sent = await _message(engine)
    path = f"/o/{sent.token(sent.links.open)}"
    for _ in range(2):
        response = await client.get(path)
        assert response.status == 200 and response.content_type == "image/gif"
        assert await response.read() == PIXEL
        assert "no-store" in response.headers["Cache-Control"]
    opens = await _events(engine, "email_opened")
    assert len(opens) == 2
    assert {(e.customer_id, e.outbox_id) for e in opens} == {(sent.customer, sent.outbox)}
    assert opens[0].data == {"contact_id": sent.contact, "channel": "email"}
    assert opens[0].actor == f"contact:{sent.contact}"


@pytest.mark.parametrize("token", ["not-a-token-but-long-enough", "x", "a" * 500, "%00%27"])
async def test_an_unknown_open_token_gets_the_pixel_and_records_nothing(engine, client, token):
    await _message(engine)
    before = await _event_count(engine)
    response = await client.get(f"/o/{token}")
    assert response.status == 200 and await response.read() == PIXEL
    assert await _event_count(engine) == before


async def test_a_token_of_another_kind_is_unknown(engine, client):
    sent = await _message(engine)
    before = await _event_count(engine)
    click_token = sent.token(sent.links.clicks[SHOP])
    assert await (await client.get(f"/o/{click_token}")).read() == PIXEL
    wrong = await client.get(f"/r/{sent.token(sent.links.open)}", allow_redirects=False)
    assert wrong.status == 404
    assert (await client.get(f"/u/{click_token}")).status == 404
    assert (await client.post(f"/u/{sent.token(sent.links.open)}")).status == 404
    assert await _event_count(engine) == before


async def test_a_click_redirects_to_the_stored_url_and_is_recorded(engine, client):
    sent = await _message(engine)
    response = await client.get(f"/r/{sent.token(sent.links.clicks[SHOP])}", allow_redirects=False)
    assert response.status == 302 and response.headers["Location"] == SHOP
    assert response.headers["Referrer-Policy"] == "no-referrer"
    [clicked] = await _events(engine, "link_clicked")
    assert clicked.outbox_id == sent.outbox and clicked.customer_id == sent.customer
    assert clicked.data == {"contact_id": sent.contact, "channel": "email", "url": SHOP}


async def test_nothing_in_the_request_can_redirect_elsewhere(engine, client):
    sent = await _message(engine)
    token = sent.token(sent.links.clicks[SHOP])
    crafted = await client.get(
        f"/r/{token}?url=https://evil.test&next=//evil.test&redirect=https://evil.test",
        allow_redirects=False,
    )
    assert crafted.status == 302 and crafted.headers["Location"] == SHOP
    for path in ("/r/https%3A%2F%2Fevil.test", f"/r/{token}evil.test", "/r/%2F%2Fevil.test"):
        response = await client.get(path, allow_redirects=False)
        assert response.status == 404 and "Location" not in response.headers
    assert len(await _events(engine, "link_clicked")) == 1


async def test_an_unknown_click_token_is_a_plain_404(engine, client):
    await _message(engine)
    before = await _event_count(engine)
    response = await client.get("/r/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", allow_redirects=False)
    assert response.status == 404 and response.content_type == "text/html"
    assert "not valid" in await response.text()
    assert await _event_count(engine) == before


async def test_a_stored_url_that_is_not_http_is_never_followed(engine, client):
    sent = await _message(engine, click_urls=["javascript:alert(1)"])
    token = sent.token(sent.links.clicks["javascript:alert(1)"])
    response = await client.get(f"/r/{token}", allow_redirects=False)
    assert response.status == 404 and "Location" not in response.headers


async def _contact(engine: AsyncEngine, contact_id: int):
    async with engine.connect() as conn:
        c = Contact.__table__
        return (await conn.execute(select(c).where(c.c.id == contact_id))).one()


async def test_the_unsubscribe_page_asks_and_changes_nothing(engine, client):
    sent = await _message(engine)
    async with engine.begin() as conn:
        await conn.execute(
            update(Customer.__table__).values(name='<script>alert("x")</script> & Co')
        )
    before = await _event_count(engine)
    response = await client.get(f"/u/{sent.token(sent.links.unsubscribe)}")
    page = await response.text()
    assert response.status == 200 and '<form method="post">' in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; Co" in page
    assert "<script>" not in page
    assert (await _contact(engine, sent.contact)).opted_out_at is None
    assert await _event_count(engine) == before


async def test_one_click_unsubscribes_once_and_dispatch_skips_the_contact(engine, client):
    sent = await _message(engine)
    path = f"/u/{sent.token(sent.links.unsubscribe)}"
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    response = await client.post(path, data="List-Unsubscribe=One-Click", headers=form)
    assert response.status == 200 and "You are unsubscribed" in await response.text()
    contact = await _contact(engine, sent.contact)
    assert contact.opted_out_at is not None
    [unsubscribed] = await _events(engine, "unsubscribed")
    assert unsubscribed.outbox_id == sent.outbox and unsubscribed.customer_id == sent.customer
    assert len(await _events(engine, "opted_out")) == 1
    channel = ConsoleChannel("email")
    report = await dispatch_once(engine, {"email": channel}, now=NOW, worker="test")
    assert report.skipped == {"opted_out": 1} and channel.sent == []
    before = await _event_count(engine)
    again = await client.post(path, data="List-Unsubscribe=One-Click")
    assert again.status == 200 and "already unsubscribed" in await again.text()
    assert await _event_count(engine) == before
    assert (await _contact(engine, sent.contact)).opted_out_at == contact.opted_out_at
    page = await client.get(path)
    assert "already unsubscribed" in await page.text()


async def test_the_page_button_unsubscribes(engine, client):
    sent = await _message(engine)
    path = f"/u/{sent.token(sent.links.unsubscribe)}"
    page = await (await client.get(path)).text()
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]+)">', page))
    response = await client.post(path, data=fields)  # what the browser sends
    assert response.status == 200
    assert (await _contact(engine, sent.contact)).opted_out_at is not None


async def test_an_unknown_unsubscribe_token_is_404_and_writes_nothing(engine, client):
    await _message(engine)
    before = await _event_count(engine)
    for response in (
        await client.get("/u/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
        await client.post("/u/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", data="List-Unsubscribe=One-Click"),
    ):
        assert response.status == 404 and "not valid" in await response.text()
    assert await _event_count(engine) == before


async def test_tokens_are_unguessable(engine):
    urls: list[str] = []
    async with engine.begin() as conn:
        for n in range(300):
            links = await create_message_links(
                conn, public_url="https://ar.example.test/", outbox_id=None, contact_id=None,
                click_urls=[f"https://example.test/{n}"], now=NOW,
            )  # fmt: skip
            urls += [links.open, links.unsubscribe, *links.clicks.values()]
    tokens = [url.rsplit("/", 1)[1] for url in urls]
    assert len(set(tokens)) == len(tokens) == 900
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{32}", t) for t in tokens)  # 192 random bits
    # No shared prefix or counter: every position takes many values.
    assert all(len({t[i] for t in tokens}) > 40 for i in range(32))
