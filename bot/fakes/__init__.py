"""In-process provider servers on loopback: an SMTP sink (aiosmtpd), a fake Slack Web API
and a fake Telegram Bot API, driven through the real clients.

`arseq demo` runs on them (no account anywhere); the test suite uses the same servers
(`tests.fakes` re-exports them) with their fault injection.
"""
