"""A fake Telegram Bot API (aiohttp on 127.0.0.1, a free port) for the real aiogram Bot.

Point the Bot at it with `TelegramAPIServer.from_base(fake.base_url)`. It answers getMe,
sendMessage, editMessageText, editMessageReplyMarkup, answerCallbackQuery, getUpdates
(long polling: the test feeds it with `push_update`), setWebhook and deleteWebhook, and
records every call with its arguments (JSON-valued ones decoded). Faults are queued per
method, optionally for one chat: `fake.fail("sendMessage", 429, retry_after=5)`,
`fake.fail("sendMessage", 403)`, `fake.fail("sendMessage", 400, "Bad Request: chat not
found", chat_id=7)`.

    async with FakeTelegramApi() as fake:
        fake.push_update(message_update(chat_id=7, text="/invoices"))

`python -m bot.fakes.telegram_api` serves it alone and prints its port (the benchmark's
child process).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

BOT_USER = {"id": 4242, "is_bot": True, "first_name": "ARSeq", "username": "arseq_test_bot"}
JSON_ARGS = ("reply_markup", "allowed_updates", "entities", "link_preview_options")
DESCRIPTIONS = {
    429: "Too Many Requests: retry after {retry_after}",
    403: "Forbidden: bot was blocked by the user",
    400: "Bad Request: chat not found",
}
_ids = itertools.count(1)


@dataclass
class Call:
    """One request the fake received."""

    method: str
    args: dict[str, Any]


@dataclass
class Fault:
    """An error answer waiting for the next matching call."""

    method: str
    status: int
    description: str
    retry_after: int | None = None
    chat_id: int | None = None


@dataclass
class SentMessage:
    """A message the bot sent (or edited)."""

    chat_id: int
    message_id: int
    text: str
    reply_markup: dict[str, Any] | None = None


def _user(chat_id: int, username: str | None) -> dict[str, Any]:
    user: dict[str, Any] = {"id": chat_id, "is_bot": False, "first_name": "Customer"}
    if username:
        user["username"] = username
    return user


def message_update(chat_id: int, text: str | None, *, username: str | None = "ana") -> dict:
    """An update with a customer's message (a command gets its bot_command entity);
    `text=None` is a message without text (a sticker)."""
    message: dict[str, Any] = {
        "message_id": next(_ids), "date": int(time.time()),
        "chat": {"id": chat_id, "type": "private"}, "from": _user(chat_id, username),
    }  # fmt: skip
    if text is None:
        message["sticker"] = {
            "file_id": "f1", "file_unique_id": "u1", "type": "regular", "width": 1,
            "height": 1, "is_animated": False, "is_video": False,
        }  # fmt: skip
    else:
        message["text"] = text
        if text.startswith("/"):
            length = len(text.split()[0])
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": length}]
    return {"message": message}


def callback_update(chat_id: int, data: str, *, message_id: int = 1) -> dict:
    """An update with a button press on the bot's message `message_id` in `chat_id`."""
    return {
        "callback_query": {
            "id": f"cq{next(_ids)}", "from": _user(chat_id, "ana"), "chat_instance": "ci1",
            "data": data,
            "message": {
                "message_id": message_id, "date": int(time.time()),
                "chat": {"id": chat_id, "type": "private"}, "from": BOT_USER, "text": "...",
            },
        }
    }  # fmt: skip


