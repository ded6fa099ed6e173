"""The fake Slack Web API now lives in `bot.fakes.slack_api` (the demo runs on it); re-exported."""

from bot.fakes.slack_api import Call, FakeSlackApi, FakeSlackThread, Fault, Message, UploadedFile

__all__ = ["Call", "FakeSlackApi", "FakeSlackThread", "Fault", "Message", "UploadedFile"]
