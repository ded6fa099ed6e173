"""One handler per `/ar` subcommand: name the target, call the domain function, build the reply.

A handler gets a `Call` (the typed command, who sent it, the context) and returns a
`Reply`, or None when it answered itself (a modal). Domain refusals (`LedgerError`,
`CustomerLookupError`) propagate to `bot.slack.commands`, which shows them with the
subcommand's usage line; writes happen in one transaction, so a refusal writes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import TelegramAPIError
from aiohttp import ClientError
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.slack import command_parser as p
from bot.slack.app import SlackContext
from bot.slack.builder import edit_button, open_builder
from bot.slack.command_replies import (
    Reply,
    checklist_reply,
    help_reply,
    link_reply,
    plain,
    preview_reply,
    sequence_reply,
    sequences_reply,
    tasks_reply,
)
from bot.slack.forewarning import skip_step_button
from bot.slack.kpi_reply import kpi_reply_blocks
from bot.slack.status_blocks import status_blocks
from sequences import disputes, ledger, promises
from sequences.catalog import find_sequence, running_enrollments, sequence_overview
from sequences.checklists import customer_checklists, tick_item
from sequences.enrollments import Changed, enroll, unenroll
from sequences.lookup import describe, find_customer
from sequences.preview_report import load_preview, preview_lines
from sequences.send_windows import WindowError
from sequences.status import customer_status
from sequences.targets import Named, find_invoice, name_target
from sequences.task_list import open_tasks
from sequences.telegram_links import LINK_TTL, issue_link_token
from sequences.templates import TemplateError
from storage.db import take_write_lock
from storage.models import Dispute, DisputeStatus, PauseScope, Role

log = logging.getLogger("arseq.slack")

SOURCE = "slack"
TELEGRAM_USERNAME = "telegram_username"  # ctx.extras key: the bot's @username, once known


@dataclass(frozen=True)
class Call:
    """One `/ar` invocation: the parsed command, the Slack user, the raw body, the client."""

    command: Any
    user: str
    role: Role
    ctx: SlackContext
    body: dict[str, Any]
    client: AsyncWebClient

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.ctx.settings.timezone)

    def today(self) -> date:
        """The team's date now."""
        return self.ctx.now().astimezone(self.zone).date()


@asynccontextmanager
async def writing(call: Call) -> AsyncIterator[AsyncConnection]:
    """A write transaction (SQLite: the writer at once, see `take_write_lock`)."""
    async with call.ctx.engine.begin() as conn:
        await take_write_lock(conn)
        yield conn


async def help_(call: Call) -> Reply:
    return help_reply()


async def status(call: Call) -> Reply:
    async with call.ctx.engine.connect() as conn:
        customer = await find_customer(conn, call.command.customer)
        found = await customer_status(conn, customer, today=call.today())
    text, blocks = status_blocks(found, zone=call.zone)
    return Reply(text, blocks)


async def sequences(call: Call) -> Reply:
    async with call.ctx.engine.connect() as conn:
        return sequences_reply(await sequence_overview(conn))


async def sequence_show(call: Call) -> Reply:
    async with call.ctx.engine.connect() as conn:
        stored = await find_sequence(conn, call.command.sequence)
        running = await running_enrollments(conn, stored.sequence.name)
    reply = sequence_reply(stored.sequence, stored.version, running, skip_step_button)
    if call.role == Role.MANAGER:
        reply.blocks.append({"type": "actions", "elements": [edit_button(stored.sequence.name)]})
    return reply


async def sequence_new(call: Call) -> Reply | None:
    trigger_id = str(call.body.get("trigger_id") or "")
    channel = call.body.get("channel_id")
    message = await open_builder(call.ctx, call.client, trigger_id=trigger_id, channel=channel)
    return plain(message) if message else None


def _targets_text(named: Named, changed: Changed) -> str:
    if changed.targets == [None]:
        return describe(named.customer)
    return f"invoice(s) {', '.join(t for t in changed.targets if t)} of {describe(named.customer)}"


