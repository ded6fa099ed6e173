"""The grammar of `/ar` (SPEC section 4): the text of a command into a typed command (pure).

Words are split like a shell (quotes keep "Acme Corp" one word; Slack's curly quotes
count too). Malformed input raises `UsageError` naming what is wrong and carrying the
subcommand's usage line, so a user always sees how to write it.
"""

from __future__ import annotations

import html
import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation

from sequences.definitions import did_you_mean

SEQUENCE_PREFIX = "sequence:"

# Each subcommand's usage line, in the order `/ar help` lists them.
USAGE: dict[str, str] = {
    "help": "/ar help",
    "status": "/ar status CUSTOMER",
    "sequences": "/ar sequences",
    "sequence show": "/ar sequence show NAME",
    "sequence new": "/ar sequence new",
    "enroll": "/ar enroll CUSTOMER|INVOICE SEQUENCE",
    "unenroll": "/ar unenroll CUSTOMER|INVOICE SEQUENCE",
    "pause": "/ar pause CUSTOMER|INVOICE|sequence:NAME [7d|until YYYY-MM-DD] [reason]",
    "resume": "/ar resume CUSTOMER|INVOICE|sequence:NAME",
    "dispute": "/ar dispute INVOICE reason...",
    "resolve": "/ar resolve INVOICE resolution...",
    "promise": "/ar promise INVOICE YYYY-MM-DD [amount]",
    "tasks": "/ar tasks [@user]",
    "kpi": "/ar kpi",
    "preview": "/ar preview SEQUENCE CUSTOMER",
    "link": "/ar link CUSTOMER",
    "checklist": "/ar checklist CUSTOMER [item]",
}
# What each does, for `/ar help` and the manifest's description.
SUMMARY: dict[str, str] = {
    "help": "this list",
    "status": "balance, aging, open invoices, sequences, last touches, disputes, promises",
    "sequences": "sequences with their running enrollment counts",
    "sequence show": "a sequence's steps",
    "sequence new": "build a sequence in a form (managers)",
    "enroll": "start a sequence for a customer or an invoice",
    "unenroll": "stop a sequence for a customer or an invoice",
    "pause": "hold touches, indefinitely, for a time or until a date (sequence: managers)",
    "resume": "lift a pause",
    "dispute": "open a dispute on an invoice",
    "resolve": "resolve an invoice's dispute",
    "promise": "record a promise to pay",
    "tasks": "open collector tasks, everyone's or one person's",
    "kpi": "today's KPIs",
    "preview": "what a sequence would send a customer (nothing is sent)",
    "link": "a one-time Telegram link for the customer's contact",
    "checklist": "a customer's onboarding checklist; with an item, tick it as done",
}
SUBCOMMANDS: tuple[str, ...] = tuple(USAGE)
_WORDS = sorted({name.split()[0] for name in USAGE})


class UsageError(ValueError):
    """Malformed `/ar` input: what is wrong, and the usage line of the subcommand."""

    def __init__(self, message: str, usage: str) -> None:
        super().__init__(message)
        self.message = message
        self.usage = usage


@dataclass(frozen=True)
class Target:
    """What enroll, pause and resume act on: a whole sequence, or a name resolved later
    (an invoice number first, else a customer)."""

    text: str
    sequence: str | None = None  # set for `sequence:NAME`


@dataclass(frozen=True)
class Help:
    name = "help"


@dataclass(frozen=True)
class Status:
    customer: str
    name = "status"


@dataclass(frozen=True)
class Sequences:
    name = "sequences"


@dataclass(frozen=True)
class SequenceShow:
    sequence: str
    name = "sequence show"


@dataclass(frozen=True)
class SequenceNew:
    name = "sequence new"


@dataclass(frozen=True)
class Enroll:
    target: Target
    sequence: str
    name = "enroll"


@dataclass(frozen=True)
class Unenroll:
    target: Target
    sequence: str
    name = "unenroll"


@dataclass(frozen=True)
class Pause:
    target: Target
    duration: timedelta | None = None  # `7d`
    until: date | None = None  # `until 2026-04-01`
    reason: str | None = None
    name = "pause"


@dataclass(frozen=True)
class Resume:
    target: Target
    name = "resume"


@dataclass(frozen=True)
class OpenDispute:
    invoice: str
    reason: str
    name = "dispute"


@dataclass(frozen=True)
class Resolve:
    invoice: str
    resolution: str
    name = "resolve"


@dataclass(frozen=True)
class PromiseToPay:
    invoice: str
    promised_date: date
    amount: Decimal | None = None
    name = "promise"


