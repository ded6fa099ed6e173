"""The demo's customers and managers answering, each by its profile, through the code
paths a real answer takes.

A Telegram customer presses the real buttons of the reminder it got (the update goes
through aiogram's dispatcher and ARSeq's handlers), and types a dispute's reason as a chat
message. An email customer's answer reaches the collector, who records it as `/ar promise`
and `/ar dispute` do. Managers acknowledge disputes as the Acknowledge button does, and
resolve them as the Resolve modal does. Payments arrive the next morning through the
payments import, as a nightly bank export would.
"""

from __future__ import annotations

import itertools
import logging
import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from aiogram import Bot, Dispatcher
from aiogram.types import Update
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.demo.ledger import MANAGERS, DemoCustomer, DemoInvoice, Profile
from bot.fakes.telegram_api import FakeTelegramApi, callback_update, message_update
from bot.settings import Settings
from bot.slack.team_posts import refresh_escalation, refresh_task
from bot.telegram.callbacks import Action, InvoiceAction
from sequences.disputes import acknowledge_dispute, open_dispute, resolve_dispute
from sequences.ledger import LedgerError
from sequences.promises import record_promise
from sequences.tasks import complete_task
from sequences.telegram_links import issue_link_token
from storage.models import Dispute, DisputeStatus, OutboxMessage, OutboxState, Task, TaskState

log = logging.getLogger("arseq.demo")

REASONS = [
    "The quantity billed does not match the delivery note",
    "We were charged the old price; the new contract applies",
    "This was already paid with the previous invoice",
    "The service was not delivered in full",
]
PROMISE_DAYS = 7
TASKS_PER_PERSON = 40  # tasks a collector (or manager) gets done in a day
_updates = itertools.count(1)


@dataclass
class SimClock:
    """The simulated instant; handlers and domain functions read it as their `now`."""

    now: datetime

    def __call__(self) -> datetime:
        return self.now


@dataclass
class OpenDispute:
    invoice: DemoInvoice
    opened: datetime
    ack_at: datetime
    resolve_at: datetime
    acked: bool = False