async def enroll_(call: Call) -> Reply:
    command: p.Enroll = call.command
    async with writing(call) as conn:
        named = await name_target(conn, command.target.text)
        changed = await enroll(
            conn, sequence_name=command.sequence, customer_id=named.customer.id,
            invoice_id=named.invoice.id if named.invoice else None, actor=call.user,
            now=call.ctx.now(),
        )  # fmt: skip
    return plain(f"Started *{changed.sequence}* for {_targets_text(named, changed)}.")


async def unenroll_(call: Call) -> Reply:
    command: p.Unenroll = call.command
    async with writing(call) as conn:
        named = await name_target(conn, command.target.text)
        changed = await unenroll(
            conn, sequence_name=command.sequence, customer_id=named.customer.id,
            invoice_id=named.invoice.id if named.invoice else None, actor=call.user,
            now=call.ctx.now(),
        )  # fmt: skip
    return plain(f"Stopped *{changed.sequence}* for {_targets_text(named, changed)}.")


def _pause_end(call: Call, command: p.Pause) -> datetime | None:
    if command.duration is not None:
        return call.ctx.now() + command.duration
    if command.until is not None:
        # Until a date: touches may go out again from the start of that day, team time.
        return datetime.combine(command.until, time(0), tzinfo=call.zone).astimezone(UTC)
    return None


async def _scope(conn: AsyncConnection, target: p.Target) -> tuple[dict[str, Any], str]:
    """The pause/resume arguments for a target, and how to name it to the user."""
    if target.sequence is not None:
        stored = await find_sequence(conn, target.sequence)
        name = stored.sequence.name
        return {"scope": PauseScope.SEQUENCE, "sequence_name": name}, f"sequence *{name}*"
    named = await name_target(conn, target.text)
    if named.invoice is not None:
        return (
            {"scope": PauseScope.INVOICE, "invoice_id": named.invoice.id},
            f"invoice *{named.invoice.number}* of {describe(named.customer)}",
        )
    return (
        {"scope": PauseScope.CUSTOMER, "customer_id": named.customer.id},
        f"*{describe(named.customer)}*",
    )


async def pause(call: Call) -> Reply:
    command: p.Pause = call.command
    until = _pause_end(call, command)
    async with writing(call) as conn:
        scope, what = await _scope(conn, command.target)
        await ledger.pause(
            conn, **scope, until=until, reason=command.reason, actor=call.user,
            now=call.ctx.now(),
        )  # fmt: skip
    when = (
        "until further notice"
        if until is None
        else f"until {until.astimezone(call.zone):%Y-%m-%d %H:%M}"
    )
    why = f" ({command.reason})" if command.reason else ""
    return plain(f"Paused {what} {when}{why}. `/ar resume {command.target.text}` lifts it.")


async def resume(call: Call) -> Reply:
    command: p.Resume = call.command
    async with writing(call) as conn:
        scope, what = await _scope(conn, command.target)
        lifted = await ledger.resume(conn, **scope, actor=call.user, now=call.ctx.now())
    if not lifted:
        return plain(f"{what} was not paused: nothing to resume.")
    return plain(f"Resumed {what}: held steps are due again.")


async def dispute(call: Call) -> Reply:
    command: p.OpenDispute = call.command
    async with writing(call) as conn:
        invoice = await find_invoice(conn, command.invoice)
        await disputes.open_dispute(
            conn, invoice_id=invoice.id, reason=command.reason, actor=call.user,
            now=call.ctx.now(),
        )  # fmt: skip
    return plain(f"Dispute opened on invoice *{invoice.number}*: its reminders are on hold "
                 "and the escalations channel is told.")  # fmt: skip


async def resolve(call: Call) -> Reply:
    command: p.Resolve = call.command
    d = Dispute.__table__
    async with writing(call) as conn:
        invoice = await find_invoice(conn, command.invoice)
        dispute_id = await conn.scalar(
            select(d.c.id)
            .where(d.c.invoice_id == invoice.id)
            .where(d.c.status.in_([DisputeStatus.OPEN, DisputeStatus.ACKNOWLEDGED]))
        )
        if dispute_id is None:
            raise ledger.LedgerError(f"invoice {invoice.number} has no open dispute")
        await disputes.resolve_dispute(
            conn, dispute_id=dispute_id, resolution=command.resolution, credit_amount=None,
            actor=call.user, now=call.ctx.now(),
        )  # fmt: skip
    return plain(f"Dispute on invoice *{invoice.number}* resolved; its sequences resume.")


