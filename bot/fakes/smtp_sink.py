"""An SMTP server on loopback (aiosmtpd) that keeps every message and injects faults.

`async with SmtpSink() as sink:` listens on a free 127.0.0.1 port in the running loop.
It keeps each accepted message (envelope and raw bytes), counts connections, and can
be told to answer badly: `fail_next(2, "451 ...", at="DATA")`, `refuse("a@b", "550 ...")`,
`reject_connections(1)` (a 421 greeting), `drop_connections()`; `delay` seconds of
latency before each DATA answer; `gate` (an Event, open by default) holds DATA answers
while cleared. TLS: pass `tls="starttls"` or `tls="tls"` with a certificate;
`auth=(user, password)` requires a login.

`python -m bot.fakes.smtp_sink [--keep] [--delay-ms N]` runs one in its own process (the
benchmark's receiver): it prints its port, then serves until stdin closes.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import ssl
import sys
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any, Literal

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

Stage = Literal["MAIL", "RCPT", "DATA"]


@dataclass(frozen=True)
class Received:
    """One accepted message: its envelope and the bytes of DATA."""

    mail_from: str
    rcpt_tos: list[str]
    data: bytes

    def parsed(self) -> EmailMessage:
        """The message parsed back with the standard library."""
        message = email.message_from_bytes(self.data, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        return message


@dataclass
class _Faults:
    pending: list[tuple[Stage, str]] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)
    reject_connections: int = 0

    def take(self, stage: Stage) -> str | None:
        for i, (at, answer) in enumerate(self.pending):
            if at == stage:
                del self.pending[i]
                return answer
        return None


class _Handler:
    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if answer := self.sink.faults.take("MAIL"):
            return answer
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if answer := self.sink.faults.refused.get(address.lower()):
            return answer
        if answer := self.sink.faults.take("RCPT"):
            return answer
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.sink.delay:  # a distant provider's latency
            await asyncio.sleep(self.sink.delay)
        await self.sink.gate.wait()
        if answer := self.sink.faults.take("DATA"):
            return answer
        self.sink.accepted += 1
        if self.sink.keep:
            content = envelope.original_content or b""
            self.sink.received.append(
                Received(envelope.mail_from or "", list(envelope.rcpt_tos), content)
            )
        return "250 2.0.0 accepted"


class _SinkSMTP(SMTP):
    sink: SmtpSink
    rejected = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if self.transport is None:  # not the second call that STARTTLS makes
            self.sink.connections += 1
            self.sink._live.add(self)
            if self.sink.faults.reject_connections > 0:
                self.sink.faults.reject_connections -= 1
                self.rejected = True
                assert isinstance(transport, asyncio.WriteTransport)
                transport.write(b"421 4.3.2 too busy, try later\r\n")
                transport.close()
                return
        super().connection_made(transport)

    def connection_lost(self, error: Exception | None) -> None:
        self.sink._live.discard(self)
        self.sink._changed.set()
        if not self.rejected:
            super().connection_lost(error)

    def hang_up(self) -> None:
        if self.transport is not None:
            self.transport.close()


class SmtpSink:
    """A real SMTP server on 127.0.0.1 for tests (see the module docstring)."""

    def __init__(
        self,
        *,
        tls: Literal["starttls", "tls"] | None = None,
        cert: tuple[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        keep: bool = True,
        delay: float = 0.0,
    ) -> None:
        self.tls, self.cert, self.auth, self.keep = tls, cert, auth, keep
        self.delay = delay
        self.gate = asyncio.Event()
        self.gate.set()
        self.received: list[Received] = []
        self.accepted = 0
        self.connections = 0
        self.logins: list[str] = []
        self.faults = _Faults()
        self.port = 0
        self._live: set[_SinkSMTP] = set()
        self._changed = asyncio.Event()
        self._server: asyncio.Server | None = None

    @property
    def open_connections(self) -> int:
        return len(self._live)

    def fail_next(self, count: int, answer: str = "451 4.3.0 try again later", *,
                  at: Stage = "DATA") -> None:  # fmt: skip
        """Answer the next `count` transactions with `answer` at `at`."""
        self.faults.pending.extend([(at, answer)] * count)

    def refuse(self, address: str, answer: str = "550 5.1.1 no such user") -> None:
        """Refuse this recipient on every transaction."""
        self.faults.refused[address.lower()] = answer

    def reject_connections(self, count: int) -> None:
        """Greet the next `count` connections with 421 and hang up."""
        self.faults.reject_connections += count

    def drop_connections(self) -> None:
        """Hang up on every open connection, as a server restart would."""
        for protocol in list(self._live):
            protocol.hang_up()

    async def wait_no_connections(self) -> None:
        """Return once no client is connected."""
        while self._live:
            self._changed.clear()
            await self._changed.wait()

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        ok = isinstance(data, LoginPassword) and self.auth == (
            data.login.decode(),
            data.password.decode(),
        )
        if ok:
            self.logins.append(data.login.decode())
        return AuthResult(success=ok, handled=False)  # aiosmtpd then sends 235 or 535

    def _context(self) -> ssl.SSLContext | None:
        if self.tls is None:
            return None
        assert self.cert is not None, "TLS needs a certificate"
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(*self.cert)
        return context

    def _protocol(self) -> SMTP:
        tls = self._context()
        options: dict[str, Any] = {}
        if self.auth is not None:
            options.update(authenticator=self._authenticate, auth_required=True,
                           auth_require_tls=self.tls is not None)  # fmt: skip
        protocol = _SinkSMTP(
            _Handler(self),
            hostname="sink.test",
            tls_context=tls if self.tls == "starttls" else None,
            require_starttls=self.tls == "starttls",
            **options,
        )
        protocol.sink = self
        return protocol

    async def __aenter__(self) -> SmtpSink:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            self._protocol, "127.0.0.1", 0, ssl=self._context() if self.tls == "tls" else None
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        self.drop_connections()
        await self._server.wait_closed()


async def _serve_until_stdin_closes(keep: bool, delay: float) -> None:
    async with SmtpSink(keep=keep, delay=delay) as sink:
        print(sink.port, flush=True)
        await asyncio.to_thread(sys.stdin.read)
        print(sink.accepted, flush=True)


if __name__ == "__main__":
    delay_ms = float(sys.argv[sys.argv.index("--delay-ms") + 1]) if "--delay-ms" in sys.argv else 0
    asyncio.run(_serve_until_stdin_closes("--keep" in sys.argv, delay_ms / 1000))