@dataclass(frozen=True)
class Tasks:
    user: str | None = None  # a Slack user id
    name = "tasks"


@dataclass(frozen=True)
class Kpi:
    name = "kpi"


@dataclass(frozen=True)
class Preview:
    sequence: str
    customer: str
    name = "preview"


@dataclass(frozen=True)
class Link:
    customer: str
    name = "link"


@dataclass(frozen=True)
class ChecklistCommand:
    customer: str
    item: str | None = None  # None: show the checklist
    name = "checklist"


Command = (
    Help | Status | Sequences | SequenceShow | SequenceNew | Enroll | Unenroll | Pause | Resume
    | OpenDispute | Resolve | PromiseToPay | Tasks | Kpi | Preview | Link | ChecklistCommand
)  # fmt: skip

_CURLY = str.maketrans({"\u201c": '"', "\u201d": '"'})
_MENTION = re.compile(r"^<@([UW][A-Z0-9]+)(?:\|[^>]*)?>$")
_DURATION = re.compile(r"^(\d+)([dw])$")
_AMOUNT = re.compile(r"^\d+(?:\.\d{1,2})?$")


def words(text: str) -> list[str]:
    """The words of a command: "double quotes" group words; Slack's HTML escapes undone."""
    # Only double quotes group words: an apostrophe is part of a name (O'Brien).
    lexer = shlex.shlex(text.translate(_CURLY), posix=True)
    lexer.whitespace_split, lexer.quotes, lexer.escape = True, '"', ""
    lexer.commenters = ""  # "#" is text here (item #3)
    try:
        parts = list(lexer)
    except ValueError:
        raise UsageError("a quote is not closed", USAGE["help"]) from None
    # Slack escapes &, < and > in the text; mentions stay as <@U…|name>.
    return [p if _MENTION.match(p) else html.unescape(p) for p in parts]


def parse(text: str) -> Command:
    """The typed command `text` (what follows `/ar`) names; UsageError when malformed."""
    parts = words(text)
    if not parts:
        return Help()
    head, args = parts[0].lower(), parts[1:]
    if head == "sequence":
        return _sequence(args)
    parser = _PARSERS.get(head)
    if parser is None:
        hint = did_you_mean(head, _WORDS)
        hint = f" ({hint})" if hint else ""
        raise UsageError(f"unknown subcommand '{parts[0]}'{hint}; try /ar help", USAGE["help"])
    return parser(args)


def _fail(subcommand: str, message: str) -> UsageError:
    return UsageError(message, USAGE[subcommand])


def _exactly(subcommand: str, args: list[str], names: tuple[str, ...]) -> list[str]:
    if len(args) < len(names):
        raise _fail(subcommand, f"missing {names[len(args)]}")
    if len(args) > len(names):
        extra = " ".join(args[len(names) :])
        quote = " (quote a name with spaces)" if names else ""
        raise _fail(subcommand, f"unexpected '{extra}'{quote}")
    return args


def _nothing(command: Command) -> Callable[[list[str]], Command]:
    def parse_none(args: list[str]) -> Command:
        _exactly(command.name, args, ())
        return command

    return parse_none


def _sequence(args: list[str]) -> Command:
    action = args[0].lower() if args else ""
    if action == "show":
        return SequenceShow(_exactly("sequence show", args[1:], ("NAME",))[0])
    if action == "new":
        _exactly("sequence new", args[1:], ())
        return SequenceNew()
    usage = f"{USAGE['sequence show']}  or  {USAGE['sequence new']}"
    if not action:
        raise UsageError("missing show or new", usage)
    raise UsageError(f"unknown '{args[0]}': expected show or new", usage)


def _target(subcommand: str, text: str) -> Target:
    if text.lower().startswith(SEQUENCE_PREFIX):
        name = text[len(SEQUENCE_PREFIX) :].strip()
        if not name:
            raise _fail(subcommand, "missing the sequence name after 'sequence:'")
        return Target(text, sequence=name)
    return Target(text)


def _enroll(args: list[str]) -> Command:
    target, sequence = _exactly("enroll", args, ("CUSTOMER|INVOICE", "SEQUENCE"))
    if target.lower().startswith(SEQUENCE_PREFIX):
        raise _fail("enroll", "enroll a customer or an invoice, not a sequence")
    return Enroll(Target(target), sequence)


def _unenroll(args: list[str]) -> Command:
    target, sequence = _exactly("unenroll", args, ("CUSTOMER|INVOICE", "SEQUENCE"))
    if target.lower().startswith(SEQUENCE_PREFIX):
        raise _fail("unenroll", "unenroll a customer or an invoice, not a sequence")
    return Unenroll(Target(target), sequence)


