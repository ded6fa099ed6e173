"""Block Kit of the ephemeral `/ar` replies (all but status: `status_blocks.py`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Row

from bot.slack.blocks import TEXT_LIMIT, Block, context, escape, mention, section
from bot.slack.command_parser import SUMMARY, USAGE
from sequences.catalog import RunningEnrollment, SequenceSummary
from sequences.checklists import Checklist, Ticked
from sequences.definitions import Sequence, Step
from sequences.lookup import describe
from sequences.task_list import TaskList

MAX_BLOCKS = 45  # Slack takes 50 blocks in a message; room for a closing line


@dataclass(frozen=True)
class Reply:
    """An ephemeral answer: the fallback text and its blocks."""

    text: str
    blocks: list[Block] = field(default_factory=list)


def plain(text: str) -> Reply:
    """A one-section reply."""
    return Reply(text, [section(text)])


def problem(message: str, usage: str, matches: list[Row] | None = None) -> Reply:
    """What went wrong, the customers an ambiguous name matched, and the usage line."""
    blocks = [section(f":warning: {escape(message)}")]
    if matches:
        lines = "\n".join(f"• {escape(describe(m))}" for m in matches)
        blocks.append(section(f"Matches:\n{lines}"))
    blocks.append(context(f"Usage: `{usage}`"))
    return Reply(f"{message} (usage: {usage})", blocks)


def refusal(*, managers_only: bool) -> Reply:
    """The polite no for someone without the role (nothing was done)."""
    if managers_only:
        return plain("Sorry, that is for managers (ARSEQ_MANAGERS); nothing was changed.")
    return plain("Sorry, `/ar` is for the AR team. Ask a manager to add you to ARSEQ_COLLECTORS.")


def help_reply() -> Reply:
    """Every subcommand with its usage line."""
    lines = [f"• `{USAGE[name]}`: {SUMMARY[name]}" for name in USAGE]
    return Reply("ARSeq commands", [section("*ARSeq* `/ar` commands\n" + "\n".join(lines))])


def sequences_reply(summaries: list[SequenceSummary]) -> Reply:
    """The stored sequences with their running enrollment counts."""
    if not summaries:
        return plain("No sequence is stored yet (the first scheduler pass stores the library).")
    lines = [
        f"• *{escape(s.name)}* v{s.version} · {s.kind} · trigger {s.trigger} · {s.steps} "
        f"step(s) · *{s.running}* running{'' if s.active else ' · inactive'}"
        for s in summaries
    ]
    return Reply(f"{len(summaries)} sequence(s)", _sections("*Sequences*", lines))


def step_text(step: Step) -> str:
    """One step as a line: when, and what it does."""
    if step.send is not None:
        what = f"send {step.send}: {step.template or 'inline message'}"
        if step.variants:
            what += f" (A/B: {', '.join(step.variants)})"
    elif step.task is not None:
        what = f"task: {step.task}"
    else:
        what = f"escalate to {', '.join(step.escalate or ())}"
    if step.repeat is not None:
        what += f", then every {step.repeat.every} × {step.repeat.times}"
    return f"`{step.at}` {escape(what)}"


def sequence_reply(
    sequence: Sequence,
    version: int,
    running: list[RunningEnrollment],
    skip_button: Callable[[int, int], Block],
) -> Reply:
    """A sequence's definition (kind, trigger, steps, exits) and its active enrollments
    due first, each with a Skip step button."""
    head = (
        f"*{escape(sequence.name)}* v{version} · {sequence.kind} · trigger {sequence.trigger}"
        f"{'' if sequence.active else ' · inactive'}"
    )
    lines = [f"{n}. {step_text(step)}" for n, step in enumerate(sequence.steps, 1)]
    blocks = _sections(head, lines)
    exits = ", ".join(sequence.exit_on) if sequence.exit_on else "none"
    blocks.append(context(f"Exits on: {exits}"))
    for run in running:
        what = f"invoice `{escape(run.invoice)}`" if run.invoice else "customer"
        line = f"{escape(run.customer)} ({what}) at step {run.step}"
        blocks.append({**section(line), "accessory": skip_button(run.id, run.step)})
    return Reply(f"{sequence.name}: {len(sequence.steps)} step(s)", blocks)


def tasks_reply(tasks: TaskList, *, user: str | None, zone: ZoneInfo) -> Reply:
    """Open tasks, oldest due first."""
    whose = f" of {mention(user)}" if user else ""
    if not tasks.tasks:
        return plain(f"No open task{whose}.")
    lines = []
    for t in tasks.tasks:
        about = " · ".join(escape(x) for x in (t.customer, t.invoice) if x)
        snoozed = f" · snoozed until {_when(t.snoozed_until, zone)}" if t.snoozed_until else ""
        lines.append(f"• {escape(t.title)}\n   {about} · {mention(t.assignee)} · due "
                     f"{_when(t.due_at, zone)}{snoozed}")  # fmt: skip
    blocks = _sections(f"*Open tasks{whose}* ({tasks.total})", lines)
    if tasks.total > len(tasks.tasks):
        blocks.append(context(f"The {len(tasks.tasks)} due first of {tasks.total}."))
    return Reply(f"{tasks.total} open task(s){whose}", blocks)


def preview_reply(lines: list[str]) -> Reply:
    """The preview's text lines in code blocks, cut where Slack's limits are."""
    blocks, chunk = [], ""
    for line in lines:
        if len(chunk) + len(line) + 1 > TEXT_LIMIT - 8:
            blocks.append(section(f"```{chunk}```"))
            chunk = ""
        chunk += line[: TEXT_LIMIT - 8] + "\n"
    if chunk:
        blocks.append(section(f"```{chunk}```"))
    if len(blocks) > MAX_BLOCKS:
        blocks = [*blocks[:MAX_BLOCKS], context("Cut short: `arseq preview` shows it all.")]
    return Reply(lines[0] if lines else "preview", blocks)


def link_reply(customer: Row, token: str, bot_username: str | None, expires: str) -> Reply:
    """The one-time Telegram link to send to the customer's contact."""
    if bot_username:
        how = f"Send this link to the contact: https://t.me/{bot_username}?start={token}"
    else:
        how = f"Ask the contact to send this to the ARSeq bot on Telegram:\n`/start {token}`"
    text = f"Telegram link for *{escape(describe(customer))}*, works once until {expires}.\n{how}"
    return Reply(f"Telegram link for {describe(customer)}", [section(text)])


