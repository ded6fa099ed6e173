"""A lean SMTP receiver for throughput benchmarks: accepts everything, counts idempotency keys.

aiosmtpd (`tests.fakes.smtp_sink`, which the tests use for its faults) costs about a
millisecond of CPU a message; on a 2-core machine that caps a benchmark at the sink's
speed, not ours. This server speaks just the SMTP a client needs (EHLO/HELO, MAIL,
RCPT, DATA, RSET, NOOP, QUIT) as a plain asyncio protocol, answers each message's DATA
after `delay` seconds (a distant provider's latency) without holding anything else up,
and counts the X-ARSeq-Idempotency-Key of each message it accepts.
"""

from __future__ import annotations

import asyncio
import re
from collections import Counter

KEY = re.compile(rb"^X-ARSeq-Idempotency-Key: (\S+)\r?$", re.MULTILINE)
END_OF_DATA = b"\r\n.\r\n"


class _Session(asyncio.Protocol):
    def __init__(self, server: LeanSmtp) -> None:
        self.server = server
        self.buffer = b""
        self.in_data = False
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(b"220 lean.test ESMTP\r\n")

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while self.buffer:
            if self.in_data:
                end = self.buffer.find(END_OF_DATA)
                if end < 0:
                    return
                message, self.buffer = self.buffer[:end], self.buffer[end + len(END_OF_DATA) :]
                self.in_data = False
                self._accept(message)
                continue
            line, sep, rest = self.buffer.partition(b"\r\n")
            if not sep:
                return
            self.buffer = rest
            self._command(line[:4].upper())

    def _command(self, verb: bytes) -> None:
        assert self.transport is not None
        if verb == b"EHLO":
            self.transport.write(b"250-lean.test\r\n250-8BITMIME\r\n250 SIZE 10485760\r\n")
        elif verb == b"DATA":
            self.in_data = True
            self.transport.write(b"354 end with <CRLF>.<CRLF>\r\n")
        elif verb == b"QUIT":
            self.transport.write(b"221 bye\r\n")
            self.transport.close()
        else:  # HELO, MAIL, RCPT, RSET, NOOP
            self.transport.write(b"250 OK\r\n")

    def _accept(self, message: bytes) -> None:
        head = message.split(b"\r\n\r\n", 1)[0]
        found = KEY.search(head)
        key = found.group(1).decode() if found else ""
        if self.server.delay:
            asyncio.get_running_loop().call_later(self.server.delay, self._answer, key)
        else:
            self._answer(key)

    def _answer(self, key: str) -> None:
        assert self.transport is not None
        if self.transport.is_closing():
            return  # the client gave up: not accepted
        self.server.keys[key] += 1
        self.server.accepted += 1
        self.transport.write(b"250 2.0.0 accepted\r\n")


class LeanSmtp:
    """`async with LeanSmtp(delay=0.02) as sink:` listens on a free 127.0.0.1 port."""

    def __init__(self, *, delay: float = 0.0) -> None:
        self.delay = delay
        self.accepted = 0
        self.keys: Counter[str] = Counter()
        self.port = 0
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> LeanSmtp:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _Session(self), "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()