def parse_date(subcommand: str, text: str) -> date:
    """A YYYY-MM-DD date, or the subcommand's UsageError."""
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        raise _fail(subcommand, f"bad date '{text}': expected YYYY-MM-DD")
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise _fail(subcommand, f"bad date '{text}': no such day") from None


def _pause(args: list[str]) -> Command:
    if not args:
        raise _fail("pause", "missing CUSTOMER|INVOICE|sequence:NAME")
    target, rest = _target("pause", args[0]), args[1:]
    duration: timedelta | None = None
    until: date | None = None
    if rest and rest[0].lower() == "until":
        if len(rest) < 2:
            raise _fail("pause", "missing the date after 'until'")
        until, rest = parse_date("pause", rest[1]), rest[2:]
    elif rest and (match := _DURATION.match(rest[0].lower())):
        count = int(match.group(1))
        if count == 0:
            raise _fail("pause", f"bad duration '{rest[0]}': must be at least 1d")
        duration = timedelta(days=count * (7 if match.group(2) == "w" else 1))
        rest = rest[1:]
    elif rest and re.fullmatch(r"\d+\w*", rest[0]):
        raise _fail("pause", f"bad duration '{rest[0]}': expected a number of days like 7d")
    reason = " ".join(rest).strip() or None
    return Pause(target, duration=duration, until=until, reason=reason)


def _resume(args: list[str]) -> Command:
    (target,) = _exactly("resume", args, ("CUSTOMER|INVOICE|sequence:NAME",))
    return Resume(_target("resume", target))


def _dispute(args: list[str]) -> Command:
    if not args:
        raise _fail("dispute", "missing INVOICE")
    reason = " ".join(args[1:]).strip()
    if not reason:
        raise _fail("dispute", "missing the reason")
    return OpenDispute(args[0], reason)


def _resolve(args: list[str]) -> Command:
    if not args:
        raise _fail("resolve", "missing INVOICE")
    resolution = " ".join(args[1:]).strip()
    if not resolution:
        raise _fail("resolve", "missing the resolution")
    return Resolve(args[0], resolution)


def _promise(args: list[str]) -> Command:
    if len(args) < 2:
        raise _fail("promise", "missing " + ("INVOICE" if not args else "the date YYYY-MM-DD"))
    if len(args) > 3:
        raise _fail("promise", f"unexpected '{' '.join(args[3:])}'")
    promised = parse_date("promise", args[1])
    amount = None
    if len(args) == 3:
        text = args[2]
        if not _AMOUNT.match(text):
            raise _fail("promise", f"bad amount '{text}': expected a number like 1250.50")
        try:
            amount = Decimal(text)
        except InvalidOperation:  # pragma: no cover - the pattern admits only numbers
            raise _fail("promise", f"bad amount '{text}'") from None
        if amount <= 0:
            raise _fail("promise", f"bad amount '{text}': must be more than 0")
    return PromiseToPay(args[0], promised, amount)


def _tasks(args: list[str]) -> Command:
    if not args:
        return Tasks()
    (who,) = _exactly("tasks", args, ("@user",))
    match = _MENTION.match(who)
    if match is None:
        raise _fail("tasks", f"'{who}' is not a user: pick one with @ so Slack links it")
    return Tasks(match.group(1))


def _preview(args: list[str]) -> Command:
    sequence, customer = _exactly("preview", args, ("SEQUENCE", "CUSTOMER"))
    return Preview(sequence, customer)


def _status(args: list[str]) -> Command:
    return Status(_exactly("status", args, ("CUSTOMER",))[0])


def _link(args: list[str]) -> Command:
    return Link(_exactly("link", args, ("CUSTOMER",))[0])


def _checklist(args: list[str]) -> Command:
    if not args:
        raise _fail("checklist", "missing CUSTOMER")
    item = " ".join(args[1:]).strip()
    return ChecklistCommand(args[0], item or None)


_PARSERS: dict[str, Callable[[list[str]], Command]] = {
    "help": _nothing(Help()),
    "status": _status,
    "sequences": _nothing(Sequences()),
    "enroll": _enroll,
    "unenroll": _unenroll,
    "pause": _pause,
    "resume": _resume,
    "dispute": _dispute,
    "resolve": _resolve,
    "promise": _promise,
    "tasks": _tasks,
    "kpi": _nothing(Kpi()),
    "preview": _preview,
    "link": _link,
    "checklist": _checklist,
}
