"""The planner: given one enrollment, its sequence and the facts, what to do now (pure).

An enrollment sits at a position: a step and, for a repeating step, which repetition.
Each position falls on a local day (anchor + offset, + `every` per repetition); a
customer message then waits for the send window. After downtime only the latest
position that is due is acted on (catch-up), never a burst of the missed ones.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal
from functools import lru_cache
from zoneinfo import ZoneInfo

from sequences import send_windows, timing
from sequences.calendar import Offset, apply_offset, parse_offset
from sequences.definitions import ExitEvent, SendChannel, Sequence, Step

Position = tuple[int, int]  # (step index, repetition index)


@dataclass(frozen=True)
class CustomerFacts:
    """What the planner needs to know about a customer."""

    id: int
    external_id: str
    name: str
    timezone: str = "UTC"
    country: str | None = None
    language: str | None = None
    owner_slack_id: str | None = None
    last_reply_at: datetime | None = None
    checklist_done: frozenset[str] = frozenset()


@dataclass(frozen=True)
class InvoiceFacts:
    """An invoice as the planner and the templates see it."""

    id: int
    number: str
    issue_date: date
    due_date: date
    amount: Decimal
    open_amount: Decimal
    currency: str
    status: str = "open"
    disputed: bool = False

    @property
    def settled(self) -> bool:
        return self.status != "open" or self.open_amount <= 0


@dataclass(frozen=True)
class DisputeFacts:
    """A dispute as its escalation sequence sees it."""

    id: int
    status: str
    opened_at: datetime


@dataclass(frozen=True)
class EnrollmentFacts:
    """Where one enrollment stands."""

    id: int
    current_step: int
    repeat_count: int
    started_at: datetime
    notice: str | None = None


@dataclass(frozen=True)
class Exit:
    """End the enrollment (`reason`: paid, disputed, replied, resolved, ...)."""

    reason: str


@dataclass(frozen=True)
class Wait:
    """Nothing to do before `until`."""

    until: datetime


@dataclass(frozen=True)
class Act:
    """Do the step at `position` now; then move to `next_position` (None: completed).

    `team` lists the task and escalation positions that also fell due (after downtime
    they are all done: they reach the team, not the customer); `skipped` counts the
    customer messages passed over so that only the latest one is sent.
    """

    position: Position
    step: Step
    next_position: Position | None
    next_at: datetime | None
    team: tuple[Position, ...] = ()
    skipped: int = 0


@dataclass(frozen=True)
class Notice:
    """Send a one-off message (template `template`) before going on; the step stays."""

    template: str


Decision = Exit | Wait | Act | Notice


def positions(sequence: Sequence) -> list[Position]:
    """Every position of a sequence, in order."""
    return [
        (index, k)
        for index, step in enumerate(sequence.steps)
        for k in range(step.repeat.times if step.repeat else 1)
    ]


def local_day(instant: datetime, zone: str) -> date:
    """The customer's calendar day at an instant."""
    return instant.astimezone(ZoneInfo(zone)).date()


@lru_cache(maxsize=16_384)
def day_start(day: date, zone: str) -> datetime:
    """The first instant of a local day, in UTC."""
    # Cached: a tick asks for the same few days in the same few zones for every enrollment.
    return datetime.combine(day, time(0), tzinfo=ZoneInfo(zone)).astimezone(UTC)


Anchors = dict[str, date | None]


def anchors_of(
    customer: CustomerFacts,
    enrollment: EnrollmentFacts,
    invoice: InvoiceFacts | None = None,
    dispute: DisputeFacts | None = None,
) -> Anchors:
    """The local days an enrollment's offsets count from (None: it has no such anchor)."""
    return {
        "start": local_day(enrollment.started_at, customer.timezone),
        "due": invoice.due_date if invoice else None,
        "issued": invoice.issue_date if invoice else None,
        "opened": local_day(dispute.opened_at, customer.timezone) if dispute else None,
    }


def position_day(
    sequence: Sequence,
    position: Position,
    *,
    customer: CustomerFacts,
    enrollment: EnrollmentFacts,
    invoice: InvoiceFacts | None = None,
    dispute: DisputeFacts | None = None,
) -> date:
    """The local day a position falls on."""
    anchors = anchors_of(customer, enrollment, invoice, dispute)
    return _day_of(sequence, position, anchors, customer.country)


def _day_of(sequence: Sequence, position: Position, anchors: Anchors, country: str | None) -> date:
    step = sequence.steps[position[0]]
    offset = parse_offset(step.at)
    anchor = anchors[offset.anchor]
    if anchor is None:
        raise ValueError(f"step {position[0] + 1} is anchored on {offset.anchor}, which is unknown")
    every = step.repeat.every if position[1] and step.repeat else None
    return _offset_day(offset, anchor, country, every, position[1])


