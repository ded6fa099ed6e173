"""What the person watching the demo sees: each day's notable things, rendered in short
lines the way Slack and Telegram show them, and the morning digest as text."""

from __future__ import annotations

import logging
import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from email.header import decode_header, make_header
from email.message import Message

from rich.console import Console
from rich.markup import escape

from bot.demo.world import CHANNEL_NAMES, DIGEST, World
from bot.slack.digest_blocks import blocks_as_text

log = logging.getLogger("arseq.demo")

# How many lines of each kind one day shows; the rest are counted.
PER_DAY = {"email": 3, "telegram": 3, "slack": 3, "customer": 4}
STYLE = {"email": "blue", "telegram": "cyan", "slack": "magenta", "customer": "green"}
ICON = {"email": "✉ ", "telegram": "✈ ", "slack": "#", "customer": "☎ "}
DIGEST_FIGURES = ("Total AR", "Overdue", "DSO")
_MRKDWN = re.compile(r"[*_`]|<(?:https?://[^|>]+\|)?([^>]+)>")


def plain(text: str | None) -> str:
    """Slack mrkdwn's first line as plain text (links shown by their label)."""
    first = (text or "").strip().splitlines()[0] if (text or "").strip() else ""
    return _MRKDWN.sub(lambda m: m.group(1) or "", first)


def short(text: str, width: int = 110) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


@dataclass
class Feed:
    """Collects one day's lines and prints them; remembers what it has already shown."""

    world: World
    console: Console
    telegram_seen: int = 0
    slack_seen: int = 0
    lines: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    digests: list[tuple[date, str]] = field(default_factory=list)
    slack_posts: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def collect(self, today: date) -> None:
        """Take what the fakes received since the last call."""
        for _, message in self.world.write_mail():
            self._email(message)
        for sent in self.world.telegram.sent[self.telegram_seen :]:
            self.add("telegram", f"chat {sent.chat_id} · {plain(sent.text)}")
            log.info("telegram message", extra={"event": "telegram_sent", "chat": sent.chat_id})
        self.telegram_seen = len(self.world.telegram.sent)
        for message in self.world.slack.messages[self.slack_seen :]:
            name = CHANNEL_NAMES.get(message.channel, f"DM @{message.channel}")
            self.slack_posts[name] += 1
            if message.channel == DIGEST and message.thread_ts is None:
                self.digests.append((today, blocks_as_text(message.blocks or [])))
                log.info("digest posted", extra={"event": "digest", "day": today.isoformat()})
                continue
            where = f"{name} (thread)" if message.thread_ts else name
            self.add("slack", f"{where} · {plain(message.text)}")
            log.info("slack post", extra={"event": "slack_post", "channel": name})
        self.slack_seen = len(self.world.slack.messages)
        self.world.write_charts()

    def _email(self, message: Message) -> None:
        to = str(message.get("To", ""))
        subject = " ".join(str(make_header(decode_header(str(message.get("Subject", ""))))).split())
        self.add("email", f"{to} · {subject}")
        log.info("email sent", extra={"event": "email_sent", "to_domain": to.rsplit("@", 1)[-1]})

    def add(self, kind: str, line: str) -> None:
        if line:
            self.lines[kind].append(line)

    def print_day(self, day: date, number: int) -> None:
        """The day's digest (if one was posted) and its lines, a few of each kind."""
        self.console.rule(f"[bold]Day {number}[/] · {day:%a %d %b %Y}", align="left")
        for posted, text in self.digests:
            if posted == day:
                self._digest(text)
        for kind in ("customer", "slack", "telegram", "email"):
            found = self.lines.get(kind, [])
            for line in found[: PER_DAY[kind]]:
                self.console.print(f"  [{STYLE[kind]}]{ICON[kind]}[/] {escape(short(line))}")
            if len(found) > PER_DAY[kind]:
                more = len(found) - PER_DAY[kind]
                self.console.print(f"  [dim]   … and {more} more {kind} line(s)[/]")
        self.lines.clear()

    def _digest(self, text: str) -> None:
        """The digest's title, then per currency its total, overdue and DSO."""
        lines = [plain(line).strip() for line in text.splitlines() if line.strip()]
        title = escape(lines[0] if lines else "")
        self.console.print(f"  [bold magenta]#ar-digest[/] [bold]{title}[/]")
        currency = ""
        for line in lines[1:]:
            if len(line) == 3 and line.isupper():
                currency = line
            elif line.startswith(DIGEST_FIGURES) and currency:
                figure = line.split(" vs yesterday")[0]
                self.console.print(f"  [dim]│[/] {currency}  {escape(short(figure, 90))}")