async def promise(call: Call) -> Reply:
    command: p.PromiseToPay = call.command
    async with writing(call) as conn:
        invoice = await find_invoice(conn, command.invoice)
        await promises.record_promise(
            conn, invoice_id=invoice.id, promised_date=command.promised_date,
            amount=command.amount, source=SOURCE, actor=call.user, now=call.ctx.now(),
            grace=call.ctx.settings.promise_grace,
        )  # fmt: skip
    amount = f" {command.amount:f} {invoice.currency}" if command.amount else ""
    return plain(f"Promise recorded: invoice *{invoice.number}*{amount} by "
                 f"{command.promised_date}; reminders wait until then.")  # fmt: skip


async def tasks(call: Call) -> Reply:
    command: p.Tasks = call.command
    async with call.ctx.engine.connect() as conn:
        found = await open_tasks(conn, now=call.ctx.now(), assignee=command.user)
    return tasks_reply(found, user=command.user, zone=call.zone)


async def kpi(call: Call) -> Reply:
    blocks = await kpi_reply_blocks(call.ctx.engine, as_of=call.today())
    return Reply("Today's KPIs", blocks)


async def preview(call: Call) -> Reply:
    command: p.Preview = call.command
    now = call.ctx.now()
    async with call.ctx.engine.connect() as conn:
        found = await load_preview(conn, command.sequence, command.customer, now=now)
    try:
        lines = preview_lines(found, now=now, pay_url=call.ctx.settings.pay_url)
    except (TemplateError, WindowError, ValueError) as exc:
        raise ledger.LedgerError(f"{found.sequence.name}: {exc}") from None
    return preview_reply(lines)


async def link(call: Call) -> Reply:
    command: p.Link = call.command
    now = call.ctx.now()
    async with writing(call) as conn:
        customer = await find_customer(conn, command.customer)
        token = await issue_link_token(conn, customer_id=customer.id, actor=call.user, now=now)
    expires = f"{(now + LINK_TTL).astimezone(call.zone):%Y-%m-%d %H:%M}"
    return link_reply(customer, token, await telegram_username(call.ctx), expires)


async def checklist(call: Call) -> Reply:
    command: p.ChecklistCommand = call.command
    if command.item is None:
        async with call.ctx.engine.connect() as conn:
            customer = await find_customer(conn, command.customer)
            found = await customer_checklists(conn, customer.id)
        return checklist_reply(customer, found)
    async with writing(call) as conn:
        customer = await find_customer(conn, command.customer)
        ticked = await tick_item(conn, customer_id=customer.id, query=command.item,
                                 actor=call.user, now=call.ctx.now())  # fmt: skip
    return checklist_reply(customer, ticked.checklists, ticked=ticked)


async def telegram_username(ctx: SlackContext) -> str | None:
    """The Telegram bot's @username from getMe, asked once; None when Telegram is off or
    cannot be reached (the reply then shows the /start line instead of a link)."""
    if TELEGRAM_USERNAME in ctx.extras:
        return ctx.extras[TELEGRAM_USERNAME]
    settings = ctx.settings
    if not settings.telegram_bot_token:
        return None
    url = settings.telegram_api_url
    session = AiohttpSession(api=TelegramAPIServer.from_base(url)) if url else AiohttpSession()
    bot = Bot(settings.telegram_bot_token, session=session)
    try:
        me = await bot.get_me()
    except (TelegramAPIError, ClientError, TimeoutError) as exc:
        log.warning("Telegram getMe failed, /ar link shows the /start line: %s", exc)
        return None
    finally:
        await bot.session.close()
    ctx.extras[TELEGRAM_USERNAME] = me.username
    return me.username
