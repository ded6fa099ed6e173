"""Sequence definitions: the models, YAML loading, and validation with line numbers.

Every problem found in a definition is a `Problem` at the line of the YAML key it is
about: pydantic error locations (`steps.2.at`) are mapped onto the composed YAML node tree.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from datetime import time
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, NamedTuple

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_serializer,
    field_validator,
    model_validator,
)
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from sequences import templates, timing
from sequences.templates import Problem as Problem

LIBRARY_DIR = Path(__file__).parent / "library"
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


def _close(word: str, choices: Iterable[str]) -> str:
    match = difflib.get_close_matches(word, list(choices), n=1)
    return f"did you mean '{match[0]}'?" if match else ""


def _offset(value: object) -> object:
    try:
        offset = timing.parse_offset(value)  # type: ignore[arg-type]
    except timing.OffsetError:
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
        hint = _close(value, ESCALATION_LEVELS) or "one of " + ", ".join(ESCALATION_LEVELS)
        raise Invalid(f"unknown escalation target '{value}'", f"{hint} or a Slack id (U…/S…)")
    return value


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


class DefinitionError(ValueError):
    """A definition was refused; `problems` says why, each with its line."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(map(str, problems)))
        self.problems = problems


class _Issue(NamedTuple):
    loc: tuple[str | int, ...]
    message: str
    hint: str = ""
    inner_line: int = 0  # line inside an inline template, 1-based


class _Loader(yaml.SafeLoader):
    """SafeLoader that reads 17:00 as text, not as the YAML 1.1 base-60 number 1020."""


def _no_base_60(tag: str, rx: re.Pattern[str]) -> re.Pattern[str]:
    return re.compile("(?!.*:)" + rx.pattern, rx.flags) if tag.endswith(("int", "float")) else rx


