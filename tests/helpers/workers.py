"""`arseq worker` as real processes for tests: start, wait for a log line, signal, collect.

A worker's stderr is read as it comes (so its pipe never fills) and kept in `lines`.
Use `async with Workers(env, cwd) as workers:` so a failing test leaves no process behind.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from pathlib import Path
from typing import Any

from aiohttp import ClientSession

from tests.bot.test_settings import ALL_VARS

STARTED = "a pass every"
LISTENING = re.compile(r"listening on port (\d+)")
ARSEQ = ("-c", "from bot.cli import main; main()")


def worker_env(db_url: str, smtp_port: int, **extra: str) -> dict[str, str]:
    """The environment of a worker sending email to the sink on `smtp_port`, ticking each second."""
    env = {k: v for k, v in os.environ.items() if k not in ALL_VARS}
    env.update(
        ARSEQ_DATABASE_URL=db_url, ARSEQ_TICK_EVERY="1s", SMTP_HOST="127.0.0.1",
        SMTP_PORT=str(smtp_port), SMTP_TLS="none", ARSEQ_FROM_EMAIL="ar@acme.test",
        ARSEQ_PUBLIC_URL="https://arseq.acme.test", **extra,
    )  # fmt: skip
    return env


class Worker:
    """One `arseq ARGS` process (default: `worker`)."""

    def __init__(self, env: dict[str, str], cwd: Path, *args: str) -> None:
        self.env, self.cwd, self.args = env, cwd, args or ("worker",)
        self.lines: list[str] = []
        self._new = asyncio.Event()
        self.proc: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None

    async def start(self) -> Worker:
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, *ARSEQ, *self.args, cwd=self.cwd, env=self.env,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        self._reader = asyncio.create_task(self._read())
        return self

    async def _read(self) -> None:
        assert self.proc is not None and self.proc.stderr is not None
        async for line in self.proc.stderr:
            self.lines.append(line.decode(errors="replace"))
            self._new.set()
        self._new.set()

    @property
    def text(self) -> str:
        return "".join(self.lines)

    async def wait_for(self, fragment: str = STARTED, limit: float = 60) -> Worker:
        """Return once a log line holds `fragment`; fail if the process ends first."""

        async def seen() -> None:
            while not any(fragment in line for line in self.lines):
                assert self._reader is not None
                if self._reader.done():
                    raise AssertionError(f"worker ended without {fragment!r}:\n{self.text}")
                self._new.clear()
                await self._new.wait()

        await asyncio.wait_for(seen(), limit)
        return self

    async def health_port(self, limit: float = 60) -> int:
        """The port of `/healthz` (`--health-port 0`), once the log has said it."""
        await self.wait_for("listening on port", limit)
        return int(next(m.group(1) for line in self.lines if (m := LISTENING.search(line))))

    async def healthz(self) -> tuple[int, dict[str, Any]]:
        """GET /healthz through a real HTTP request: (status, body)."""
        url = f"http://127.0.0.1:{await self.health_port()}/healthz"
        async with ClientSession() as session, session.get(url) as response:
            return response.status, await response.json()

    async def passed(self, limit: float = 120) -> dict[str, Any]:
        """Once the clock has finished its first pass (asked of /healthz): the body."""
        async with asyncio.timeout(limit):
            while True:
                _, body = await self.healthz()
                if body["clock"]["passes"] >= 1:
                    return body
                await asyncio.sleep(0.05)  # a state the process reaches, asked over HTTP

    async def finish(self, signum: int | None = None, limit: float = 60) -> int:
        """Send `signum` (if any), wait for the exit; the exit status."""
        assert self.proc is not None and self._reader is not None
        if signum is not None and self.proc.returncode is None:
            self.proc.send_signal(signum)
        code = await asyncio.wait_for(self.proc.wait(), limit)
        await self._reader
        return code

    async def kill(self) -> None:
        """SIGKILL, if still running."""
        await self.finish(signal.SIGKILL)


class Workers:
    """Starts workers and SIGKILLs whichever still run when the block ends."""

    def __init__(self, env: dict[str, str], cwd: Path) -> None:
        self.env, self.cwd = env, cwd
        self.started: list[Worker] = []

    async def start(self, *args: str) -> Worker:
        worker = await Worker(self.env, self.cwd, *args).start()
        self.started.append(worker)
        return worker

    async def __aenter__(self) -> Workers:
        return self

    async def __aexit__(self, *exc: object) -> None:
        for worker in self.started:
            if worker.proc is not None and worker.proc.returncode is None:
                await worker.kill()