# A pure function of a handful of values that repeat across a ledger (due dates,
# countries, offsets): business-day counting is done once per distinct day.
@lru_cache(maxsize=16_384)
def _offset_day(
    offset: Offset, anchor: date, country: str | None, every: str | None, repetition: int
) -> date:
    day = apply_offset(offset, anchor, country)
    if every is not None:
        interval = parse_offset(f"start+{every}")
        shifted = Offset("start", interval.amount * repetition, interval.unit)
        day = apply_offset(shifted, day, country)
    return day


def variant_for(sequence: Sequence, step_index: int, customer: CustomerFacts) -> str | None:
    """The A/B arm of a step for a customer: stable, and even across customers."""
    step = sequence.steps[step_index]
    if not step.variants:
        return None
    digest = hashlib.sha256(f"{sequence.name}:{step_index}:{customer.external_id}".encode())
    return step.variants[int.from_bytes(digest.digest()[:8], "big") % len(step.variants)]


def window_of(sequence: Sequence) -> send_windows.SendWindow:
    """The sequence's send window in the terms of the timing rules."""
    w = sequence.send_window
    return _window(w.weekdays, w.from_, w.to)


@lru_cache(maxsize=256)
def _window(days: frozenset[int], start: time, end: time) -> send_windows.SendWindow:
    return send_windows.SendWindow(days, start, end)


def plan(
    sequence: Sequence,
    enrollment: EnrollmentFacts,
    *,
    customer: CustomerFacts,
    now: datetime,
    invoice: InvoiceFacts | None = None,
    dispute: DisputeFacts | None = None,
    preferred_hour: int | None = None,
) -> Decision:
    """Decide what one due enrollment does at `now`.

    `preferred_hour` (the customer's most engaged local hour) times `send: preferred`
    steps inside their window; other messages go at the window's usual time.
    """
    reason = exit_reason(sequence, enrollment, customer, invoice, dispute)
    if reason is not None:
        return Exit(reason)
    window = window_of(sequence)
    if enrollment.notice:
        send_at = timing.next_send_time(now, customer.timezone, customer.country, window)
        return Notice(enrollment.notice) if send_at <= now else Wait(send_at)
    order = positions(sequence)
    current = (enrollment.current_step, enrollment.repeat_count)
    if current not in order:
        return Exit("completed")
    rest = order[order.index(current) :]
    if dispute is not None and dispute.status != "open":
        # Acknowledged: the escalation chain stops; the other steps go on.
        rest = [p for p in rest if sequence.steps[p[0]].escalate is None]
        if not rest:
            return Exit("acknowledged")
    anchors = anchors_of(customer, enrollment, invoice, dispute)
    zone, country = customer.timezone, customer.country
    starts = [day_start(_day_of(sequence, p, anchors, country), zone) for p in rest]
    due = timing.latest_due(starts, now)
    if due is None:
        return Wait(starts[0])
    fallen_due = rest[: due + 1]
    messages = [p for p in fallen_due if sequence.steps[p[0]].send is not None]
    position = messages[-1] if messages else fallen_due[-1]
    step = sequence.steps[position[0]]
    if step.send is not None:
        hour = preferred_hour if step.send == SendChannel.PREFERRED else None
        send_at = timing.next_send_time(now, customer.timezone, customer.country, window, hour)
        if send_at > now:
            return Wait(send_at)
    following = rest[due + 1] if due + 1 < len(rest) else None
    return Act(
        position=position,
        step=step,
        next_position=following,
        next_at=starts[due + 1] if following else None,
        team=tuple(p for p in fallen_due if p != position and sequence.steps[p[0]].send is None),
        skipped=max(len(messages) - 1, 0),
    )


def exit_reason(
    sequence: Sequence,
    enrollment: EnrollmentFacts,
    customer: CustomerFacts,
    invoice: InvoiceFacts | None,
    dispute: DisputeFacts | None,
) -> str | None:
    """Why the enrollment ends at once (paid, disputed, replied, ...), or None."""
    exits = sequence.exit_on
    if invoice is not None:
        if invoice.settled:
            return "paid"  # never chase a settled invoice, whatever exit_on says
        if invoice.disputed and ExitEvent.DISPUTED in exits:
            return "disputed"
    if dispute is not None and dispute.status == "resolved":
        return "resolved"
    if customer.checklist_done:
        items = {item for step in sequence.steps for item in step.checklist or ()}
        if items and items <= customer.checklist_done:
            return "checklist_done"
    replied = customer.last_reply_at
    if ExitEvent.REPLIED in exits and replied is not None and replied >= enrollment.started_at:
        return "replied"
    return None
