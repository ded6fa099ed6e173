"""Block Kit for the daily digest and the ephemeral `/ar kpi` reply (pure functions).

Both show the same per-currency figures of `sequences.kpi_report.kpis_data`; the digest
adds each figure's change against yesterday and 30 days ago, and the lists.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from bot.slack.blocks import Block, context, mention, section
from sequences.digest import DigestData

# (label, key in the currency's data, unit); "days" and "%" are not amounts.
HEADLINE = [
    ("Total AR", "total_ar", ""), ("Overdue", "overdue", ""), ("DSO", "dso", " days"),
    ("Countback DSO", "dso_countback", " days"), ("ADD", "add", " days"),
    ("CEI (month)", "cei", "%"), ("Collected yesterday", "collected_yesterday", ""),
    ("Collected this month", "collected_mtd", ""),
]  # fmt: skip
BUCKETS = ("current", "1-30", "31-60", "61-90", "90+")
MAX_LINES = 10


def delta(now: str | None, before: str | None) -> str:
    """`▲ 12.50`, `▼ 3.00`, `= 0.00`, or `–` when either side is unknown."""
    if now is None or before is None:
        return "–"
    change = Decimal(now) - Decimal(before)
    arrow = "▲" if change > 0 else "▼" if change < 0 else "="
    return f"{arrow} {abs(change):.2f}"


def _figure(value: str | None, unit: str) -> str:
    return "n/a" if value is None else f"{value}{unit}"


def currency_fields(
    currency: str,
    figures: dict[str, Any],
    yesterday: dict[str, Any] | None = None,
    month_ago: dict[str, Any] | None = None,
    *,
    compare: bool = True,
) -> list[Block]:
    """One currency's headline figures (with deltas when `compare`) and its aging line."""
    fields = []
    for label, key, unit in HEADLINE:
        line = f"*{label}*\n{_figure(figures.get(key), unit)}"
        if compare:
            before = (yesterday or {}).get(key)
            earlier = (month_ago or {}).get(key)
            line += (
                f"\n{delta(figures.get(key), before)} vs yesterday · "
                f"{delta(figures.get(key), earlier)} vs 30 days ago"
            )
        fields.append({"type": "mrkdwn", "text": line})
    aging = figures["aging"]
    promises, disputes = figures["promises"], figures["disputes"]
    extra = (
        "Aging: " + " · ".join(f"{b} {aging[b]}" for b in BUCKETS)
        + f"\nPromises this month: {promises['due']} due, {promises['kept']} kept, "
        f"{promises['broken']} broken · Open disputes: {disputes['open']}"
        + (f" (median {disputes['median_age_days']} days)" if disputes["median_age_days"] else "")
    )  # fmt: skip
    blocks: list[Block] = [
        section(f"*{currency}*"),
        {"type": "section", "fields": fields[:10]},
        context(extra),
    ]
    if figures["unavailable"]:
        why = "; ".join(f"{k}: {v}" for k, v in figures["unavailable"].items())
        blocks.append(context(f"n/a: {why}"))
    return blocks


def kpi_blocks(report: dict[str, Any]) -> list[Block]:
    """The ephemeral `/ar kpi` reply: the same figures as the digest, without deltas."""
    blocks: list[Block] = [section(f"*KPIs as of {report['as_of']}*")]
    if not report["currencies"]:
        return [*blocks, context(report.get("reason", "nothing to show"))]
    for currency, figures in report["currencies"].items():
        blocks += currency_fields(currency, figures, compare=False)
    return blocks


def _bullets(lines: list[str], empty: str) -> str:
    if not lines:
        return empty
    shown = lines[:MAX_LINES]
    more = f"\n…and {len(lines) - MAX_LINES} more" if len(lines) > MAX_LINES else ""
    return "\n".join(f"• {line}" for line in shown) + more


def digest_blocks(data: DigestData) -> list[Block]:
    """The digest message: KPIs with deltas, then accounts, disputes, promises, tasks."""
    report = data.report
    blocks: list[Block] = [
        {"type": "header", "text": {"type": "plain_text", "text": f"AR digest {data.day}"}},
    ]
    if not report["currencies"]:
        blocks.append(context(report.get("reason", "nothing to show")))
    for currency, figures in report["currencies"].items():
        blocks += currency_fields(
            currency, figures, data.yesterday.get(currency), data.month_ago.get(currency)
        )
    blocks.append({"type": "divider"})
    accounts = [
        f"{r.name} ({mention(r.owner)}): {r.amount:.2f} {r.currency} past due, "
        f"{r.invoices} invoice(s), oldest due {r.oldest_due}"
        for r in data.top_overdue
    ]
    blocks.append(
        section("*Top overdue accounts*\n" + _bullets(accounts, "None: nothing past due."))
    )
    disputes = [
        f"{d.customer}, invoice {d.number}: {d.reason[:80]} (open since {d.opened_at.date()}"
        f"{'' if d.acknowledged else ', not acknowledged'})"
        for d in data.disputes
    ]
    blocks.append(section("*Disputes needing attention*\n" + _bullets(disputes, "None.")))
    due = [f"{p.customer}, invoice {p.number} ({mention(p.owner)})" for p in data.promises_due]
    broken = [
        f"{p.customer}, invoice {p.number}, promised {p.promised_date} ({mention(p.owner)})"
        for p in data.promises_broken
    ]
    blocks.append(section("*Promises due today*\n" + _bullets(due, "None.")))
    blocks.append(section("*Promises broken yesterday*\n" + _bullets(broken, "None.")))
    tasks = [f"{mention(who)}: {n} open" for who, n in data.tasks]
    blocks.append(section("*Tasks per collector*\n" + _bullets(tasks, "No open tasks.")))
    return blocks[:50]


def digest_text(data: DigestData) -> str:
    """The notification text of the digest (shown where blocks are not)."""
    totals = ", ".join(
        f"{figures['total_ar']} {cur} AR ({figures['overdue']} overdue)"
        for cur, figures in data.report["currencies"].items()
    )
    return f"AR digest {data.day}: {totals or 'no receivables'}"


def blocks_as_text(blocks: list[Block]) -> str:
    """Blocks flattened to plain lines (for a terminal when Slack is off)."""
    lines: list[str] = []
    for block in blocks:
        if "text" in block:
            lines.append(block["text"]["text"])
        for item in block.get("fields", []):
            lines.append("  " + item["text"].replace("\n", "  "))
        for item in block.get("elements", []):
            lines.append(item["text"])
    return "\n".join(lines)
