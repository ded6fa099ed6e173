"""Logs: JSON lines with the event's fields when stderr is not a terminal, short text on one."""

from __future__ import annotations

import io
import json
import logging

from bot.logs import setup_logging


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _log_one(stream: io.StringIO) -> str:
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        setup_logging(stream=stream)
        logging.getLogger("arseq.test").info(
            "email sent to %s", "acme.example", extra={"event": "email_sent", "customer": 7}
        )
    finally:
        root.handlers[:], _ = saved[0], root.setLevel(saved[1])
    return stream.getvalue()


def test_not_on_a_terminal_each_event_is_one_json_object_with_its_fields() -> None:
    lines = _log_one(io.StringIO()).splitlines()
    assert len(lines) == 1
    line = json.loads(lines[0])
    assert line["msg"] == "email sent to acme.example" and line["logger"] == "arseq.test"
    assert (line["event"], line["customer"], line["level"]) == ("email_sent", 7, "info")
    assert line["ts"].endswith("+00:00")


def test_on_a_terminal_the_line_is_plain_text() -> None:
    text = _log_one(_Terminal())
    assert "arseq.test email sent to acme.example" in text and not text.startswith("{")