def _when(at: datetime | None, zone: ZoneInfo) -> str:
    return "-" if at is None else f"{at.astimezone(zone):%Y-%m-%d %H:%M}"


def _sections(head: str, lines: list[str]) -> list[Block]:
    """`head` then `lines` in as few sections as Slack's text limit allows."""
    blocks, text = [], head
    for line in lines:
        if len(text) + len(line) + 1 > TEXT_LIMIT:
            blocks.append(section(text))
            text = ""
        text = f"{text}\n{line}" if text else line
        if len(blocks) >= MAX_BLOCKS:
            break
    blocks.append(section(text))
    return blocks


def checklist_reply(
    customer: Row, checklists: list[Checklist], ticked: Ticked | None = None
) -> Reply:
    """A customer's onboarding checklists (and what a tick did)."""
    who = escape(describe(customer))
    if not checklists:
        return plain(f"*{who}* runs no onboarding checklist.")
    lines = []
    if ticked is not None:
        item = escape(ticked.item)
        lines.append(f"Ticked *{item}* for *{who}*." if ticked.changed
                     else f"*{item}* was already ticked for *{who}*: nothing changed.")  # fmt: skip
    for checklist in checklists:
        lines.append(f"*{escape(checklist.sequence)}* for *{who}*:")
        lines += [f"{':white_check_mark:' if done else ':white_large_square:'} {escape(item)}"
                  for item, done in checklist.items]  # fmt: skip
        if not checklist.left:
            lines.append("All done: the onboarding ends at the next pass.")
    return plain("\n".join(lines))
