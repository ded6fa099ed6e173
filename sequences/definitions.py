"""Sequence definitions: the pydantic models of a sequence, its steps and its send window.

A value is checked as it is read: a bad one raises `Invalid`, whose hint says what would
be right. Reading YAML with every problem at its line is `sequences.definition_loading`;
the checks that span fields, steps and templates are `sequences.definition_checks`.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from datetime import time
from enum import StrEnum
from functools import lru_cache
from typing import Annotated

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    field_serializer,
    field_validator,
    model_validator,
)

from sequences.calendar import OffsetError, parse_offset
from sequences.templates import Problem as Problem

DURATION_RE = re.compile(r"^[1-9]\d*(d|bd)$")
SLACK_ID_RE = re.compile(r"^[UWS][A-Z0-9]{2,}$")
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
ESCALATION_LEVELS = ("team", "owner", "collectors", "managers")


class Kind(StrEnum):
    ONBOARDING = "onboarding"
    INVOICING = "invoicing"
    PAST_DUE = "past_due"
    DISPUTES = "disputes"


class Trigger(StrEnum):
    CUSTOMER_CREATED = "customer_created"
    INVOICE_CREATED = "invoice_created"
    INVOICE_OVERDUE = "invoice_overdue"
    DISPUTE_OPENED = "dispute_opened"
    MANUAL = "manual"


class ExitEvent(StrEnum):
    PAID = "paid"
    DISPUTED = "disputed"
    PROMISED = "promised"
    REPLIED = "replied"
    OPTED_OUT = "opted_out"
    RESOLVED = "resolved"  # the dispute was resolved (disputes sequences only)


class SendChannel(StrEnum):
    EMAIL = "email"
    TELEGRAM = "telegram"
    PREFERRED = "preferred"


TARGET_OF_KIND = {"onboarding": "customer", "invoicing": "invoice", "past_due": "invoice"}
TARGET_OF_TRIGGER = {
    "customer_created": "customer",
    "invoice_created": "invoice",
    "invoice_overdue": "invoice",
    "dispute_opened": "dispute",
}
ANCHORS = {"customer": ("start",), "invoice": ("due", "issued", "start")}


class Invalid(ValueError):
    """A validation failure with a hint for the user."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.hint = hint


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """A hint naming the choice closest to `word`, or "" when none is close."""
    match = difflib.get_close_matches(word, list(choices), n=1)
    return f"did you mean '{match[0]}'?" if match else ""


def _offset(value: object) -> object:
    try:
        offset = parse_offset(value)  # type: ignore[arg-type]
    except OffsetError:
        raise Invalid(
            f"bad offset '{value}'", "like due+7d, due-3d, issued, start+2bd, opened+1bd"
        ) from None
    return str(offset)  # one spelling: " Due + 7D " is stored as due+7d


def _duration(value: object) -> object:
    if not DURATION_RE.match(str(value)):
        raise Invalid(f"bad interval '{value}'", "a positive number of days: 5d, or 3bd")
    return value


def _hhmm(value: object) -> object:
    if not (isinstance(value, str) and re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", value)):
        raise Invalid(f"bad time '{value}'", 'HH:MM on a 24-hour clock, e.g. "09:00"')
    return value


def _escalation(value: str) -> str:
    if value not in ESCALATION_LEVELS and not SLACK_ID_RE.match(value):
        hint = did_you_mean(value, ESCALATION_LEVELS) or "one of " + ", ".join(ESCALATION_LEVELS)
        raise Invalid(f"unknown escalation target '{value}'", f"{hint} or a Slack id (U…/S…)")
    return value


@lru_cache(maxsize=256)
def _weekdays(spec: str) -> frozenset[int]:
    days: set[int] = set()
    for part in spec.lower().replace(" ", "").split(","):
        first, _, last = part.partition("-")
        if first not in DAYS or (last and last not in DAYS):
            raise Invalid(f"bad days '{spec}'", "like mon-fri, or mon,wed,fri, or sun-thu")
        start, end = DAYS.index(first), DAYS.index(last or first)
        days.update((start + i) % 7 for i in range((end - start) % 7 + 1))
    return frozenset(days)


Offset = Annotated[str, BeforeValidator(_offset)]
Name = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]*$", max_length=64)]
TemplateName = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]*$", max_length=64)]
Text = Annotated[str, Field(min_length=1)]
Clock = Annotated[time, BeforeValidator(_hhmm)]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class Repeat(_Model):
    """Run the step again `times` more times, `every` days or business days apart."""

    every: Annotated[str, BeforeValidator(_duration)]
    times: int = Field(ge=1, le=50)


