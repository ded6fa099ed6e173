"""`arseq kpi [--as-of DATE] [--json]`: the KPIs of one date, as a table or JSON."""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import date, datetime
from typing import Any, TextIO

from rich.console import Console
from rich.table import Table

from bot.commands.common import ready_engine
from bot.errors import UsageProblem
from bot.settings import Settings
from sequences.kpi import compute_kpis
from sequences.kpi_report import kpis_data


def parse_day(value: str | None, option: str, today: date) -> date:
    """A YYYY-MM-DD date (default: today), or a usage error naming the option."""
    if value is None:
        return today
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise UsageProblem(f"{option}: expected a date YYYY-MM-DD, got {value!r}") from None


def show_kpis(settings: Settings, as_of: date, *, as_json: bool, out: TextIO | None = None) -> None:
    """Compute the KPIs as of the end of `as_of` and print them."""
    data = asyncio.run(_compute(settings, as_of))
    out = out or sys.stdout
    if as_json:
        print(json.dumps(data, indent=2), file=out)
    else:
        render_table(data, Console(file=out, width=max(100, Console().width)))


async def _compute(settings: Settings, as_of: date) -> dict[str, Any]:
    async with ready_engine(settings) as engine, engine.connect() as conn:
        return kpis_data(await compute_kpis(conn, as_of=as_of))


ROWS = [
    ("Total AR", "total_ar"), ("Current", "current"), ("Overdue", "overdue"),
    ("  1-30 days", "aging.1-30"), ("  31-60 days", "aging.31-60"),
    ("  61-90 days", "aging.61-90"), ("  90+ days", "aging.90+"),
    ("Open invoices", "open_invoices"), ("DSO (90 days)", "dso"),
    ("Countback DSO", "dso_countback"), ("Best possible DSO", "best_dso"),
    ("ADD", "add"), ("CEI this month %", "cei"),
    ("Collected yesterday", "collected_yesterday"), ("Collected this month", "collected_mtd"),
    ("Promises due / kept / broken", "promises"), ("Open disputes (median age d)", "disputes"),
]  # fmt: skip


def cell(figures: dict[str, Any], key: str) -> str:
    """One figure of a currency as text ("n/a" when it could not be computed)."""
    if key == "promises":
        p = figures["promises"]
        return f"{p['due']} / {p['kept']} / {p['broken']}"
    if key == "disputes":
        d = figures["disputes"]
        return f"{d['open']} ({d['median_age_days'] or '-'})"
    value: Any = figures
    for part in key.split("."):
        value = value[part]
    return "n/a" if value is None else str(value)


def render_table(data: dict[str, Any], console: Console) -> None:
    """The KPIs per currency, the collectors, the sequences and A/B tests."""
    currencies = data["currencies"]
    if not currencies:
        console.print(f"KPIs as of {data['as_of']}: {data.get('reason', 'nothing to show')}")
        return
    table = Table(title=f"KPIs as of {data['as_of']}")
    table.add_column("KPI")
    for currency in currencies:
        table.add_column(currency, justify="right")
    for label, key in ROWS:
        table.add_row(label, *(cell(figures, key) for figures in currencies.values()))
    console.print(table)
    for currency, figures in currencies.items():
        for name, reason in figures["unavailable"].items():
            console.print(f"{currency} {name}: n/a, {reason}")
    owners = Table(title="Per collector")
    for column in ("Collector", "Currency", "AR", "Overdue", "Invoices"):
        owners.add_column(column, justify="left" if column == "Collector" else "right")
    for currency, figures in currencies.items():
        for book in figures["collectors"]:
            owners.add_row(book["owner"] or "(unassigned)", currency, book["total_ar"],
                           book["overdue"], str(book["open_invoices"]))  # fmt: skip
    console.print(owners)
    if data["sequences"]:
        seqs = Table(title="Sequences: touches paid within 7 days")
        for column in ("Sequence", "Variant", "Touched", "Paid in 7d", "Rate"):
            seqs.add_column(column)
        for s in data["sequences"]:
            seqs.add_row(s["sequence"], s["variant"] or "-", str(s["touched"]),
                         str(s["paid_within_7d"]), s["rate"] or "-")  # fmt: skip
        console.print(seqs)
    for t in data["ab_tests"]:
        verdict = t["reason"] or (
            f"z={t['z']}, p={t['p_value']}: "
            + ("significant" if t["significant"] else "not significant")
        )
        console.print(f"A/B {t['sequence']}: {t['a']} vs {t['b']}: {verdict}")


def today_in(settings: Settings) -> date:
    """Today's date in the team's time zone."""
    return datetime.now(settings.zone).date()
