"""Configuration: every variable of SPEC section 2, validated at start-up.

`load_settings()` turns pydantic's errors into one line per bad variable, naming it.
"""

from __future__ import annotations

import re
import string
from datetime import time, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AliasChoices, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

_CHANNEL_ID = re.compile(r"^[CG][A-Z0-9]{6,}$")
_PRINCIPAL_ID = re.compile(r"^[UWS][A-Z0-9]{6,}$")
_TELEGRAM_TOKEN = re.compile(r"^\d+:[A-Za-z0-9_-]{20,}$")
_TELEGRAM_SECRET = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
_EMAIL = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")
_PAY_URL_FIELDS = {"invoice", "customer", "amount"}
_DURATION_UNITS = {"s": timedelta(seconds=1), "m": timedelta(minutes=1),
                   "h": timedelta(hours=1), "d": timedelta(days=1)}  # fmt: skip
_DRIVERS = {"sqlite+aiosqlite", "postgresql+asyncpg"}


class SmtpTls(StrEnum):
    NONE = "none"
    STARTTLS = "starttls"
    TLS = "tls"


class SettingsError(Exception):
    """Start-up configuration is wrong; `lines` has one line per bad variable."""

    def __init__(self, lines: list[str]) -> None:
        self.lines = lines
        super().__init__("\n".join(lines))


def _env(*names: str) -> Any:
    return Field(default=None, validation_alias=AliasChoices(*names))


def _split_ids(value: Any) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return list(value)


def _http_url(value: str | None) -> str | None:
    if value is None or value == "":
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"expected an http(s):// URL, got {value!r}")
    return value.rstrip("/")


