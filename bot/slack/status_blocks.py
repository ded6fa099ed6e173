"""Block Kit of the `/ar status CUSTOMER` reply."""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

from bot.slack.blocks import Block, context, escape, mention, section
from sequences.lookup import describe
from sequences.status import CustomerStatus
from sequences.templates import customer_locale, money

SLACK_USER = re.compile(r"^[UW][A-Z0-9]+$")


def _when(at: datetime | None, zone: ZoneInfo) -> str:
    return "-" if at is None else f"{at.astimezone(zone):%Y-%m-%d %H:%M}"


def status_blocks(status: CustomerStatus, *, zone: ZoneInfo) -> tuple[str, list[Block]]:
    """The fallback text and blocks of one customer's status (times in the team's `zone`)."""
    c = status.customer
    locale = customer_locale(c._asdict())

    def cash(amount: object, currency: str) -> str:
        return money(amount, currency, locale)

    title = f"*{escape(describe(c))}* · owner {mention(c.owner_slack_id)}"
    if status.balance:
        owed = ", ".join(cash(v, cur) for cur, v in sorted(status.balance.items()))
    else:
        owed = "nothing open"
    blocks = [section(f"{title}\nBalance: *{owed}* on {status.invoice_count} open invoice(s)")]
    for currency, buckets in sorted(status.aging.items()):
        parts = " · ".join(f"{name} {cash(v, currency)}" for name, v in buckets.items() if v)
        blocks.append(context(f"Aging {currency}: {parts}"))
    if status.invoices:
        lines = []
        for inv in status.invoices:
            late = f"{inv.days_overdue}d overdue" if inv.days_overdue else f"due {inv.due_date}"
            flags = " · disputed" if inv.disputed else ""
            flags += f" · promised {inv.promised_for}" if inv.promised_for else ""
            lines.append(f"• `{escape(inv.number)}` {cash(inv.open_amount, inv.currency)}"
                         f" · {late}{flags}")  # fmt: skip
        more = status.invoice_count - len(status.invoices)
        if more > 0:
            lines.append(f"… and {more} more")
        blocks.append(section("*Open invoices*\n" + "\n".join(lines)))
    if status.sequences:
        lines = []
        for run in status.sequences:
            what = f"invoice `{escape(run.invoice)}`" if run.invoice else "customer"
            if run.state == "paused":
                state = f"paused until {_when(run.paused_until, zone)}"
            else:
                state = f"next {_when(run.next_action_at, zone)}"
            lines.append(f"• {escape(run.sequence)} ({what}) · step {run.step} · {state}")
        blocks.append(section("*Running sequences*\n" + "\n".join(lines)))
    if status.touches:
        lines = [f"• {_when(t.at, zone)} {t.channel}: {escape(t.subject or '(no subject)')}"
                 for t in status.touches]  # fmt: skip
        blocks.append(section("*Last touches*\n" + "\n".join(lines)))
    if status.disputes:
        lines = [f"• `{escape(d.invoice)}` {d.status} since {_when(d.opened_at, zone)}"
                 f" by {who(d.opened_by)}: {escape(d.reason)}"
                 for d in status.disputes]  # fmt: skip
        blocks.append(section("*Disputes*\n" + "\n".join(lines)))
    if status.promises:
        lines = [
            f"• `{escape(p.invoice)}` by {p.promised_date}"
            + (f" · {cash(p.amount, p.currency)}" if p.amount else "")
            for p in status.promises
        ]
        blocks.append(section("*Promises*\n" + "\n".join(lines)))
    return f"{describe(c)}: {owed}", blocks


def who(actor: str | None) -> str:
    """Who did something: a Slack user as a mention, anyone else (a chat, the engine) as text."""
    if actor and SLACK_USER.match(actor):
        return mention(actor)
    return escape(actor or "someone")