_Loader.yaml_implicit_resolvers = {
    first: [(tag, _no_base_60(tag, rx)) for tag, rx in resolvers]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _line_at(node: Node, loc: Iterable[str | int], inner_line: int = 0) -> int:
    """The 1-based line of the key at `loc` (or of the deepest part of it that exists)."""
    line = node.start_mark.line + 1
    for part in loc:
        if isinstance(node, MappingNode):
            pair = next((kv for kv in node.value if kv[0].value == str(part)), None)
            if pair is None:
                return line
            line, node = pair[0].start_mark.line + 1, pair[1]
        elif isinstance(node, SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            return line
    if inner_line and isinstance(node, ScalarNode):
        block = node.style in ("|", ">")
        return node.start_mark.line + block + inner_line
    return line


def _duplicate_keys(node: Node) -> list[Problem]:
    problems: list[Problem] = []
    if isinstance(node, MappingNode):
        seen: set[str] = set()
        for key, value in node.value:
            if isinstance(key, ScalarNode) and key.value in seen:
                problems.append(Problem(key.start_mark.line + 1, f"duplicate key '{key.value}'"))
            seen.add(key.value)
            problems += _duplicate_keys(value)
    elif isinstance(node, SequenceNode):
        for item in node.value:
            problems += _duplicate_keys(item)
    return problems


_MODELS: dict[tuple[str, ...], type[BaseModel]] = {
    (): Sequence,
    ("steps",): Step,
    ("steps", "repeat"): Repeat,
    ("send_window",): SendWindow,
}
_HINTS = {
    "name": "a unique name of lowercase letters, digits, - and _, e.g. past-due-standard",
    "template": "a file name without .subject.txt/.body.txt: letters, digits, - and _",
    "times": "a repeat must end: times: N, from 1 to 50",
    "at": "when the step runs, e.g. at: due+7d",
    "steps": "a list of steps, each with at: and one of send:, task:, escalate:",
}


def _has_inner_errors(loc: tuple[str | int, ...], errors: list[Any]) -> bool:
    return any(len(e["loc"]) > len(loc) and tuple(e["loc"][: len(loc)]) == loc for e in errors)


def _pydantic_issues(error: ValidationError) -> list[_Issue]:
    issues = []
    errors = error.errors()
    for err in errors:
        loc, kind = tuple(err["loc"]), err["type"]
        if kind == "too_short" and _has_inner_errors(loc, errors):
            continue  # "at least 1 item, not 0" as its items were refused: they say why
        where = ".".join(map(str, loc))
        if kind == "extra_forbidden":
            model = _MODELS.get(tuple(p for p in loc[:-1] if isinstance(p, str)), Sequence)
            keys = [f.alias or n for n, f in model.model_fields.items()]
            issue = _Issue(loc, f"unknown key '{loc[-1]}'", _close(str(loc[-1]), keys))
        elif kind == "missing":
            parent = ".".join(map(str, loc[:-1]))
            msg = f"missing key '{loc[-1]}'" + (f" in {parent}" if parent else "")
            issue = _Issue(loc[:-1], msg, _HINTS.get(str(loc[-1]), ""))
        elif kind == "value_error" and isinstance(exc := err["ctx"]["error"], Invalid):
            issue = _Issue(loc, f"{where}: {exc}" if loc else str(exc), exc.hint)
        else:
            expected = re.findall(r"'([^']*)'", str(err.get("ctx", {}).get("expected", "")))
            hint = _close(str(err["input"]), expected) or _HINTS.get(
                str(loc[-1] if loc else ""), ""
            )
            issue = _Issue(loc, f"{where}: {err['msg']}", hint)
        issues.append(issue)
    return issues


def _anchor_days(at: str) -> tuple[str, int]:
    """The anchor and signed offset in days; n business days count as their shortest
    calendar span (n + 2 per full week), to compare steps mixing d and bd."""
    offset = timing.parse_offset(at)
    days = abs(offset.amount)
    days += 2 * (days // 5) if offset.unit == "bd" else 0
    return offset.anchor, -days if offset.amount < 0 else days


def _rule_issues(seq: Sequence) -> list[_Issue]:
    issues = []
    a_kind = f"{'an' if seq.kind[0] in 'aeiou' else 'a'} {seq.kind} sequence"
    if TARGET_OF_TRIGGER.get(seq.trigger, seq.target) != seq.target:
        msg = f"{a_kind} runs per {seq.target}: it cannot start on {seq.trigger}"
        fits = [t for t, target in TARGET_OF_TRIGGER.items() if target == seq.target]
        issues.append(_Issue(("trigger",), msg, "use " + " or ".join([*fits, "manual"])))
    if ExitEvent.RESOLVED in seq.exit_on and seq.kind != Kind.DISPUTES:
        issues.append(_Issue(("exit_on",), "exit_on 'resolved' is for disputes sequences"))
    allowed = ANCHORS.get(seq.target, ("opened", "start", "due", "issued"))
    last: dict[str, tuple[int, str]] = {}
    for i, step in enumerate(seq.steps):
        anchor, days = _anchor_days(step.at)
        if anchor not in allowed:
            msg = f"{a_kind} has no '{anchor}' date (it runs per {seq.target})"
            issues.append(_Issue(("steps", i, "at"), msg, "use " + " or ".join(allowed)))
        if anchor in last and days < last[anchor][0]:
            msg = f"steps out of order: {step.at} comes after {last[anchor][1]}"
            issues.append(_Issue(("steps", i, "at"), msg, "order steps by time on each anchor"))
        if anchor not in last or days > last[anchor][0]:
            last[anchor] = (days, step.at)
        if step.checklist and seq.kind != Kind.ONBOARDING:
            issues.append(_Issue(("steps", i, "checklist"), "a checklist is for onboarding"))
    return issues


def _template_issues(seq: Sequence, dirs: tuple[Path, ...]) -> list[_Issue]:
    issues: list[_Issue] = []
    for i, step in enumerate(seq.steps):
        named = [(("steps", i, "template"), step.template)] if step.template else []
        named += [(("steps", i, "variants", j), v) for j, v in enumerate(step.variants or ())]
        seen: set[str] = set()
        for loc, name in named:
            if name not in seen:
                seen.add(name)
                telegram = step.send == SendChannel.TELEGRAM
                issues += _named_template_issues(loc, name, dirs, telegram)
        for key in ("subject", "body", "task"):
            if (source := getattr(step, key)) and (problem := templates.compile_check(source)):
                msg = f"{key} does not compile: {problem.message}"
                issues.append(_Issue(("steps", i, key), msg, problem.hint, problem.line))
    return issues


def _named_template_issues(
    loc: tuple[str | int, ...], name: str, dirs: tuple[Path, ...], telegram_only: bool
) -> list[_Issue]:
    owner = templates.locate(name, dirs)
    what = "variant template" if "variants" in loc else "template"
    if owner is None:
        hint = _close(name, templates.available(dirs)) or "looked in " + ", ".join(map(str, dirs))
        return [_Issue(loc, f"{what} '{name}' not found", hint)]
    issues = []
    if not telegram_only and not (owner / f"{name}.subject.txt").is_file():
        issues.append(_Issue(loc, f"{what} '{name}' has no {name}.subject.txt"))
    for part in ("subject.txt", "body.txt", "body.html"):
        path = owner / f"{name}.{part}"
        if path.is_file() and (problem := templates.compile_check(path.read_text("utf-8"))):
            msg = f"{what} '{name}' does not compile: {path.name}, line {problem.line}: "
            issues.append(_Issue(loc, msg + problem.message, problem.hint))
    return issues


def _compose(text: str) -> tuple[Node | None, Any]:
    """The node tree (for line numbers) and the data of one YAML document."""
    loader = _Loader(text)
    try:
        root = loader.get_single_node()
        return root, loader.construct_document(root) if root is not None else None
    finally:
        loader.dispose()


def _syntax_problem(exc: yaml.YAMLError, text: str) -> tuple[int, str]:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    line = mark.line + 1 if mark else text.count("\n", 0, getattr(exc, "position", 0)) + 1
    reason = getattr(exc, "problem", None) or getattr(exc, "reason", None) or str(exc)
    start, context = getattr(exc, "context_mark", None), getattr(exc, "context", None)
    if mark and start and context and start.line != mark.line:
        reason += f" ({context} on line {start.line + 1})"
    return line, f"YAML syntax error: {reason}"


def _parse(
    text: str, source_name: str, template_dirs: Iterable[Path] | None
) -> tuple[Sequence | None, list[Problem]]:
    def problem(line: int, message: str, hint: str = "") -> Problem:
        return Problem(line, message, hint, source_name)

    try:
        root, data = _compose(text)
    except yaml.YAMLError as exc:
        return None, [problem(*_syntax_problem(exc, text))]
    if root is None or not isinstance(data, dict):
        return None, [problem(1, "a sequence definition is a YAML mapping (name:, kind:, ...)")]
    problems = [problem(p.line, p.message) for p in _duplicate_keys(root)]
    try:
        seq: Sequence | None = Sequence.model_validate(data)
        issues = _rule_issues(seq)
        if template_dirs is None:
            path = Path(source_name)
            template_dirs = templates.template_dirs_for(path if path.is_file() else None)
        issues += _template_issues(seq, tuple(template_dirs))
    except ValidationError as exc:
        seq, issues = None, _pydantic_issues(exc)
    problems += [problem(_line_at(root, i.loc, i.inner_line), i.message, i.hint) for i in issues]
    if seq is not None:
        seq._source = source_name
        seq._lines = {key: _line_at(root, (key,)) for key in ("name", "trigger")}
    return seq, sorted(problems, key=lambda p: p.line)


def validate_text(
    text: str, source_name: str = "<text>", template_dirs: Iterable[Path] | None = None
) -> list[Problem]:
    """Every problem in a YAML definition, each at its line (empty when it is valid)."""
    return _parse(text, source_name, template_dirs)[1]


def load_sequence_text(
    text: str, source_name: str = "<text>", template_dirs: Iterable[Path] | None = None
) -> Sequence:
    """Parse and validate a YAML definition; raises DefinitionError with every problem.

    Templates are looked up in `template_dirs`, by default the `templates/` beside
    `source_name` (when it is a file) and then the built-in library."""
    seq, problems = _parse(text, source_name, template_dirs)
    if problems or seq is None:
        raise DefinitionError(problems)
    return seq


def _load_all(path: Path) -> tuple[list[Sequence], list[Problem]]:
    files = [path] if path.is_file() else sorted([*path.glob("*.yml"), *path.glob("*.yaml")])
    sequences, problems, seen = [], [], {}
    for file in files:
        try:
            seq, found = _parse(file.read_text("utf-8"), str(file), None)
        except UnicodeDecodeError:
            seq, found = None, [Problem(1, "not UTF-8 text", "save the file as UTF-8", str(file))]
        problems += found
        if seq is None:
            continue
        if seq.name in seen:
            msg = f"name '{seq.name}' is already used by {seen[seq.name]}"
            problems.append(Problem(seq._lines["name"], msg, "names are unique", str(file)))
        seen.setdefault(seq.name, file.name)
        sequences.append(seq)
    return sequences, problems + find_overlaps(sequences)


def validate_directory(path: Path) -> list[Problem]:
    """Problems in every definition under `path` (a file or a folder), duplicates, overlaps."""
    return _load_all(Path(path))[1]


def load_directory(path: Path) -> list[Sequence]:
    """Load every `*.yml`/`*.yaml` definition in `path`; raises DefinitionError on problems."""
    sequences, problems = _load_all(Path(path))
    if problems:
        raise DefinitionError(problems)
    return sequences


def load_library() -> list[Sequence]:
    """The built-in sequences."""
    return load_directory(LIBRARY_DIR)


def find_overlaps(sequences: Iterable[Sequence]) -> list[Problem]:
    """Pairs of active sequences that one event would both start for the same target."""
    automatic = [s for s in sequences if s.active and s.trigger != Trigger.MANUAL]
    problems = []
    for i, first in enumerate(automatic):
        for second in automatic[i + 1 :]:
            if first.trigger == second.trigger and first.target == second.target:
                msg = (
                    f"sequences '{first.name}' and '{second.name}' both start on "
                    f"{second.trigger} and would both touch the same {second.target}"
                )
                hint = "set active: false on one, or give it trigger: manual"
                line = second._lines.get("trigger", 0)
                problems.append(Problem(line, msg, hint, second._source))
    return problems


class _Dumper(yaml.SafeDumper):
    def represent_str(self, data: str) -> Node:
        style = "|" if "\n" in data else None
        return self.represent_scalar("tag:yaml.org,2002:str", data, style=style)

    def represent_list(self, data: list[Any]) -> Node:
        flow = all(not isinstance(item, dict | list) for item in data)
        return self.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flow)

    def represent_dict(self, data: dict[str, Any]) -> Node:
        flow = set(data) <= {"every", "times"} or set(data) <= {"days", "from", "to"}
        return self.represent_mapping("tag:yaml.org,2002:map", data.items(), flow_style=flow)


_Dumper.add_representer(str, _Dumper.represent_str)
_Dumper.add_representer(list, _Dumper.represent_list)
_Dumper.add_representer(dict, _Dumper.represent_dict)


def sequence_to_yaml(seq: Sequence) -> str:
    """The YAML definition of `seq`; loading it gives back an equal sequence."""
    data = seq.model_dump(mode="json", by_alias=True, exclude_none=True, exclude_defaults=True)
    if "send_window" in data:  # a window that differs is written out whole
        data["send_window"] = seq.send_window.model_dump(mode="json", by_alias=True)
    for step in data["steps"]:
        if len(step.get("escalate", ())) == 1:
            step["escalate"] = step["escalate"][0]
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=4096)
