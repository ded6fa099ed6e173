"""The AR mailbox over IMAP (aioimaplib): open it, list unseen messages, read, mark seen, wait.

Only what reply capture needs. Messages are read with BODY.PEEK[] (reading does not mark
them) and marked \\Seen once recorded; nothing is ever deleted or expunged. Waiting for
new mail uses IDLE when the server offers it, else a plain wait of `poll_every` seconds;
either ends at once when the service stops or the connection drops.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Awaitable
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from aioimaplib import aioimaplib

DEFAULT_PORTS = {"imap": 143, "imaps": 993}
# Servers drop an IDLE after 30 minutes (RFC 2177): it is renewed before that.
IDLE_RENEW = 25 * 60.0


class MailboxError(Exception):
    """The server refused what we asked (login, mailbox, a command), with its answer."""


@dataclass(frozen=True)
class MailboxConfig:
    """Where the AR mailbox is: from IMAP_URL, `imaps://user:password@host[:port]/MAILBOX`."""

    host: str
    port: int
    tls: bool
    user: str
    password: str
    mailbox: str = "INBOX"

    @classmethod
    def from_url(cls, url: str) -> MailboxConfig:
        """Parse IMAP_URL (imaps:// is TLS, imap:// plain); ValueError when it is not one."""
        parts = urlsplit(url)
        if parts.scheme not in DEFAULT_PORTS or not parts.hostname or not parts.username:
            raise ValueError("expected imaps://user:password@host/INBOX")
        return cls(
            host=parts.hostname, port=parts.port or DEFAULT_PORTS[parts.scheme],
            tls=parts.scheme == "imaps", user=unquote(parts.username),
            password=unquote(parts.password or ""),
            mailbox=unquote(parts.path.strip("/")) or "INBOX",
        )  # fmt: skip

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}/{self.mailbox}"


class Mailbox:
    """One open connection to the mailbox, selected; `lost` is set when it drops."""

    def __init__(self, config: MailboxConfig, *, timeout: float = 30.0) -> None:
        self.config = config
        self.lost = asyncio.Event()
        self.client = aioimaplib.IMAP4(
            host=config.host, port=config.port, timeout=timeout,
            conn_lost_cb=lambda _exc: self.lost.set(),
            ssl_context=ssl.create_default_context() if config.tls else None,
        )  # fmt: skip

    @classmethod
    async def open(cls, config: MailboxConfig, *, command_timeout: float = 30.0) -> Mailbox:
        """Connect, log in and select the mailbox; MailboxError when the server refuses."""
        box = cls(config, timeout=command_timeout)
        try:
            await box.client.wait_hello_from_server()
            login = await box.client.login(config.user, config.password)
            _check(
                login, f"IMAP login to {config.host} refused (check IMAP_URL's user and password)"
            )
            _check(await box.client.select(config.mailbox), f"cannot select {config.where}")
        except BaseException:
            await box.close()
            raise
        return box

    @property
    def can_idle(self) -> bool:
        return self.client.has_capability("IDLE")

    async def unseen(self) -> list[str]:
        """UIDs of the messages not yet marked \\Seen, oldest first."""
        # A NOOP first: the server brings the session's view of the mailbox up to date
        # (mail delivered since the last command) before the search sees it.
        _check(await self.client.noop(), "NOOP failed")
        response = await self.client.uid_search("UNSEEN", charset=None)
        _check(response, "UID SEARCH UNSEEN failed")
        found = b" ".join(line for line in response.lines[:-1] if isinstance(line, bytes))
        return sorted(found.replace(b"SEARCH", b"").decode().split(), key=int)

    async def fetch(self, uid: str) -> bytes | None:
        """The raw message with this UID (not marked seen by reading), None if it is gone."""
        response = await self.client.uid("fetch", uid, "(BODY.PEEK[])")
        _check(response, f"UID FETCH {uid} failed")
        literal = [line for line in response.lines if isinstance(line, bytearray)]
        return bytes(literal[0]) if literal else None

    async def mark_seen(self, uid: str) -> None:
        """Flag the message \\Seen (never deleted, never expunged)."""
        _check(await self.client.uid("store", uid, "+FLAGS.SILENT", r"(\Seen)"), "UID STORE failed")

    async def wait_for_mail(self, stop: asyncio.Event, *, poll_every: float) -> None:
        """Return when new mail may be there (IDLE: the server said EXISTS; else after
        `poll_every` seconds), or at once when `stop` is set or the connection drops."""
        if not self.can_idle:
            await _first(stop.wait(), self.lost.wait(), within=poll_every)
            return
        idle = await self.client.idle_start(timeout=IDLE_RENEW)
        try:
            while not (stop.is_set() or self.lost.is_set()):
                push = asyncio.ensure_future(self.client.wait_server_push(timeout=IDLE_RENEW * 2))
                if push not in await _first(push, stop.wait(), self.lost.wait()):
                    break
                lines = push.result()
                if lines == aioimaplib.STOP_WAIT_SERVER_PUSH or any(
                    isinstance(line, bytes) and line.endswith(b"EXISTS") for line in lines
                ):
                    break
        finally:
            if not self.lost.is_set() and self.client.has_pending_idle():
                self.client.idle_done()
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(idle, self.client.timeout)

    async def close(self) -> None:
        """Log out (the connection closes with it); quiet when it is gone already."""
        if self.lost.is_set():
            return
        with contextlib.suppress(Exception):  # it is going away either way
            await self.client.logout()


def _check(response: aioimaplib.Response, what: str) -> None:
    if response.result != "OK":
        answer = b" ".join(line for line in response.lines if isinstance(line, bytes))
        raise MailboxError(f"{what}: {response.result} {answer.decode(errors='replace')}")


async def _first(
    *waits: Awaitable[object], within: float | None = None
) -> set[asyncio.Future[object]]:
    """Wait for the first of `waits` (or `within` seconds); the others are cancelled."""
    tasks = [asyncio.ensure_future(w) for w in waits]
    try:
        done, _ = await asyncio.wait(tasks, timeout=within, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            if not task.done():
                task.cancel()
    return done
