"""A fake Slack Web API (aiohttp on 127.0.0.1, a free port) for the real slack_sdk client.

Point `AsyncWebClient(token=..., base_url=fake.base_url)` at it. Every call is recorded
(method, arguments from the query string, form or JSON body, and the bearer token);
messages, uploaded files and views are kept so tests can read what Slack would show.
Faults are queued per method: `fake.fail("chat.postMessage", status=429, retry_after=0)`
answers the next call with HTTP 429 and Retry-After (slack_sdk's rate-limit handler
retries it), `fake.fail(method, error="channel_not_found")` with `ok: false`.

    async with FakeSlackApi() as slack:
        client = AsyncWebClient(token="xoxb-test", base_url=slack.base_url)
        await client.chat_postMessage(channel="C0DIGEST1", text="hi")
        assert slack.calls_to("chat.postMessage")[0].args["text"] == "hi"
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

JSON_ARGS = ("blocks", "attachments", "files", "view", "metadata")
Handler = Callable[[dict[str, Any]], dict[str, Any]]


@dataclass
class Call:
    """One request the fake received."""

    method: str
    args: dict[str, Any]
    token: str | None


@dataclass
class Fault:
    """How to answer one upcoming call of a method instead of the normal response."""

    status: int = 200
    error: str | None = None
    retry_after: int | None = None


@dataclass
class Message:
    """A message as it stands in a channel (updated in place by chat.update)."""

    channel: str
    ts: str
    text: str | None
    blocks: list[Any] | None
    thread_ts: str | None = None
    history: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class UploadedFile:
    """A file uploaded through files.getUploadURLExternal and its upload URL."""

    id: str
    filename: str
    length: int
    data: bytes | None = None
    title: str | None = None
    channel: str | None = None
    thread_ts: str | None = None
    initial_comment: str | None = None


class FakeSlackApi:
    """The Slack Web API methods ARSeq calls, with recorded calls and injectable faults."""

    def __init__(self, *, token: str | None = None) -> None:
        self.token = token  # when set, other tokens get `invalid_auth`
        self.calls: list[Call] = []
        self.messages: list[Message] = []
        self._by_ts: dict[tuple[Any, str], Message] = {}  # chat.update finds its message
        self.ephemeral: list[dict[str, Any]] = []
        self.files: dict[str, UploadedFile] = {}
        self.views: dict[str, dict[str, Any]] = {}
        self.users: dict[str, dict[str, Any]] = {}
        self.usergroups: dict[str, list[str]] = {}
        self.faults: dict[str, list[Fault]] = {}
        self._ts = itertools.count(1)
        self._ids = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self.port = 0
        self.handlers: dict[str, Handler] = {
            "auth.test": self._auth_test,
            "chat.postMessage": self._post_message,
            "chat.update": self._update,
            "chat.postEphemeral": self._post_ephemeral,
            "files.getUploadURLExternal": self._upload_url,
            "files.completeUploadExternal": self._complete_upload,
            "users.info": self._users_info,
            "usergroups.users.list": self._usergroup_users,
            "views.open": self._view,
            "views.update": self._view,
            "views.push": self._view,
            # A command's or an action's `response_url` (respond()): recorded, answered ok.
            "response": lambda args: {"ok": True},
            "views.publish": self._view,
        }

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """The base URL for slack_sdk (`.../api/`, with the trailing slash it needs)."""
        return f"http://127.0.0.1:{self.port}/api/"

    async def start(self) -> FakeSlackApi:
        app = web.Application(client_max_size=50 * 1024 * 1024)
        app.router.add_post("/api/{method}", self._api)
        app.router.add_get("/api/{method}", self._api)
        app.router.add_post("/upload/{file_id}", self._upload)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeSlackApi:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- what tests use ----------------------------------------------------------------------

    def fail(
        self,
        method: str,
        *,
        status: int = 429,
        retry_after: int | None = 0,
        error: str | None = None,
        times: int = 1,
    ) -> None:
        """Answer the next `times` calls of `method` with a fault.

        `error` set: HTTP 200 with `{"ok": false, "error": error}`; otherwise the HTTP
        `status` (429 by default, with `Retry-After: retry_after` seconds).
        """
        fault = Fault(status=200, error=error) if error else Fault(status, None, retry_after)
        self.faults.setdefault(method, []).extend([fault] * times)

    def calls_to(self, method: str) -> list[Call]:
        """The recorded calls of one method, in order."""
        return [c for c in self.calls if c.method == method]

    def add_user(self, user_id: str, **profile: Any) -> None:
        """Make `users.info` know a user (name, real_name, tz, is_admin ...)."""
        self.users[user_id] = {"id": user_id, "name": user_id.lower(), **profile}

    def channel_messages(self, channel: str) -> list[Message]:
        return [m for m in self.messages if m.channel == channel]

    # -- HTTP --------------------------------------------------------------------------------

    async def _args(self, request: web.Request) -> dict[str, Any]:
        args: dict[str, Any] = dict(request.query)
        if request.content_type == "application/json":
            body = await request.json()
            if isinstance(body, dict):
                args.update(body)
        elif request.can_read_body:
            form = await request.post()
            args.update({k: v for k, v in form.items() if isinstance(v, str)})
        for key in JSON_ARGS:
            if isinstance(args.get(key), str):
                with contextlib.suppress(ValueError):
                    args[key] = json.loads(args[key])
        return args

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        args = await self._args(request)
        auth = request.headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ") if auth.startswith("Bearer ") else args.get("token")
        self.calls.append(Call(method, args, token))
        queued = self.faults.get(method)
        if queued:
            fault = queued.pop(0)
            if fault.error:
                return web.json_response({"ok": False, "error": fault.error})
            headers = {}
            if fault.retry_after is not None:
                headers["Retry-After"] = str(fault.retry_after)
            return web.json_response(
                {"ok": False, "error": "ratelimited"}, status=fault.status, headers=headers
            )
        if self.token is not None and token != self.token:
            return web.json_response({"ok": False, "error": "invalid_auth"})
        handler = self.handlers.get(method)
        if handler is None:
            return web.json_response({"ok": False, "error": "unknown_method"})
        return web.json_response(handler(args))

    async def _upload(self, request: web.Request) -> web.Response:
        file = self.files.get(request.match_info["file_id"])
        data = await request.read()
        self.calls.append(Call("upload", {"file_id": request.match_info["file_id"],
                                          "length": len(data)}, None))  # fmt: skip
        if file is None:
            return web.Response(status=404, text="unknown upload")
        file.data = data
        return web.Response(text=f"OK - {len(data)}")

    # -- methods -----------------------------------------------------------------------------

    def _next_ts(self) -> str:
        return f"1700000000.{next(self._ts):06d}"

    def _auth_test(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "url": "https://fake.slack.test/", "team": "Fake", "user": "arseq",
                "team_id": "T0FAKE001", "user_id": "U0ARSEQ01", "bot_id": "B0ARSEQ01"}  # fmt: skip

    def _post_message(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = args.get("channel")
        if not channel:
            return {"ok": False, "error": "channel_not_found"}
        if not args.get("text") and not args.get("blocks"):
            return {"ok": False, "error": "no_text"}
        message = Message(channel, self._next_ts(), args.get("text"), args.get("blocks"),
                          args.get("thread_ts"))  # fmt: skip
        self.messages.append(message)
        self._by_ts[(channel, message.ts)] = message
        shown = {"text": message.text, "blocks": message.blocks, "ts": message.ts}
        return {"ok": True, "channel": channel, "ts": message.ts, "message": shown}

    def _update(self, args: dict[str, Any]) -> dict[str, Any]:
        message = self._by_ts.get((args.get("channel"), args.get("ts")))
        if message is None:
            return {"ok": False, "error": "message_not_found"}
        message.history.append({"text": message.text, "blocks": message.blocks})
        message.text = args.get("text", message.text)
        message.blocks = args.get("blocks", message.blocks)
        return {"ok": True, "channel": message.channel, "ts": message.ts, "text": message.text}

    def _post_ephemeral(self, args: dict[str, Any]) -> dict[str, Any]:
        if not args.get("channel") or not args.get("user"):
            return {"ok": False, "error": "channel_not_found"}
        self.ephemeral.append(args)
        return {"ok": True, "message_ts": self._next_ts()}

    def _upload_url(self, args: dict[str, Any]) -> dict[str, Any]:
        if not args.get("filename") or not args.get("length"):
            return {"ok": False, "error": "invalid_arguments"}
        file_id = f"F{next(self._ids):08d}"
        self.files[file_id] = UploadedFile(file_id, args["filename"], int(args["length"]))
        return {"ok": True, "file_id": file_id,
                "upload_url": f"http://127.0.0.1:{self.port}/upload/{file_id}"}  # fmt: skip

    def _complete_upload(self, args: dict[str, Any]) -> dict[str, Any]:
        shared = []
        for item in args.get("files") or []:
            file = self.files.get(item.get("id"))
            if file is None or file.data is None:
                return {"ok": False, "error": "file_not_found"}
            file.title = item.get("title")
            file.channel = args.get("channel_id") or args.get("channels")
            file.thread_ts = args.get("thread_ts")
            file.initial_comment = args.get("initial_comment")
            shared.append({"id": file.id, "name": file.filename, "title": file.title,
                           "size": len(file.data)})  # fmt: skip
        return {"ok": True, "files": shared}

    def _users_info(self, args: dict[str, Any]) -> dict[str, Any]:
        user = self.users.get(args.get("user", ""))
        if user is None:
            return {"ok": False, "error": "user_not_found"}
        return {"ok": True, "user": user}

    def _usergroup_users(self, args: dict[str, Any]) -> dict[str, Any]:
        users = self.usergroups.get(args.get("usergroup", ""))
        if users is None:
            return {"ok": False, "error": "no_such_subteam"}
        return {"ok": True, "users": users}

    def _view(self, args: dict[str, Any]) -> dict[str, Any]:
        view = args.get("view")
        if not isinstance(view, dict):
            return {"ok": False, "error": "invalid_arguments"}
        view_id = args.get("view_id") or f"V{next(self._ids):08d}"
        key = f"home:{args['user_id']}" if args.get("user_id") else view_id
        self.views[key] = {"id": view_id, **view}
        return {"ok": True, "view": {"id": view_id, **view}}


class FakeSlackThread:
    """The fake on its own event loop in a thread, for code that calls asyncio.run itself
    (the `arseq` command line run in-process by a plain test)."""

    def __init__(self) -> None:
        self.api = FakeSlackApi()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    def __enter__(self) -> FakeSlackApi:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.api.start(), self._loop).result(timeout=10)
        return self.api

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self.api.stop(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()