class SendWindow(_Model):
    """When customer messages may leave, in the customer's time zone."""

    days: str = "mon-fri"
    from_: Clock = Field(time(9), alias="from")
    to: Clock = time(17)

    @field_validator("days")
    @classmethod
    def _days(cls, value: str) -> str:
        _weekdays(value)
        return value

    @model_validator(mode="after")
    def _order(self) -> SendWindow:
        if self.from_ >= self.to:
            raise Invalid("'from' must be before 'to'", "e.g. from: 09:00, to: 17:00")
        return self

    @property
    def weekdays(self) -> frozenset[int]:
        """The allowed days, Monday = 0."""
        return _weekdays(self.days)

    @field_serializer("from_", "to")
    def _hm(self, value: time) -> str:
        return value.strftime("%H:%M")


class Step(_Model):
    """One step: exactly one action of `send`, `task` or `escalate`, at offset `at`.

    Escalate steps of a disputes sequence stop once the dispute is acknowledged.
    """

    at: Offset
    send: SendChannel | None = None
    template: TemplateName | None = None
    variants: tuple[TemplateName, ...] | None = None
    subject: Text | None = None
    body: Text | None = None
    task: Text | None = None
    escalate: tuple[str, ...] | None = None
    repeat: Repeat | None = None
    checklist: tuple[Text, ...] | None = None

    @field_validator("escalate", mode="before")
    @classmethod
    def _one_or_many(cls, value: object) -> object:
        return (value,) if isinstance(value, str) else value

    @field_validator("escalate")
    @classmethod
    def _targets(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if value is None:
            return None
        if not value:
            raise Invalid("escalate needs a target", "managers, or a list of Slack ids/levels")
        return tuple(_escalation(v) for v in value)

    @model_validator(mode="after")
    def _one_action(self) -> Step:
        actions = [a for a in ("send", "task", "escalate") if getattr(self, a) is not None]
        if len(actions) != 1:
            found = " and ".join(actions) or "none"
            msg = f"a step needs exactly one action (found {found})"
            raise Invalid(msg, "send, task or escalate")
        message_keys = [k for k in ("template", "variants", "subject", "body") if getattr(self, k)]
        if self.send is None and message_keys:
            raise Invalid(f"'{message_keys[0]}' belongs to a send step", "add send: email")
        if self.send is not None:
            self._check_message()
        return self

    def _check_message(self) -> None:
        inline = self.subject is not None or self.body is not None
        if self.template and inline:
            raise Invalid("a step has a template or an inline subject/body, not both")
        if not self.template and self.body is None:
            raise Invalid("a send step needs a template or an inline body", "template: NAME")
        if inline and self.subject is None and self.send != SendChannel.TELEGRAM:
            raise Invalid("an inline email needs a subject", "add subject: ...")
        if self.variants is not None and (not self.template or len(set(self.variants)) < 2):
            raise Invalid("variants need a template and two different template names")


class Sequence(_Model):
    """A named list of steps run for one target, started by `trigger`."""

    name: Name
    description: str = ""
    kind: Kind
    trigger: Trigger
    active: bool = True
    exit_on: tuple[ExitEvent, ...] = ()
    send_window: SendWindow = SendWindow()
    steps: tuple[Step, ...] = Field(min_length=1)
    _source: str = PrivateAttr("")
    _lines: dict[str, int] = PrivateAttr(default_factory=dict)

    @field_validator("exit_on")
    @classmethod
    def _unique(cls, value: tuple[ExitEvent, ...]) -> tuple[ExitEvent, ...]:
        if len(set(value)) != len(value):
            raise Invalid("exit_on lists an event twice")
        return value

    @property
    def target(self) -> str:
        """What one enrollment is about: customer, invoice or dispute."""
        return TARGET_OF_KIND.get(self.kind, "dispute")

    def __eq__(self, other: object) -> bool:  # where it was loaded from does not count
        return type(other) is type(self) and self.__dict__ == other.__dict__

    def __hash__(self) -> int:
        return hash(tuple(self.__dict__.values()))
