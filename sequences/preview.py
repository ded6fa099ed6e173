"""Preview: when each step of a sequence would reach one target, and what it would say (pure).

The times follow the engine: a position falls on its local day (planner.position_day);
a customer message then goes out at the first instant of the send window on a business
day, a task or an escalation at the start of its day. Texts are rendered with the
engine's own context, so a preview shows what the customer would get.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Row

from sequences import timing
from sequences.calendar import parse_offset
from sequences.definitions import Sequence, Step
from sequences.messages import message_context
from sequences.planner import (
    CustomerFacts,
    DisputeFacts,
    EnrollmentFacts,
    InvoiceFacts,
    Position,
    day_start,
    position_day,
    positions,
    variant_for,
    window_of,
)
from sequences.templates import RenderedMessage, render, render_inline, render_text


@dataclass(frozen=True)
class PlannedStep:
    """One position of a sequence for one target: when, how, and which template."""

    position: Position
    step: Step
    at: datetime  # aware UTC
    kind: str  # message | task | escalation
    template: str | None  # a message's template: the customer's A/B arm if it has variants
    past: bool

    def local(self, zone: str) -> datetime:
        """`at` in the customer's time zone."""
        return self.at.astimezone(ZoneInfo(zone))


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _anchor(step: Step) -> str:
    return parse_offset(step.at).anchor


def step_kind(step: Step) -> str:
    """message, task or escalation."""
    if step.send is not None:
        return "message"
    return "task" if step.task is not None else "escalation"


def timeline(
    sequence: Sequence,
    *,
    customer: CustomerFacts,
    enrollment: EnrollmentFacts,
    now: datetime,
    invoice: InvoiceFacts | None = None,
    dispute: DisputeFacts | None = None,
) -> list[PlannedStep]:
    """Every position of `sequence` for one target, in order, marked past when before `now`.

    A message goes out at the first instant of the send window on or after the start of
    its day; a task or an escalation at the start of its day (never before the instant
    the day is anchored on, as for `opened` and `start`).

    Escalations of an acknowledged dispute are left out: the planner stops them too.
    Raises ValueError for a step anchored on a date the target lacks, and
    send_windows.WindowError when the send window never meets a business day.
    """
    window = window_of(sequence)
    planned = []
    for position in positions(sequence):
        step = sequence.steps[position[0]]
        if step.escalate is not None and dispute is not None and dispute.status != "open":
            continue
        day = position_day(
            sequence, position, customer=customer, enrollment=enrollment, invoice=invoice,
            dispute=dispute,
        )  # fmt: skip
        # A day anchored on an instant (the enrollment's start, the dispute's opening)
        # begins no earlier than that instant.
        anchored = {
            "start": enrollment.started_at,
            "opened": dispute.opened_at if dispute else None,
        }
        at = max(day_start(day, customer.timezone), anchored.get(_anchor(step)) or _EPOCH)
        if step.send is not None:
            at = timing.next_send_time(at, customer.timezone, customer.country, window)
        template = None
        if step.send is not None and step.template:
            template = variant_for(sequence, position[0], customer) or step.template
        planned.append(PlannedStep(position, step, at, step_kind(step), template, at < now))
    return planned


def render_message(
    planned: PlannedStep,
    *,
    customer: Row,
    invoices: list[InvoiceFacts],
    contact: Row | None,
    pay_url: str | None,
    template_dirs: tuple[Path, ...],
    done: frozenset[str] = frozenset(),
    collector: Mapping[str, str | None] | None = None,
) -> RenderedMessage:
    """The subject and texts of a message step, rendered as the engine renders them
    (`done`: the onboarding checklist items the customer has done; `collector`: the
    owner who signs, None when not known)."""
    step = planned.step
    context = message_context(
        customer, invoices, contact, pay_url, step.checklist or (), done, collector=collector
    )
    if planned.template is not None:
        channel = str(contact.channel) if contact is not None else "email"
        return render(planned.template, context, template_dirs, channel=channel)
    assert step.body is not None  # validation: a send step has a template or a body
    return render_inline(step.subject, step.body, context)


def team_text(
    planned: PlannedStep,
    *,
    customer: Row,
    invoices: list[InvoiceFacts],
    done: frozenset[str] = frozenset(),
) -> str:
    """The title of the task or escalation a team step makes (as the engine words it)."""
    step = planned.step
    if step.task is not None:
        context: dict[str, Any] = message_context(
            customer, invoices, None, None, step.checklist or (), done
        )
        return render_text(step.task, context, "task")
    return f"Escalation ({', '.join(step.escalate or ())}): {customer.name}"
