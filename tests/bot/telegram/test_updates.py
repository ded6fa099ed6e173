"""Updates arrive by webhook (secret token checked) or by long polling, wired by add_telegram."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bot.channels import Adapters, build_adapters
from bot.settings import load_settings
from bot.telegram.channel import TelegramChannel
from bot.telegram.webhook import SECRET_HEADER, WEBHOOK_PATH
from tests.bot.telegram.conftest import TOKEN
from tests.fakes.telegram_api import FakeTelegramApi, message_update
from tests.sequences.telegram_ledger import CHAT_A, two_customers

SECRET = "s3cret-Token_1"


def _adapters(monkeypatch, tmp_path, engine, fake: FakeTelegramApi, secret: str | None):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TOKEN)
    monkeypatch.setenv("TELEGRAM_API_URL", fake.base_url)
    monkeypatch.setenv("ARSEQ_PUBLIC_URL", "https://ar.example.test")
    for name in ("SMTP_HOST", "IMAP_URL", "SLACK_BOT_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    if secret:
        monkeypatch.setenv("TELEGRAM_WEBHOOK_SECRET", secret)
    else:
        monkeypatch.delenv("TELEGRAM_WEBHOOK_SECRET", raising=False)
    return build_adapters(load_settings(), engine)


async def _reply(fake: FakeTelegramApi, chat_id: int) -> str:
    async with asyncio.timeout(10):  # a guard against hanging, not a timed assertion
        return (await fake.next_message_to(chat_id)).text


@pytest.fixture
async def webhook(monkeypatch, tmp_path, engine, fake_telegram):
    adapters = _adapters(monkeypatch, tmp_path, engine, fake_telegram, SECRET)
    app = web.Application()
    for add in adapters.routes:
        add(app)
    client = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    try:
        yield adapters, client
    finally:
        await client.close()
        await adapters.aclose()


@pytest.mark.parametrize("headers", [{}, {SECRET_HEADER: "wrong"}, {SECRET_HEADER: ""}])
async def test_a_webhook_call_without_the_right_secret_is_refused(
    webhook, fake_telegram, engine, headers
):
    await two_customers(engine)
    _, client = webhook
    update = {"update_id": 1, **message_update(CHAT_A, "/invoices")}
    response = await client.post(WEBHOOK_PATH, json=update, headers=headers)
    assert response.status == 401
    assert fake_telegram.sent == []


async def test_a_webhook_call_with_the_secret_is_handled(webhook, fake_telegram, engine):
    await two_customers(engine)
    adapters, client = webhook
    assert isinstance(adapters.channels["telegram"], TelegramChannel)
    update = {"update_id": 1, **message_update(CHAT_A, "/invoices")}
    response = await client.post(WEBHOOK_PATH, json=update, headers={SECRET_HEADER: SECRET})
    assert response.status == 200
    [reply] = fake_telegram.messages_to(CHAT_A)
    assert "INV-A1" in reply.text
    bad = await client.post(WEBHOOK_PATH, data="{not json", headers={SECRET_HEADER: SECRET})
    assert bad.status == 400


async def test_webhook_mode_registers_the_webhook_with_its_secret(webhook, fake_telegram):
    adapters, _ = webhook
    stop = asyncio.Event()
    stop.set()  # the service registers, then returns at once
    [register] = adapters.services
    await register(stop)
    assert fake_telegram.webhook is not None
    assert fake_telegram.webhook["url"] == "https://ar.example.test/telegram/webhook"
    assert fake_telegram.webhook["secret_token"] == SECRET


async def test_polling_answers_pushed_updates_and_stops_when_told(
    monkeypatch, tmp_path, engine, fake_telegram
):
    await two_customers(engine)
    adapters: Adapters = _adapters(monkeypatch, tmp_path, engine, fake_telegram, None)
    app = web.Application()
    for add in adapters.routes:
        add(app)
    assert WEBHOOK_PATH not in {r.canonical for r in app.router.resources()}
    [poll] = adapters.services
    stop = asyncio.Event()
    task = asyncio.create_task(poll(stop))
    try:
        fake_telegram.push_update(message_update(CHAT_A, "/invoices"))
        assert "INV-A1" in await _reply(fake_telegram, CHAT_A)
        assert fake_telegram.calls_to("deleteWebhook")
    finally:
        stop.set()
        async with asyncio.timeout(10):
            await task
        await adapters.aclose()
    assert task.exception() is None
