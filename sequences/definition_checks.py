"""What is wrong with a sequence definition, each problem at its key path (`steps.2.at`).

pydantic's errors put in the user's words, the rules that span fields and steps (a
trigger that fits the target, anchors the target has, steps in order), and the
templates the steps name or carry inline. `sequences.definition_loading` turns each
key path into the line of the YAML key.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, NamedTuple

from pydantic import BaseModel, ValidationError

from sequences import templates
from sequences.calendar import parse_offset
from sequences.definitions import (
    ANCHORS,
    TARGET_OF_TRIGGER,
    ExitEvent,
    Invalid,
    Kind,
    Repeat,
    SendChannel,
    SendWindow,
    Sequence,
    Step,
    Trigger,
    did_you_mean,
)


class Issue(NamedTuple):
    """One problem, at the key path it is about (its line is found when loading)."""

    loc: tuple[str | int, ...]
    message: str
    hint: str = ""
    inner_line: int = 0  # line inside an inline template, 1-based


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


def pydantic_issues(error: ValidationError) -> list[Issue]:
    """pydantic's errors in the user's words, with a hint where one helps."""
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
            issue = Issue(loc, f"unknown key '{loc[-1]}'", did_you_mean(str(loc[-1]), keys))
        elif kind == "missing":
            parent = ".".join(map(str, loc[:-1]))
            msg = f"missing key '{loc[-1]}'" + (f" in {parent}" if parent else "")
            issue = Issue(loc[:-1], msg, _HINTS.get(str(loc[-1]), ""))
        elif kind == "value_error" and isinstance(exc := err["ctx"]["error"], Invalid):
            issue = Issue(loc, f"{where}: {exc}" if loc else str(exc), exc.hint)
        else:
            expected = re.findall(r"'([^']*)'", str(err.get("ctx", {}).get("expected", "")))
            hint = did_you_mean(str(err["input"]), expected) or _HINTS.get(
                str(loc[-1] if loc else ""), ""
            )
            issue = Issue(loc, f"{where}: {err['msg']}", hint)
        issues.append(issue)
    return issues


def _anchor_days(at: str) -> tuple[str, int]:
    """The anchor and signed offset in days; n business days count as their shortest
    calendar span (n + 2 per full week), to compare steps mixing d and bd."""
    offset = parse_offset(at)
    days = abs(offset.amount)
    days += 2 * (days // 5) if offset.unit == "bd" else 0
    return offset.anchor, -days if offset.amount < 0 else days


def rule_issues(seq: Sequence) -> list[Issue]:
    """Rules across fields and steps: trigger and target, anchors, step order, checklists.

    Also run on what `salvage` kept of a refused definition: without a valid `kind` the
    rules that need it are skipped, and so are steps without a valid `at`.
    """
    issues = []
    known = seq.kind is not None
    a_kind = f"{'an' if str(seq.kind)[0] in 'aeiou' else 'a'} {seq.kind} sequence"
    if known and TARGET_OF_TRIGGER.get(seq.trigger, seq.target) != seq.target:
        msg = f"{a_kind} runs per {seq.target}: it cannot start on {seq.trigger}"
        fits = [t for t, target in TARGET_OF_TRIGGER.items() if target == seq.target]
        issues.append(Issue(("trigger",), msg, "use " + " or ".join([*fits, "manual"])))
    if known and ExitEvent.RESOLVED in seq.exit_on and seq.kind != Kind.DISPUTES:
        issues.append(Issue(("exit_on",), "exit_on 'resolved' is for disputes sequences"))
    every = ("opened", "start", "due", "issued")
    allowed = ANCHORS.get(seq.target, every) if known else every
    last: dict[str, tuple[int, str]] = {}
    for i, step in enumerate(seq.steps):
        if step.at is None:
            continue
        anchor, days = _anchor_days(step.at)
        if anchor not in allowed:
            msg = f"{a_kind} has no '{anchor}' date (it runs per {seq.target})"
            issues.append(Issue(("steps", i, "at"), msg, "use " + " or ".join(allowed)))
        if anchor in last and days < last[anchor][0]:
            msg = f"steps out of order: {step.at} comes after {last[anchor][1]}"
            issues.append(Issue(("steps", i, "at"), msg, "order steps by time on each anchor"))
        if anchor not in last or days > last[anchor][0]:
            last[anchor] = (days, step.at)
        if known and step.checklist and seq.kind != Kind.ONBOARDING:
            issues.append(Issue(("steps", i, "checklist"), "a checklist is for onboarding"))
    return issues


def template_issues(seq: Sequence, dirs: tuple[Path, ...]) -> list[Issue]:
    """Templates named by the steps (found in `dirs`, compiling) and inline texts that compile."""
    issues: list[Issue] = []
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
                issues.append(Issue(("steps", i, key), msg, problem.hint, problem.line))
    return issues


def _named_template_issues(
    loc: tuple[str | int, ...], name: str, dirs: tuple[Path, ...], telegram_only: bool
) -> list[Issue]:
    owner = templates.locate(name, dirs)
    what = "variant template" if "variants" in loc else "template"
    if owner is None:
        hint = did_you_mean(name, templates.available(dirs)) or "looked in " + ", ".join(
            map(str, dirs)
        )
        return [Issue(loc, f"{what} '{name}' not found", hint)]
    issues = []
    if not telegram_only and not (owner / f"{name}.subject.txt").is_file():
        issues.append(Issue(loc, f"{what} '{name}' has no {name}.subject.txt"))
    for part in ("subject.txt", "body.txt", "body.html", "telegram.txt"):
        path = owner / f"{name}.{part}"
        if path.is_file() and (problem := templates.compile_check(path.read_text("utf-8"))):
            msg = f"{what} '{name}' does not compile: {path.name}, line {problem.line}: "
            issues.append(Issue(loc, msg + problem.message, problem.hint))
    return issues


def _bad_keys(errors: list[Any], prefix: tuple[str | int, ...]) -> set[str | int]:
    """The keys right under `prefix` that an error is about (at them or inside them)."""
    n = len(prefix)
    return {e["loc"][n] for e in errors if len(e["loc"]) > n and tuple(e["loc"][:n]) == prefix}


def _as_enum(kind: Any, value: Any) -> Any:
    try:
        return kind(value)
    except (ValueError, TypeError):
        return None


def salvage(data: dict[str, Any], error: ValidationError) -> Sequence:
    """What parsed of a definition that failed validation, for the checks across steps.

    Keys with errors are left out (a step keeps its index; a step that is not a mapping
    or whose `at` is bad has `at` None), nothing is validated again: `rule_issues` and
    `template_issues` then report what they can see beside pydantic's errors.
    """
    errors = error.errors()
    bad = _bad_keys(errors, ())
    steps: list[Step] = []
    raw_steps = data.get("steps") if isinstance(data.get("steps"), list) else []
    for i, raw in enumerate(raw_steps or ()):
        if not isinstance(raw, dict):
            steps.append(Step.model_construct(at=None))
            continue
        wrong = _bad_keys(errors, ("steps", i))
        fields = {k: v for k, v in raw.items() if k in Step.model_fields and k not in wrong}
        fields.setdefault("at", None)
        if "send" in wrong:  # a channel unknown: do not ask its templates for a subject
            fields["send"] = SendChannel.TELEGRAM
        steps.append(Step.model_construct(**fields))
    raw_exits = data.get("exit_on") if "exit_on" not in bad else ()
    exits = raw_exits if isinstance(raw_exits, list | tuple) else ()
    return Sequence.model_construct(
        kind=None if "kind" in bad else _as_enum(Kind, data.get("kind")),
        trigger=None if "trigger" in bad else _as_enum(Trigger, data.get("trigger")),
        exit_on=tuple(e for e in (_as_enum(ExitEvent, x) for x in exits) if e is not None),
        steps=tuple(steps),
    )
