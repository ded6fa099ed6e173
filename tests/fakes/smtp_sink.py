"""The SMTP sink now lives in `bot.fakes.smtp_sink` (the demo runs on it); re-exported here."""

import runpy

from bot.fakes.smtp_sink import Received, SmtpSink, Stage

__all__ = ["Received", "SmtpSink", "Stage"]

if __name__ == "__main__":
    runpy.run_module("bot.fakes.smtp_sink", run_name="__main__")
