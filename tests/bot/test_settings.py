"""Start-up configuration: defaults, and one clear line per bad variable."""

from datetime import time

import pytest

from bot.settings import Settings, SettingsError, SmtpTls, load_settings

ALL_VARS = [
    "ARSEQ_DATABASE_URL",
    "ARSEQ_TIMEZONE",
    "ARSEQ_PUBLIC_URL",
    "ARSEQ_PAY_URL",
    "ARSEQ_TASKS_CHANNEL",
    "ARSEQ_ESCALATIONS_CHANNEL",
    "ARSEQ_DIGEST_CHANNEL",
    "ARSEQ_DIGEST_TIME",
    "ARSEQ_MANAGERS",
    "ARSEQ_COLLECTORS",
    "SLACK_BOT_TOKEN",
    "SLACK_SIGNING_SECRET",
    "SLACK_APP_TOKEN",
    "SLACK_API_URL",
    "TELEGRAM_BOT_TOKEN",
    "TELEGRAM_API_URL",
    "TELEGRAM_WEBHOOK_SECRET",
    "SMTP_HOST",
    "SMTP_PORT",
    "SMTP_USERNAME",
    "SMTP_PASSWORD",
    "SMTP_TLS",
    "ARSEQ_FROM_EMAIL",
    "IMAP_URL",
]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    for name in ALL_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no stray .env from the developer's folder


def test_every_variable_of_the_spec_is_a_setting():
    aliases = set()
    for info in Settings.model_fields.values():
        alias = info.validation_alias
        aliases.update(getattr(alias, "choices", [alias]))
    assert set(ALL_VARS) <= aliases


def test_defaults_need_nothing_configured():
    s = load_settings()
    assert s.database_url == "sqlite+aiosqlite:///arseq.db"
    assert s.timezone == "UTC" and s.digest_time == time(9, 0)
    assert s.public_url == "http://localhost:8080"
    assert s.pay_url is None and s.managers == [] and s.smtp_tls is SmtpTls.STARTTLS
    assert not (s.slack_enabled or s.telegram_enabled or s.email_enabled)


