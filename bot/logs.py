"""Logging for the command line: one line per notable event.

On a terminal the lines are short and human; otherwise (a service manager, a pipe, a
file) each is one JSON object with the time, level, logger, message and the event's
fields (`extra=`). Callers log ids, counts and channels, never a customer's message
body or a token.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

# Attributes every LogRecord has; anything else came from `extra=`.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


class JsonLines(logging.Formatter):
    """One JSON object per record: ts, level, logger, msg, then the `extra=` fields."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        line.update({k: v for k, v in vars(record).items() if k not in _STANDARD})
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str, ensure_ascii=False)


def setup_logging(level: int = logging.INFO, *, stream: TextIO | None = None) -> None:
    """Send `arseq` logs to stderr: JSON lines unless stderr is a terminal."""
    stream = stream or sys.stderr
    handler = logging.StreamHandler(stream)
    if stream.isatty():
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(message)s"))
    else:
        handler.setFormatter(JsonLines())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for chatty in ("apscheduler", "alembic", "aiosmtpd", "aiogram", "slack_sdk", "slack_bolt",
                   "aiohttp.access", "mail.log"):  # fmt: skip
        logging.getLogger(chatty).setLevel(logging.WARNING)
