"""Reply capture: the service that reads the AR mailbox (IMAP_URL) and records what arrives.

`add_replies` registers it when IMAP_URL is set. Each pass reads the unseen messages
(`read_new_replies`), records each one in its own transaction (`sequences.replies`), and
only then marks it \\Seen, so a crash in between reads it again and the record is not
doubled (replies are recorded once per Message-ID). Nothing is deleted or expunged: the
mailbox stays the team's. Between passes the service waits on IDLE (or polls); a dropped
connection is logged and reopened with backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncEngine

from bot.imap import Mailbox, MailboxConfig
from bot.settings import Settings
from sequences.replies import ReplyParseError, parse_reply, record_reply, record_unreadable

if TYPE_CHECKING:
    from bot.channels import Adapters

log = logging.getLogger("arseq.replies")

POLL_EVERY = 60.0  # seconds between passes on a server without IDLE
BACKOFF = (1.0, 300.0)  # first and longest wait before reconnecting


def add_replies(adapters: Adapters, settings: Settings, engine: AsyncEngine) -> None:
    """Register the reply reader when IMAP_URL is set."""
    if not settings.imap_url:
        return
    reader = ReplyReader(engine, MailboxConfig.from_url(settings.imap_url))
    adapters.services.append(reader.run)


async def read_new_replies(box: Mailbox, engine: AsyncEngine, *, now: datetime) -> Counter[str]:
    """One pass: record every unseen message, then mark it \\Seen; counts by outcome."""
    counts: Counter[str] = Counter()
    for uid in await box.unseen():
        raw = await box.fetch(uid)
        if raw is None:  # expunged by someone else since the search
            continue
        async with engine.begin() as conn:
            try:
                parsed = parse_reply(raw)
            except ReplyParseError as exc:
                log.warning(
                    "reply capture: message %s of %s skipped: %s", uid, box.config.where, exc
                )
                await record_unreadable(
                    conn, reason=str(exc), mailbox=box.config.where, uid=uid, now=now
                )
                status = "unreadable"
            else:
                status = (await record_reply(conn, parsed, now=now)).status
        await box.mark_seen(uid)
        counts[status] += 1
    return counts


class ReplyReader:
    """The long-running reader: pass, wait for mail, pass again, until `stop` is set."""

    def __init__(
        self,
        engine: AsyncEngine,
        config: MailboxConfig,
        *,
        poll_every: float = POLL_EVERY,
        backoff: tuple[float, float] = BACKOFF,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        on_pass: Callable[[Counter[str]], None] | None = None,
    ) -> None:
        self.engine, self.config = engine, config
        self.poll_every, self.backoff, self.clock = poll_every, backoff, clock
        self.on_pass = on_pass  # told what each pass did (tests wait on it)

    async def run(self, stop: asyncio.Event) -> None:
        """Read the mailbox until `stop` is set, reconnecting when the connection fails."""
        delay = self.backoff[0]
        while not stop.is_set():
            try:
                await self._session(stop)
                delay = self.backoff[0]
            except Exception as exc:  # the mailbox, the network or the database: try again
                log.warning(
                    "reply capture: %s: %s; reconnecting in %.0f s",
                    self.config.where, exc or type(exc).__name__, delay,
                )  # fmt: skip
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)
                delay = min(delay * 2, self.backoff[1])

    async def _session(self, stop: asyncio.Event) -> None:
        box = await Mailbox.open(self.config)
        try:
            log.info(
                "reply capture: reading %s (%s)", self.config.where,
                "IDLE" if box.can_idle else f"every {self.poll_every:.0f} s",
            )  # fmt: skip
            while not stop.is_set():
                counts = await read_new_replies(box, self.engine, now=self.clock())
                if counts:
                    log.info("reply capture: %s", dict(counts))
                if self.on_pass is not None:
                    self.on_pass(counts)
                await box.wait_for_mail(stop, poll_every=self.poll_every)
                if box.lost.is_set():
                    raise ConnectionError("the server closed the connection")
        finally:
            await box.close()
