"""The sequence builder's domain: a draft as the Slack modal holds it, checked and stored.

A `Draft` is what the modal edits (kept as typed JSON in its `private_metadata`):
name, kind, trigger, send window, exit events, and steps, each with an offset and one
action (a message on a channel with a template, a task, or an escalation). It becomes
the same definition a YAML file gives, checked by the same rules
(`sequences.definition_checks`), each problem keyed by the draft field it is about.
Step settings the modal does not show (repeat, variants, inline texts, checklists)
ride along in `extra`, so editing a sequence keeps them.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError
from sqlalchemy.ext.asyncio import AsyncConnection

from sequences.definition_checks import Issue, pydantic_issues, rule_issues, template_issues
from sequences.definition_loading import find_overlaps
from sequences.definitions import Sequence
from sequences.planner import InvoiceFacts
from sequences.store import LoadResult, active_sequences, store_sequences, stored_by_name
from sequences.templates import LIBRARY_TEMPLATES, TemplateError, render

MAX_STEPS = 10  # a modal holds at most 100 blocks
ACTIONS = ("email", "telegram", "preferred", "task", "escalate")
_SHOWN = {"at", "send", "template", "task", "escalate"}


class DraftStep(BaseModel):
    """One step as the modal shows it."""

    at: str = ""
    action: Literal["email", "telegram", "preferred", "task", "escalate"] = "email"
    template: str | None = None
    text: str = ""  # the task's words, or the escalation's targets (comma separated)
    extra: dict[str, Any] = Field(default_factory=dict)


class Draft(BaseModel):
    """A sequence being built; `editing` names the sequence an Edit started from."""

    editing: str | None = None
    name: str = ""
    kind: str = "past_due"
    trigger: str = "invoice_overdue"
    days: str = "mon-fri"
    from_: str = Field("09:00", alias="from")
    to: str = "17:00"
    exit_on: list[str] = Field(default_factory=lambda: ["paid", "disputed"])
    description: str = ""
    steps: list[DraftStep] = Field(default_factory=lambda: [DraftStep(at="due+1d")])

    model_config = {"populate_by_name": True}


class BuilderError(ValueError):
    """A draft that cannot be changed that way."""


def add_step(draft: Draft) -> Draft:
    """The draft with one more (empty) step; BuilderError beyond MAX_STEPS."""
    if len(draft.steps) >= MAX_STEPS:
        raise BuilderError(f"a sequence built here has at most {MAX_STEPS} steps")
    return draft.model_copy(update={"steps": [*draft.steps, DraftStep()]})


def remove_step(draft: Draft, index: int) -> Draft:
    """The draft without step `index` (0-based); the last step cannot go."""
    if not 0 <= index < len(draft.steps):
        raise BuilderError(f"there is no step {index + 1}")
    if len(draft.steps) == 1:
        raise BuilderError("a sequence needs at least one step")
    return draft.model_copy(update={"steps": [s for i, s in enumerate(draft.steps) if i != index]})


def draft_of(sequence: Sequence) -> Draft:
    """The draft an Edit of `sequence` starts from."""
    steps = []
    for step in sequence.steps:
        data = step.model_dump(mode="json", exclude_none=True)
        if step.send is not None:
            action, text = str(step.send), ""
        elif step.task is not None:
            action, text = "task", step.task
        else:
            action, text = "escalate", ", ".join(step.escalate or ())
        extra = {k: v for k, v in data.items() if k not in _SHOWN}
        steps.append(DraftStep(at=step.at, action=action, template=step.template, text=text,
                               extra=extra))  # fmt: skip
    window = sequence.send_window
    return Draft(
        editing=sequence.name, name=sequence.name, kind=str(sequence.kind),
        trigger=str(sequence.trigger), days=window.days, from_=f"{window.from_:%H:%M}",
        to=f"{window.to:%H:%M}", exit_on=[str(e) for e in sequence.exit_on],
        description=sequence.description, steps=steps,
    )  # fmt: skip


def definition(draft: Draft) -> dict[str, Any]:
    """The definition dict (as YAML would give it) of a draft."""
    steps = []
    for step in draft.steps:
        data: dict[str, Any] = {"at": step.at.strip(), **step.extra}
        if step.action == "task":
            data["task"] = step.text.strip()
        elif step.action == "escalate":
            data["escalate"] = [t.strip() for t in step.text.split(",") if t.strip()]
        else:
            data["send"] = step.action
            if step.template:
                data["template"] = step.template
        steps.append(data)
    result: dict[str, Any] = {
        "name": draft.name.strip(), "kind": draft.kind, "trigger": draft.trigger,
        "exit_on": draft.exit_on,
        "send_window": {"days": draft.days.strip(), "from": draft.from_.strip(),
                        "to": draft.to.strip()},
        "steps": steps,
    }  # fmt: skip
    if draft.description:
        result["description"] = draft.description
    return result


def field_of(loc: tuple[str | int, ...]) -> str:
    """The draft field a problem at key path `loc` is shown next to."""
    if not loc:
        return "name"
    head = loc[0]
    if head == "send_window":
        return {"days": "days", "to": "to"}.get(str(loc[1]) if len(loc) > 1 else "", "from")
    if head == "steps":
        if len(loc) < 2 or not isinstance(loc[1], int):
            return "step0_at"
        key = str(loc[2]) if len(loc) > 2 else ""
        part = {"at": "at", "template": "template", "variants": "template", "task": "text",
                "escalate": "text"}.get(key, "action")  # fmt: skip
        return f"step{loc[1]}_{part}"
    return str(head) if head in ("name", "kind", "trigger", "exit_on") else "name"


def _say(issue: Issue) -> str:
    # Shown next to its field, a problem needs no key path in front.
    message = issue.message.removeprefix(".".join(map(str, issue.loc)) + ": ")
    return message + (f" ({issue.hint})" if issue.hint else "")


async def check_draft(
    conn: AsyncConnection, draft: Draft, template_dirs: tuple[Path, ...] = (LIBRARY_TEMPLATES,)
) -> tuple[Sequence | None, dict[str, str]]:
    """The sequence a draft defines and its problems by field (empty when it can be stored)."""
    try:
        sequence = Sequence.model_validate(definition(draft))
    except ValidationError as exc:
        issues = pydantic_issues(exc)
        return None, _by_field(issues)
    issues = rule_issues(sequence) + template_issues(sequence, template_dirs)
    errors = _by_field(issues)
    if draft.editing is None and await stored_by_name(conn, sequence.name) is not None:
        errors.setdefault("name", f"a sequence named '{sequence.name}' exists; edit it from "
                          f"`/ar sequence show {sequence.name}`")  # fmt: skip
    others = [s.sequence for s in await active_sequences(conn) if s.sequence.name != sequence.name]
    for problem in find_overlaps([*others, sequence]):
        if sequence.name in problem.message:
            errors.setdefault("trigger", problem.message + f" ({problem.hint})")
    return (sequence if not errors else None), errors


def _by_field(issues: list[Issue]) -> dict[str, str]:
    errors: dict[str, str] = {}
    for issue in issues:
        field = field_of(issue.loc)
        errors[field] = f"{errors[field]}; {_say(issue)}" if field in errors else _say(issue)
    return {k: v[:300] for k, v in errors.items()}  # Slack shows a short line per field


async def save_draft(
    conn: AsyncConnection, sequence: Sequence, *, actor: str, now: datetime,
    template_dirs: tuple[Path, ...] = (LIBRARY_TEMPLATES,),
) -> LoadResult:  # fmt: skip
    """Store a checked sequence as a new version (running enrollments keep theirs)."""
    (result,) = await store_sequences(
        conn, [sequence], template_dirs=template_dirs, actor=actor, now=now
    )
    return result


SAMPLE_CUSTOMER = {
    "id": 0, "external_id": "SAMPLE-1", "name": "Sample Customer Ltd", "email": "ap@example.com",
    "timezone": "UTC", "country": "US", "language": "en", "currency": "USD",
    "owner_slack_id": None, "telegram_username": None,
}  # fmt: skip


def preview_step(
    step: DraftStep, *, today: date, template_dirs: tuple[Path, ...] = (LIBRARY_TEMPLATES,)
) -> str:
    """What a message step would say to a sample customer (subject and first lines)."""
    if step.action in ("task", "escalate") or not step.template:
        return ""
    invoice = InvoiceFacts(0, "INV-1001", today - timedelta(days=40), today - timedelta(days=10),
                           Decimal("1250.00"), Decimal("1250.00"), "USD")  # fmt: skip
    context = {
        "customer": SAMPLE_CUSTOMER,
        "contact": {"name": "Alex Payer", "address": "ap@example.com"},
        "invoices": [vars(invoice) | {"settled": False, "pay_url": None, "days_overdue": 10}],
        "total": {"USD": invoice.open_amount},
    }
    try:
        message = render(step.template, context, template_dirs)
    except TemplateError as exc:
        return f"(no preview: {exc})"
    lines = message.text.strip().splitlines()
    return f"*{message.subject}*\n" + "\n".join(lines[:6]) + ("\n…" if len(lines) > 6 else "")
