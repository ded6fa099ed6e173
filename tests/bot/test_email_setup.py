"""The email channel's setup: STARTTLS, implicit TLS, login, and a broken setup reported clearly."""

from __future__ import annotations

import asyncio
import shutil
import ssl
import subprocess
from pathlib import Path

import pytest

from bot.channels import build_adapters
from bot.settings import SmtpTls, load_settings
from sequences.dispatch import dispatch_once
from tests.bot.email_helpers import NOW, SENDER, channel_for, ledger, outbox_row, queue
from tests.fakes.smtp_sink import SmtpSink


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """A self-signed certificate for 127.0.0.1 (openssl CLI)."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )  # fmt: skip
    return str(cert), str(key)


def trusting(cert: tuple[str, str]) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=cert[0])


async def _send_one(engine, email) -> tuple[object, object]:
    ids = await ledger(engine)
    outbox = await queue(engine, ids)
    report = await dispatch_once(engine, {"email": email}, now=NOW, worker="w")
    await email.aclose()
    return report, await outbox_row(engine, outbox)


async def test_starttls_and_login(engine, cert):
    async with SmtpSink(tls="starttls", cert=cert, auth=("ar-bot", "s3cret")) as sink:
        email = channel_for(sink, engine, tls=SmtpTls.STARTTLS, tls_context=trusting(cert),
                            username="ar-bot", password="s3cret")  # fmt: skip
        report, _ = await _send_one(engine, email)
    # The sink refuses mail before STARTTLS and a login without TLS.
    assert report.sent == 1 and sink.logins == ["ar-bot"] and len(sink.received) == 1


async def test_implicit_tls(engine, cert):
    async with SmtpSink(tls="tls", cert=cert) as sink:
        email = channel_for(sink, engine, tls=SmtpTls.TLS, tls_context=trusting(cert))
        report, _ = await _send_one(engine, email)
    assert report.sent == 1 and len(sink.received) == 1


async def test_a_refused_login_is_reported_naming_the_settings(engine, cert, caplog):
    async with SmtpSink(tls="starttls", cert=cert, auth=("ar-bot", "s3cret")) as sink:
        email = channel_for(sink, engine, tls=SmtpTls.STARTTLS, tls_context=trusting(cert),
                            username="ar-bot", password="wrong")  # fmt: skip
        report, row = await _send_one(engine, email)
    assert report.retried == 1 and row.state == "pending" and sink.received == []
    assert "login" in row.last_error and "SMTP_USERNAME and SMTP_PASSWORD" in row.last_error
    assert any("SMTP_PASSWORD" in r.getMessage() for r in caplog.records)


async def test_starttls_asked_of_a_server_without_it_is_reported(engine):
    async with SmtpSink() as sink:
        email = channel_for(sink, engine, tls=SmtpTls.STARTTLS)
        report, row = await _send_one(engine, email)
    assert report.retried == 1 and "SMTP_TLS" in row.last_error and sink.received == []


async def test_an_untrusted_certificate_is_refused(engine, cert):
    async with SmtpSink(tls="tls", cert=cert) as sink:
        email = channel_for(sink, engine, tls=SmtpTls.TLS)  # the system's CAs only
        report, row = await _send_one(engine, email)
    assert report.retried == 1 and "CERTIFICATE_VERIFY_FAILED" in row.last_error
    assert sink.received == []


async def test_a_server_that_never_answers_times_out(engine):
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # never greets; returns when the client hangs up
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    async with server:
        port = server.sockets[0].getsockname()[1]
        email = channel_for(SmtpSink(), engine, timeout=0.2)
        email.port = port
        report, row = await _send_one(engine, email)
    assert report.retried == 1 and "timed out" in row.last_error.lower()


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    for name in ("SMTP_HOST", "SMTP_PORT", "SMTP_USERNAME", "SMTP_PASSWORD", "SMTP_TLS",
                 "ARSEQ_FROM_EMAIL", "ARSEQ_PUBLIC_URL", "TELEGRAM_BOT_TOKEN"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no stray .env
    return monkeypatch


async def test_no_smtp_host_means_no_email_channel(engine, clean_env):
    adapters = build_adapters(load_settings(), engine)
    assert "email" not in adapters.channels


async def test_the_adapters_send_email_and_close_the_connection(engine, clean_env):
    async with SmtpSink() as sink:
        for name, value in {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(sink.port),
                            "SMTP_TLS": "none", "ARSEQ_FROM_EMAIL": SENDER}.items():  # fmt: skip
            clean_env.setenv(name, value)
        adapters = build_adapters(load_settings(), engine)
        ids = await ledger(engine)
        await queue(engine, ids)
        report = await dispatch_once(engine, adapters.channels, now=NOW, worker="w")
        assert report.sent == 1 and sink.open_connections == 1
        await adapters.aclose()
        await sink.wait_no_connections()
    assert sink.received[0].parsed()["From"] == SENDER
