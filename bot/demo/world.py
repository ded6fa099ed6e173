"""The demo's world: the in-process servers standing in for SMTP, Slack and Telegram, and
the configuration that points ARSeq's real clients at them.

Nothing here is a shortcut inside ARSeq: email leaves through aiosmtplib to an aiosmtpd
sink, Slack posts go through slack_sdk to the fake Web API, Telegram messages through
aiogram to the fake Bot API. The only demo-specific knobs are time ones: posts and sends
are not spaced in real seconds, since the clock being simulated is not the wall clock.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from email.message import Message
from email.parser import BytesHeaderParser
from pathlib import Path

from bot.demo.ledger import COLLECTORS, MANAGERS
from bot.fakes.slack_api import FakeSlackApi
from bot.fakes.smtp_sink import SmtpSink
from bot.fakes.telegram_api import FakeTelegramApi
from bot.settings import Settings

TASKS, ESCALATIONS, DIGEST = "C0DEMOTASKS", "C0DEMOESCAL", "C0DEMODIGST"
CHANNEL_NAMES = {TASKS: "#ar-tasks", ESCALATIONS: "#ar-escalations", DIGEST: "#ar-digest"}
TELEGRAM_TOKEN = "123456:DEMO-not-a-real-token-abcdefghij"  # the fake servers take any
SLACK_TOKEN = "xoxb-demo-not-a-real-token"  # the fake servers take any


@dataclass
class World:
    """The running fakes, and where the demo keeps its files."""

    folder: Path
    smtp: SmtpSink
    slack: FakeSlackApi
    telegram: FakeTelegramApi
    eml_written: int = 0

    def settings(self, database_url: str) -> Settings:
        """ARSeq's configuration for the demo: every channel on, each at its fake."""
        values = {
            "ARSEQ_DATABASE_URL": database_url, "ARSEQ_TIMEZONE": "UTC",
            "ARSEQ_PUBLIC_URL": "http://localhost:8080",
            "ARSEQ_PAY_URL": "https://pay.example.com/{customer}/{invoice}?amount={amount}",
            "ARSEQ_TASKS_CHANNEL": TASKS, "ARSEQ_ESCALATIONS_CHANNEL": ESCALATIONS,
            "ARSEQ_DIGEST_CHANNEL": DIGEST, "ARSEQ_DIGEST_TIME": "09:00",
            "ARSEQ_MANAGERS": ",".join(MANAGERS), "ARSEQ_COLLECTORS": ",".join(COLLECTORS),
            "SLACK_BOT_TOKEN": SLACK_TOKEN, "SLACK_SIGNING_SECRET": "demo-signing-secret",
            "SLACK_APP_TOKEN": None, "SLACK_API_URL": self.slack.base_url,
            "TELEGRAM_BOT_TOKEN": TELEGRAM_TOKEN, "TELEGRAM_API_URL": self.telegram.base_url,
            "TELEGRAM_WEBHOOK_SECRET": None,
            "SMTP_HOST": "127.0.0.1", "SMTP_PORT": self.smtp.port, "SMTP_TLS": "none",
            "SMTP_USERNAME": None, "SMTP_PASSWORD": None,
            "ARSEQ_FROM_EMAIL": "ar@arseq-demo.example", "IMAP_URL": None,
        }  # fmt: skip
        return Settings(_env_file=None, **values)  # type: ignore[call-arg]

    def write_charts(self) -> int:
        """Write the digest's aging charts Slack received as PNG files; how many in all."""
        folder = self.folder / "charts"
        charts = [f for f in self.slack.files.values() if f.data and f.filename.endswith(".png")]
        for chart in charts:
            path = folder / chart.filename
            if not path.exists():
                folder.mkdir(exist_ok=True)
                path.write_bytes(chart.data or b"")
        return len(charts)

    def write_mail(self) -> list[tuple[Path, Message]]:
        """Write the emails the sink took since the last call as .eml files; their headers."""
        folder = self.folder / "mail"
        folder.mkdir(exist_ok=True)
        new = list(self.smtp.received)
        self.smtp.received.clear()
        written = []
        for n, received in enumerate(new, start=self.eml_written + 1):
            path = folder / f"{n:05d}.eml"
            path.write_bytes(received.data)
            written.append((path, BytesHeaderParser().parsebytes(received.data)))
        self.eml_written += len(new)
        return written


@asynccontextmanager
async def open_world(folder: Path) -> AsyncIterator[World]:
    """Start the SMTP sink and the fake Slack and Telegram APIs on loopback."""
    async with AsyncExitStack() as stack:
        smtp = await stack.enter_async_context(SmtpSink())
        slack = await stack.enter_async_context(FakeSlackApi())
        telegram = await stack.enter_async_context(FakeTelegramApi())
        for user in COLLECTORS + MANAGERS:
            slack.add_user(user, real_name=user.removeprefix("U0DEMO").title(), tz="UTC")
        yield World(folder, smtp, slack, telegram)