def test_a_full_valid_configuration(monkeypatch):
    env = {
        "ARSEQ_DATABASE_URL": "postgresql+asyncpg://arseq:pw@db:5432/arseq",
        "ARSEQ_TIMEZONE": "Europe/Paris",
        "ARSEQ_PUBLIC_URL": "https://ar.example.com/",
        "ARSEQ_PAY_URL": "https://pay.example.com/{invoice}?c={customer}&a={amount}",
        "ARSEQ_TASKS_CHANNEL": "C0123ABCD",
        "ARSEQ_DIGEST_TIME": "07:30",
        "ARSEQ_MANAGERS": "U0123ABCD, S0456EFGH",
        "ARSEQ_COLLECTORS": "U0999XXXX",
        "SLACK_BOT_TOKEN": "xoxb-1-2-3",
        "SLACK_SIGNING_SECRET": "s3cret",
        "TELEGRAM_BOT_TOKEN": "123456:ABCdefGHIjklMNOpqrSTUvwxYZ",
        "TELEGRAM_WEBHOOK_SECRET": "abc_DEF-123",
        "SMTP_HOST": "smtp.example.com",
        "SMTP_PORT": "465",
        "SMTP_TLS": "TLS",
        "ARSEQ_FROM_EMAIL": "ar@example.com",
        "IMAP_URL": "imaps://ar:pw@imap.example.com/INBOX",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    s = load_settings()
    assert s.public_url == "https://ar.example.com"
    assert s.managers == ["U0123ABCD", "S0456EFGH"] and s.collectors == ["U0999XXXX"]
    assert s.digest_time == time(7, 30) and s.smtp_port == 465 and s.smtp_tls is SmtpTls.TLS
    assert s.zone.key == "Europe/Paris"
    assert s.slack_enabled and s.telegram_enabled and s.email_enabled


@pytest.mark.parametrize(
    ("name", "value", "fragment"),
    [
        ("ARSEQ_DATABASE_URL", "mysql://x/y", "sqlite+aiosqlite"),
        ("ARSEQ_DATABASE_URL", "not a url", "not a database URL"),
        ("ARSEQ_TIMEZONE", "Mars/Olympus", "unknown time zone"),
        ("ARSEQ_PUBLIC_URL", "ftp://x", "http(s)://"),
        ("ARSEQ_PAY_URL", "https://pay/{inv}", "unknown placeholder {inv}"),
        ("ARSEQ_PAY_URL", "https://pay/{invoice", "bad placeholder"),
        ("ARSEQ_TASKS_CHANNEL", "#ar-tasks", "channel id"),
        ("ARSEQ_DIGEST_TIME", "9am", "HH:MM"),
        ("ARSEQ_DIGEST_TIME", "25:00", "HH:MM"),
        ("ARSEQ_MANAGERS", "U0123ABCD,bob", "'bob'"),
        ("SLACK_BOT_TOKEN", "xoxp-user", "xoxb-"),
        ("SLACK_APP_TOKEN", "xoxb-1", "xapp-"),
        ("TELEGRAM_BOT_TOKEN", "nope", "BotFather"),
        ("TELEGRAM_WEBHOOK_SECRET", "has space", "Telegram"),
        ("SMTP_PORT", "99999", "65535"),
        ("SMTP_TLS", "ssl", "none, starttls or tls"),
        ("ARSEQ_FROM_EMAIL", "not-an-address", "email address"),
        ("IMAP_URL", "http://x", "imaps://"),
        ("ARSEQ_FREQUENCY_CAP", "two days", "48h or 2d"),
        ("ARSEQ_PROMISE_GRACE", "3w", "48h or 2d"),
        ("ARSEQ_TICK_EVERY", "often", "30s, 5m"),
        ("ARSEQ_TICK_EVERY", "2h", "between 1s and 1h"),
        ("ARSEQ_TICK_EVERY", "0s", "between 1s and 1h"),
        ("ARSEQ_MIN_BALANCE", "1,000", "an amount"),
        ("ARSEQ_MIN_BALANCE", "-5", "an amount"),
    ],
)
def test_a_bad_variable_gives_one_line_naming_it(monkeypatch, name, value, fragment):
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as err:
        load_settings()
    assert len(err.value.lines) == 1
    line = err.value.lines[0]
    assert line.startswith(f"{name}: ") and fragment in line
    assert "\n" not in line


def test_several_bad_variables_give_one_line_each(monkeypatch):
    monkeypatch.setenv("ARSEQ_DIGEST_TIME", "noon")
    monkeypatch.setenv("ARSEQ_TIMEZONE", "Nowhere")
    monkeypatch.setenv("SMTP_PORT", "abc")
    with pytest.raises(SettingsError) as err:
        load_settings()
    names = sorted(line.split(":")[0] for line in err.value.lines)
    assert names == ["ARSEQ_DIGEST_TIME", "ARSEQ_TIMEZONE", "SMTP_PORT"]


def test_settings_that_need_a_partner_say_which(monkeypatch):
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-1")
    monkeypatch.setenv("SMTP_HOST", "smtp.example.com")
    with pytest.raises(SettingsError) as err:
        load_settings()
    text = str(err.value)
    assert "SLACK_SIGNING_SECRET: required in HTTP mode" in text
    assert "ARSEQ_FROM_EMAIL: required when SMTP_HOST is set" in text


def test_socket_mode_needs_no_signing_secret(monkeypatch):
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-1")
    monkeypatch.setenv("SLACK_APP_TOKEN", "xapp-1")
    assert load_settings().slack_enabled


def test_dotenv_file_is_read_and_blank_means_unset(tmp_path):
    (tmp_path / ".env").write_text(
        "ARSEQ_TIMEZONE=America/New_York\nARSEQ_PAY_URL=\nSMTP_PORT=\n", encoding="utf-8"
    )
    s = load_settings()
    assert s.timezone == "America/New_York" and s.pay_url is None and s.smtp_port is None


def test_environment_wins_over_dotenv(monkeypatch, tmp_path):
    (tmp_path / ".env").write_text("ARSEQ_TIMEZONE=America/New_York\n", encoding="utf-8")
    monkeypatch.setenv("ARSEQ_TIMEZONE", "Asia/Tokyo")
    assert load_settings().timezone == "Asia/Tokyo"


def test_unconfigured_channels_are_reported_not_fatal(monkeypatch):
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-1")
    monkeypatch.setenv("SLACK_APP_TOKEN", "xapp-1")
    monkeypatch.setenv("ARSEQ_TASKS_CHANNEL", "C0123ABCD")
    report = load_settings().startup_report()
    assert "Slack digest channel: off (ARSEQ_DIGEST_CHANNEL not set), skipped" in report
    assert not any("tasks channel" in line for line in report)
    assert "Telegram: off (TELEGRAM_BOT_TOKEN not set)" in report
    assert "Email: off (SMTP_HOST not set)" in report


def test_engine_knobs_read_durations_and_amounts(monkeypatch):
    from datetime import timedelta
    from decimal import Decimal

    monkeypatch.setenv("ARSEQ_FREQUENCY_CAP", "36h")
    monkeypatch.setenv("ARSEQ_PROMISE_GRACE", "5d")
    monkeypatch.setenv("ARSEQ_MIN_BALANCE", "9.99")
    s = load_settings()
    assert (s.frequency_cap, s.promise_grace) == (timedelta(hours=36), timedelta(days=5))
    assert s.min_balance == Decimal("9.99") and s.exclude_tag == "no-reminders"
    assert s.tick_every == timedelta(minutes=1)
    monkeypatch.setenv("ARSEQ_TICK_EVERY", "30s")
    assert load_settings().tick_every == timedelta(seconds=30)