@dataclass
class FakeTelegramApi:
    """The fake server; use as `async with FakeTelegramApi() as fake`."""

    calls: list[Call] = field(default_factory=list)
    sent: list[SentMessage] = field(default_factory=list)
    webhook: dict[str, Any] | None = None
    record: bool = True  # the benchmark turns the call log off
    _faults: list[Fault] = field(default_factory=list)
    _updates: list[dict[str, Any]] = field(default_factory=list)
    _update_ids: itertools.count = field(default_factory=lambda: itertools.count(1))
    _message_ids: itertools.count = field(default_factory=lambda: itertools.count(1000))
    _arrived: asyncio.Event = field(default_factory=asyncio.Event)
    _new_message: asyncio.Event = field(default_factory=asyncio.Event)
    _runner: web.AppRunner | None = None
    port: int = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def __aenter__(self) -> FakeTelegramApi:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self, port: int = 0) -> None:
        app = web.Application()
        app.router.add_post("/bot{token}/{method}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        self._arrived.set()  # ends a long poll in flight, so shutdown need not wait for it
        if self._runner is not None:
            await self._runner.cleanup()

    def fail(
        self, method: str, status: int, description: str | None = None, *,
        retry_after: int | None = None, chat_id: int | None = None,
    ) -> None:  # fmt: skip
        """Answer the next `method` call (to `chat_id`, if given) with an error."""
        text = description or DESCRIPTIONS[status].format(retry_after=retry_after)
        self._faults.append(Fault(method, status, text, retry_after, chat_id))

    def push_update(self, update: dict[str, Any]) -> int:
        """Queue an update for getUpdates; returns its update_id."""
        update_id = next(self._update_ids)
        self._updates.append({"update_id": update_id, **update})
        self._arrived.set()
        return update_id

    def calls_to(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    def messages_to(self, chat_id: int) -> list[SentMessage]:
        return [m for m in self.sent if m.chat_id == chat_id]

    async def next_message_to(self, chat_id: int) -> SentMessage:
        """The first message to `chat_id`, once the bot has sent one."""
        while not self.messages_to(chat_id):
            self._new_message.clear()
            await self._new_message.wait()
        return self.messages_to(chat_id)[0]

    async def _handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        args: dict[str, Any] = dict(await request.post())
        for name in JSON_ARGS:
            if isinstance(args.get(name), str):
                args[name] = json.loads(args[name])
        if self.record:
            self.calls.append(Call(method, args))
        chat = int(args["chat_id"]) if "chat_id" in args else None
        for fault in self._faults:
            if fault.method == method and fault.chat_id in (None, chat):
                self._faults.remove(fault)
                return _error(fault)
        answer = getattr(self, "_" + method, None)
        if answer is None:
            return web.json_response(
                {"ok": False, "error_code": 404, "description": "Not Found: method not found"},
                status=404,
            )
        return web.json_response({"ok": True, "result": await answer(args)})

    async def _getMe(self, args: dict[str, Any]) -> Any:
        return BOT_USER

    async def _sendMessage(self, args: dict[str, Any]) -> Any:
        message = SentMessage(
            int(args["chat_id"]), next(self._message_ids), args["text"], args.get("reply_markup")
        )
        if self.record:
            self.sent.append(message)
            self._new_message.set()
        return _message(message)

    async def _editMessageText(self, args: dict[str, Any]) -> Any:
        message = SentMessage(int(args["chat_id"]), int(args["message_id"]), args["text"],
                              args.get("reply_markup"))  # fmt: skip
        self.sent.append(message)
        return _message(message)

    async def _editMessageReplyMarkup(self, args: dict[str, Any]) -> Any:
        message = SentMessage(int(args["chat_id"]), int(args["message_id"]), "",
                              args.get("reply_markup"))  # fmt: skip
        return _message(message)

    async def _answerCallbackQuery(self, args: dict[str, Any]) -> Any:
        return True

    async def _setWebhook(self, args: dict[str, Any]) -> Any:
        self.webhook = args
        return True

    async def _deleteWebhook(self, args: dict[str, Any]) -> Any:
        self.webhook = None
        return True

    async def _getUpdates(self, args: dict[str, Any]) -> Any:
        offset = int(args.get("offset", 0))
        # Confirmed updates are gone for good, as on Telegram.
        self._updates = [u for u in self._updates if u["update_id"] >= offset]
        if not self._updates:
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), float(args.get("timeout", 0)))
            except TimeoutError:
                return []
        return self._updates[:100]


def _message(message: SentMessage) -> dict[str, Any]:
    body: dict[str, Any] = {
        "message_id": message.message_id, "date": int(time.time()),
        "chat": {"id": message.chat_id, "type": "private"}, "from": BOT_USER,
        "text": message.text,
    }  # fmt: skip
    if message.reply_markup:
        body["reply_markup"] = message.reply_markup
    return body


def _error(fault: Fault) -> web.Response:
    body: dict[str, Any] = {"ok": False, "error_code": fault.status,
                            "description": fault.description}  # fmt: skip
    if fault.retry_after is not None:
        body["parameters"] = {"retry_after": fault.retry_after}
    return web.json_response(body, status=fault.status)


async def _serve_alone() -> None:
    fake = FakeTelegramApi(record=False)
    await fake.start()
    print(fake.port, flush=True)
    await asyncio.Event().wait()  # until the parent ends the process


if __name__ == "__main__":
    sys.exit(asyncio.run(_serve_alone()))