@dataclass
class Behaviour:
    """Who answers what, and what happened (for the feed and the summary)."""

    engine: AsyncEngine
    bot: Bot
    dispatcher: Dispatcher
    telegram: FakeTelegramApi
    slack: AsyncWebClient
    rng: random.Random
    invoice_ids: dict[int, DemoInvoice]
    customer_ids: dict[str, int]
    clock: SimClock
    settings: Settings
    disputes: dict[int, OpenDispute] = field(default_factory=dict)
    promised: dict[str, date] = field(default_factory=dict)  # invoice number -> promised day
    counts: dict[str, int] = field(default_factory=dict)
    _ids: dict[str, int] = field(default_factory=dict)  # invoice number -> id

    def count(self, what: str) -> None:
        self.counts[what] = self.counts.get(what, 0) + 1

    async def _feed(self, update: dict[str, Any]) -> None:
        model = Update.model_validate(
            {"update_id": next(_updates), **update}, context={"bot": self.bot}
        )
        await self.dispatcher.feed_update(self.bot, model)

    async def link_telegram(self, customers: list[DemoCustomer], day: date) -> int:
        """Each Telegram customer opens the deep link from `/ar link` (`/start TOKEN`), at
        10:00 of its own time zone on `day`."""
        linked = 0
        for customer in customers:
            if customer.chat_id is None:
                continue
            now = datetime.combine(day, time(10), ZoneInfo(customer.timezone)).astimezone(UTC)
            self.clock.now = now
            async with self.engine.begin() as conn:
                token = await issue_link_token(
                    conn, customer_id=self.customer_ids[customer.external_id],
                    actor=customer.owner, now=now,
                )  # fmt: skip
            username = f"ap_{customer.external_id.lower()}"
            await self._feed(message_update(customer.chat_id, f"/start {token}", username=username))
            linked += 1
        return linked

    async def answer_reminders(self, day: date) -> list[str]:
        """React to the reminders sent on `day`; the feed's lines for what customers did."""
        start = datetime.combine(day, time(0), UTC)
        o = OutboxMessage.__table__
        async with self.engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(o.c.channel, o.c.invoice_ids, o.c.provider_message_id).where(
                        o.c.state == OutboxState.SENT, o.c.kind == "customer_message",
                        o.c.sent_at >= start, o.c.sent_at < start + timedelta(days=1),
                    )
                )
            ).all()  # fmt: skip
        lines: list[str] = []
        for row in rows:
            for invoice_id in row.invoice_ids or []:
                invoice = self.invoice_ids.get(int(invoice_id))
                if invoice is None or invoice.paid_on is not None or day < invoice.due:
                    continue
                invoice.reminders.append(day)
                line = await self._react(invoice, day, str(row.channel), row.provider_message_id)
                if line:
                    lines.append(line)
        return lines

    async def _react(
        self, invoice: DemoInvoice, day: date, channel: str, message: str | None
    ) -> str | None:
        profile, n = invoice.customer.profile, len(invoice.reminders)
        if profile == Profile.LATE and n == 1:
            self._plan(invoice, day + timedelta(days=self.rng.randint(1, 4)))
            if channel == "telegram" and await self._press(message, Action.PAID, invoice):
                return f'{invoice.customer.name} pressed "I\'ve paid" on {invoice.number}'
        elif profile == Profile.CHRONIC and n == 2:
            self._plan(invoice, day + timedelta(days=self.rng.randint(2, 6)))
        elif profile == Profile.DISPUTER and n == 1:
            if self.rng.random() < 0.5:
                return await self._dispute(invoice, channel, message)
            self._plan(invoice, day + timedelta(days=self.rng.randint(2, 5)))
        elif profile == Profile.PROMISER:
            promised = self.promised.get(invoice.number)
            if promised is None:
                return await self._promise(invoice, day, channel, message)
            if day > promised:  # the promise broke; the reminder after it works
                self._plan(invoice, day + timedelta(days=self.rng.randint(1, 3)))
        return None

    def _plan(self, invoice: DemoInvoice, day: date) -> None:
        """The customer will pay on `day`, unless it would have paid sooner anyway."""
        natural = invoice.natural_paid
        invoice.planned = day if natural is None else min(day, natural)

    async def _press(
        self, message: str | None, action: Action, invoice: DemoInvoice, days: int = 0
    ) -> bool:
        """Press the button for `action` on the Telegram reminder `message` ("chat:id")."""
        if not message or ":" not in message:
            return False
        chat, message_id = (int(part) for part in message.split(":", 1))
        invoice_id = self._id(invoice)
        for sent in self.telegram.sent:
            if sent.chat_id != chat or sent.message_id != message_id:
                continue
            for row in (sent.reply_markup or {}).get("inline_keyboard", []):
                for button in row:
                    data = button.get("callback_data")
                    if not data:
                        continue
                    pressed = InvoiceAction.unpack(data)
                    if (pressed.action, pressed.invoice_id, pressed.days) == (
                        action,
                        invoice_id,
                        days,
                    ):
                        await self._feed(callback_update(chat, data, message_id=message_id))
                        self.count(f"telegram {action.value}")
                        return True
        return False

    async def _promise(
        self, invoice: DemoInvoice, day: date, channel: str, message: str | None
    ) -> str:
        self.promised[invoice.number] = day + timedelta(days=PROMISE_DAYS)
        self.count("promises")
        if channel == "telegram" and await self._press(
            message, Action.PROMISE, invoice, PROMISE_DAYS
        ):
            return (
                f'{invoice.customer.name} pressed "Promise {PROMISE_DAYS} days" on {invoice.number}'
            )
        try:  # by email: the collector records it, as `/ar promise` does
            async with self.engine.begin() as conn:
                await record_promise(
                    conn, invoice_id=self._id(invoice), promised_date=self.promised[invoice.number],
                    amount=None, source="slack", actor=invoice.customer.owner, now=self.clock(),
                )  # fmt: skip
        except LedgerError:
            return ""
        return (f"{invoice.customer.name} promised by email to pay {invoice.number} by "
                f"{self.promised[invoice.number]} (/ar promise by the collector)")  # fmt: skip

    async def _dispute(self, invoice: DemoInvoice, channel: str, message: str | None) -> str:
        reason = self.rng.choice(REASONS)
        invoice.held = True
        now = self.clock()
        before = await self._open_dispute_id(invoice)
        if channel == "telegram" and await self._press(message, Action.DISPUTE, invoice):
            chat = invoice.customer.chat_id or 0
            await self._feed(message_update(chat, reason, username=f"ap_{chat}"))
            how = "in Telegram"
        else:  # by email: the collector opens it, as `/ar dispute` does
            try:
                async with self.engine.begin() as conn:
                    await open_dispute(conn, invoice_id=self._id(invoice), reason=reason,
                                       actor=invoice.customer.owner, now=now)  # fmt: skip
            except LedgerError:
                return ""
            how = "by email (/ar dispute by the collector)"
        dispute_id = await self._open_dispute_id(invoice)
        if dispute_id is None or dispute_id == before:
            return ""
        ack = now + timedelta(hours=self.rng.uniform(2, 40))
        resolve = ack + timedelta(days=self.rng.uniform(2, 6))
        self.disputes[dispute_id] = OpenDispute(invoice, now, ack, resolve)
        self.count("disputes")
        log.info("dispute opened", extra={"event": "dispute", "invoice": invoice.number})
        return f"{invoice.customer.name} disputed {invoice.number} {how}: {reason}"

    def _id(self, invoice: DemoInvoice) -> int:
        if len(self._ids) != len(self.invoice_ids):
            self._ids = {v.number: k for k, v in self.invoice_ids.items()}
        return self._ids[invoice.number]

    async def _open_dispute_id(self, invoice: DemoInvoice) -> int | None:
        d = Dispute.__table__
        async with self.engine.connect() as conn:
            return await conn.scalar(
                select(d.c.id).where(
                    d.c.invoice_id == self._id(invoice), d.c.status != DisputeStatus.RESOLVED
                )
            )

    async def managers(self, now: datetime) -> list[str]:
        """Acknowledge and resolve the disputes whose time has come; the feed's lines."""
        lines = []
        manager = MANAGERS[0]
        for dispute_id, open_ in list(self.disputes.items()):
            if not open_.acked and open_.ack_at <= now:
                async with self.engine.begin() as conn:  # what the Acknowledge button does
                    await acknowledge_dispute(conn, dispute_id=dispute_id, actor=manager, now=now)
                await refresh_escalation(self.slack, self.engine, dispute_id)
                open_.acked = True
                hours = (now - open_.opened).total_seconds() / 3600
                lines.append(f"<@{manager}> acknowledged the dispute on "
                             f"{open_.invoice.number} after {hours:.0f} h")  # fmt: skip
            if open_.acked and open_.resolve_at <= now:
                invoice = open_.invoice
                credit = (invoice.amount * Decimal("0.1")).quantize(Decimal("0.01"))
                credit_note = credit if self.rng.random() < 0.4 else None
                async with self.engine.begin() as conn:  # what the Resolve modal does
                    await resolve_dispute(
                        conn, dispute_id=dispute_id, actor=manager, now=now,
                        resolution="Checked with sales; corrected" if credit_note else
                        "Checked with sales; the invoice stands", credit_amount=credit_note,
                    )  # fmt: skip
                await refresh_escalation(self.slack, self.engine, dispute_id)
                invoice.held = False
                if credit_note:
                    invoice.amount -= credit_note
                self._plan(invoice, now.date() + timedelta(days=self.rng.randint(2, 5)))
                del self.disputes[dispute_id]
                credited = f" with a credit note of {credit_note}" if credit_note else ""
                lines.append(f"<@{manager}> resolved the dispute on {invoice.number}{credited}")
        return lines

    async def collectors(self, now: datetime) -> list[str]:
        """Each collector gets through the oldest of their open tasks, as the Done button does;
        a manager takes the unassigned ones (escalations)."""
        t = Task.__table__
        async with self.engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(t.c.id, t.c.assignee_slack_id).where(
                        t.c.state == TaskState.OPEN, t.c.slack_ts.is_not(None),
                        t.c.created_at <= now - timedelta(hours=6),
                    ).order_by(t.c.due_at, t.c.id)
                )
            ).all()  # fmt: skip
        done: dict[str, int] = {}
        for row in rows:
            who = row.assignee_slack_id or MANAGERS[0]
            if done.get(who, 0) >= TASKS_PER_PERSON:
                continue
            async with self.engine.begin() as conn:
                if not await complete_task(conn, task_id=row.id, actor=who, now=now):
                    continue
            await refresh_task(self.slack, self.engine, row.id, now=now, settings=self.settings)
            done[who] = done.get(who, 0) + 1
        self.counts["tasks done"] = self.counts.get("tasks done", 0) + sum(done.values())
        return [f"<@{who}> marked {n} task(s) done" for who, n in sorted(done.items())]