class Settings(BaseSettings):
    """ARSeq's configuration, from the environment or a `.env` file."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False
    )

    database_url: str = Field(
        default="sqlite+aiosqlite:///arseq.db", validation_alias="ARSEQ_DATABASE_URL"
    )
    timezone: str = Field(default="UTC", validation_alias="ARSEQ_TIMEZONE")
    public_url: str = Field(default="http://localhost:8080", validation_alias="ARSEQ_PUBLIC_URL")
    pay_url: str | None = _env("ARSEQ_PAY_URL")
    tasks_channel: str | None = _env("ARSEQ_TASKS_CHANNEL")
    escalations_channel: str | None = _env("ARSEQ_ESCALATIONS_CHANNEL")
    digest_channel: str | None = _env("ARSEQ_DIGEST_CHANNEL")
    digest_time: time = Field(default=time(9, 0), validation_alias="ARSEQ_DIGEST_TIME")
    forewarn_time: time = Field(default=time(15, 0), validation_alias="ARSEQ_FOREWARN_TIME")
    managers: Annotated[list[str], NoDecode] = Field(
        default_factory=list, validation_alias="ARSEQ_MANAGERS"
    )
    collectors: Annotated[list[str], NoDecode] = Field(
        default_factory=list, validation_alias="ARSEQ_COLLECTORS"
    )
    slack_bot_token: str | None = _env("SLACK_BOT_TOKEN")
    slack_signing_secret: str | None = _env("SLACK_SIGNING_SECRET")
    slack_app_token: str | None = _env("SLACK_APP_TOKEN")
    slack_api_url: str | None = _env("SLACK_API_URL")
    telegram_bot_token: str | None = _env("TELEGRAM_BOT_TOKEN")
    telegram_api_url: str | None = _env("TELEGRAM_API_URL")
    telegram_webhook_secret: str | None = _env("TELEGRAM_WEBHOOK_SECRET")
    smtp_host: str | None = _env("SMTP_HOST")
    smtp_port: int | None = Field(default=None, ge=1, le=65535, validation_alias="SMTP_PORT")
    smtp_username: str | None = _env("SMTP_USERNAME")
    smtp_password: str | None = _env("SMTP_PASSWORD")
    smtp_tls: SmtpTls = Field(default=SmtpTls.STARTTLS, validation_alias="SMTP_TLS")
    from_email: str | None = _env("ARSEQ_FROM_EMAIL")
    imap_url: str | None = _env("IMAP_URL")
    frequency_cap: timedelta = Field(
        default=timedelta(days=2), validation_alias="ARSEQ_FREQUENCY_CAP"
    )
    promise_grace: timedelta = Field(
        default=timedelta(days=3), validation_alias="ARSEQ_PROMISE_GRACE"
    )
    min_balance: Decimal = Field(default=Decimal(0), ge=0, validation_alias="ARSEQ_MIN_BALANCE")
    exclude_tag: str | None = Field(default="no-reminders", validation_alias="ARSEQ_EXCLUDE_TAG")
    tick_every: timedelta = Field(default=timedelta(minutes=1), validation_alias="ARSEQ_TICK_EVERY")
    dispatch_lease: timedelta = Field(
        default=timedelta(minutes=5), validation_alias="ARSEQ_DISPATCH_LEASE"
    )

    @field_validator("*", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: Any) -> Any:
        # `FOO=` in a .env file means "not set", not "set to the empty string".
        return None if isinstance(value, str) and value.strip() == "" else value

    @field_validator(
        "frequency_cap", "promise_grace", "tick_every", "dispatch_lease", mode="before"
    )
    @classmethod
    def _duration(cls, value: Any) -> Any:
        if isinstance(value, str):
            match = re.fullmatch(r"(\d+)\s*([smhd])", value.strip().lower())
            if match is None:
                raise ValueError(f"expected a duration like 30s, 5m, 48h or 2d, got {value!r}")
            return int(match.group(1)) * _DURATION_UNITS[match.group(2)]
        return value

    @field_validator("tick_every", "dispatch_lease")
    @classmethod
    def _tick_every(cls, value: timedelta) -> timedelta:
        if not timedelta(seconds=1) <= value <= timedelta(hours=1):
            raise ValueError("expected between 1s and 1h")
        return value

    @field_validator("min_balance", mode="before")
    @classmethod
    def _money(cls, value: Any) -> Any:
        if isinstance(value, str) and not re.fullmatch(r"\d+(\.\d+)?", value.strip()):
            raise ValueError(f"expected an amount like 25 or 9.99, got {value!r}")
        return value

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        try:
            url = make_url(value)
        except ArgumentError:
            raise ValueError(f"not a database URL: {value!r}") from None
        driver = f"{url.get_backend_name()}+{url.get_driver_name()}"
        if driver not in _DRIVERS:
            raise ValueError(
                f"use sqlite+aiosqlite:///FILE or postgresql+asyncpg://..., got {driver}"
            )
        return value

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (use an IANA name)") from None
        return value

    @field_validator("public_url", "slack_api_url", "telegram_api_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        return _http_url(value)

    @field_validator("pay_url")
    @classmethod
    def _pay_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        _http_url(value)
        try:
            names = {f for _, f, _, _ in string.Formatter().parse(value) if f is not None}
        except ValueError as exc:
            raise ValueError(f"bad placeholder in {value!r}: {exc}") from None
        unknown = names - _PAY_URL_FIELDS
        if unknown:
            raise ValueError(
                f"unknown placeholder {{{sorted(unknown)[0]}}}; use {{invoice}}, "
                "{customer} or {amount}"
            )
        return value

    @field_validator("tasks_channel", "escalations_channel", "digest_channel")
    @classmethod
    def _channel(cls, value: str | None) -> str | None:
        if value is not None and not _CHANNEL_ID.match(value):
            raise ValueError(f"expected a Slack channel id like C0123ABCD, got {value!r}")
        return value

    @field_validator("digest_time", "forewarn_time", mode="before")
    @classmethod
    def _digest_time(cls, value: Any) -> Any:
        if isinstance(value, str):
            if not re.fullmatch(r"\d{1,2}:\d{2}", value.strip()):
                raise ValueError(f"expected HH:MM (24-hour), got {value!r}")
            hour, minute = (int(p) for p in value.strip().split(":"))
            if hour > 23 or minute > 59:
                raise ValueError(f"expected HH:MM (24-hour), got {value!r}")
            return time(hour, minute)
        return value

    @field_validator("managers", "collectors", mode="before")
    @classmethod
    def _principals(cls, value: Any) -> list[str]:
        ids = _split_ids(value)
        bad = [i for i in ids if not _PRINCIPAL_ID.match(i)]
        if bad:
            raise ValueError(f"expected Slack user or user group ids (U…, W…, S…), got {bad[0]!r}")
        return ids

    @field_validator("slack_bot_token")
    @classmethod
    def _bot_token(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("xoxb-"):
            raise ValueError("expected a bot token starting with xoxb-")
        return value

    @field_validator("slack_app_token")
    @classmethod
    def _app_token(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("xapp-"):
            raise ValueError("expected an app-level token starting with xapp-")
        return value

    @field_validator("telegram_bot_token")
    @classmethod
    def _telegram_token(cls, value: str | None) -> str | None:
        if value is not None and not _TELEGRAM_TOKEN.match(value):
            raise ValueError("expected a BotFather token like 123456:ABC-DEF...")
        return value

    @field_validator("telegram_webhook_secret")
    @classmethod
    def _telegram_secret(cls, value: str | None) -> str | None:
        if value is not None and not _TELEGRAM_SECRET.match(value):
            raise ValueError("1-256 characters of A-Z, a-z, 0-9, _ and - (Telegram's rule)")
        return value

    @field_validator("smtp_tls", mode="before")
    @classmethod
    def _smtp_tls(cls, value: Any) -> Any:
        if isinstance(value, str):
            lowered = value.strip().lower()
            if lowered not in {m.value for m in SmtpTls}:
                raise ValueError(f"expected none, starttls or tls, got {value!r}")
            return lowered
        return value

    @field_validator("from_email")
    @classmethod
    def _from_email(cls, value: str | None) -> str | None:
        if value is not None and not _EMAIL.match(value.strip()):
            raise ValueError(f"not an email address: {value!r}")
        return value

    @field_validator("imap_url")
    @classmethod
    def _imap_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("imap", "imaps") or not parts.hostname or not parts.username:
            raise ValueError("expected imaps://user:password@host/INBOX")
        return value

    @model_validator(mode="after")
    def _pairs(self) -> Settings:
        problems: list[tuple[str, str]] = []
        if self.slack_bot_token and not self.slack_app_token and not self.slack_signing_secret:
            problems.append(("SLACK_SIGNING_SECRET", "required in HTTP mode (no SLACK_APP_TOKEN)"))
        if self.smtp_host and not self.from_email:
            problems.append(("ARSEQ_FROM_EMAIL", "required when SMTP_HOST is set"))
        if problems:
            raise ValueError("; ".join(f"{name}: {msg}" for name, msg in problems))
        return self

    @property
    def slack_enabled(self) -> bool:
        return bool(self.slack_bot_token)

    @property
    def telegram_enabled(self) -> bool:
        return bool(self.telegram_bot_token)

    @property
    def email_enabled(self) -> bool:
        return bool(self.smtp_host)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def startup_report(self) -> list[str]:
        """One line per channel that is off and why: reported at start-up, never fatal."""
        lines = []
        if not self.slack_enabled:
            lines.append("Slack: off (SLACK_BOT_TOKEN not set)")
        else:
            for label, value, var in (
                ("tasks", self.tasks_channel, "ARSEQ_TASKS_CHANNEL"),
                ("escalations", self.escalations_channel, "ARSEQ_ESCALATIONS_CHANNEL"),
                ("digest", self.digest_channel, "ARSEQ_DIGEST_CHANNEL"),
            ):
                if not value:
                    lines.append(f"Slack {label} channel: off ({var} not set), skipped")
        if not self.telegram_enabled:
            lines.append("Telegram: off (TELEGRAM_BOT_TOKEN not set)")
        if not self.email_enabled:
            lines.append("Email: off (SMTP_HOST not set)")
        if not self.imap_url:
            lines.append("Reply capture: off (IMAP_URL not set)")
        return lines


def _variable_name(loc: tuple[Any, ...]) -> str:
    field = str(loc[0]) if loc else ""
    info = Settings.model_fields.get(field)
    alias = info.validation_alias if info else None
    if isinstance(alias, str):
        return alias
    if isinstance(alias, AliasChoices):
        return str(alias.choices[0])
    return field or "configuration"


def load_settings(**overrides: Any) -> Settings:
    """Read and validate the configuration; raise SettingsError with one line per problem."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            msg = str(err["msg"]).removeprefix("Value error, ")
            if err["loc"]:
                lines.append(f"{_variable_name(err['loc'])}: {msg}")
            else:
                lines.append(msg)  # cross-field checks already name their variables
        raise SettingsError(lines) from None
