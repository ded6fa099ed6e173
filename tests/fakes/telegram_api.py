"""The fake Telegram Bot API now lives in `bot.fakes.telegram_api` (the demo runs on it);
re-exported here."""

import runpy

from bot.fakes.telegram_api import (
    BOT_USER,
    Call,
    FakeTelegramApi,
    Fault,
    SentMessage,
    callback_update,
    message_update,
)

__all__ = [
    "BOT_USER", "Call", "FakeTelegramApi", "Fault", "SentMessage", "callback_update",
    "message_update",
]  # fmt: skip

if __name__ == "__main__":
    runpy.run_module("bot.fakes.telegram_api", run_name="__main__")
