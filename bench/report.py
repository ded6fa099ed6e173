"""The results table (rich) and bench/results.json."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console
from rich.table import Table

from bench.registry import Result


def _number(value: float) -> str:
    if value == int(value) and abs(value) >= 100:
        return f"{int(value):,}"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:,.2f}"


def table(results: Sequence[Result], title: str) -> Table:
    """figure | value | unit | target | ratio to target | pass/fail."""
    out = Table(title=title, title_justify="left")
    out.add_column("figure", no_wrap=True)
    out.add_column("value", justify="right")
    out.add_column("unit")
    out.add_column("target", justify="right")
    out.add_column("ratio to target", justify="right")
    out.add_column("result")
    for r in results:
        verdict = "[green]pass[/green]" if r.passed else "[bold red]FAIL[/bold red]"
        sign = "≥" if r.op == ">=" else "≤"
        out.add_row(
            r.name,
            _number(r.value),
            r.unit,
            f"{sign} {_number(r.target)}",
            f"{r.ratio:.2f}",
            verdict,
        )
    return out


def markdown(results: Sequence[Result]) -> str:
    """The same table as GitHub markdown (for BENCHMARKS.md)."""
    lines = [
        "| figure | value | unit | target | ratio to target | result |",
        "|---|---:|---|---:|---:|---|",
    ]
    for r in results:
        sign = "≥" if r.op == ">=" else "≤"
        lines.append(
            f"| `{r.name}` | {_number(r.value)} | {r.unit} | {sign} {_number(r.target)} "
            f"| {r.ratio:.2f} | {'pass' if r.passed else '**FAIL**'} |"
        )
    return "\n".join(lines)


def print_report(console: Console, results: Sequence[Result], title: str) -> None:
    """Print the table, then say plainly which figures missed their target."""
    console.print(table(results, title))
    failed = [r for r in results if not r.passed]
    if not failed:
        console.print(f"[green]all {len(results)} figure(s) met their target[/green]")
        return
    console.print(f"[bold red]{len(failed)} of {len(results)} figure(s) missed the target:[/]")
    for r in failed:
        sign = "≥" if r.op == ">=" else "≤"
        console.print(
            f"  [red]FAIL[/red] {r.name}: {_number(r.value)} {r.unit} "
            f"(target {sign} {_number(r.target)})"
        )


def write_json(results: Sequence[Result], path: Path) -> None:
    """Write the results as a JSON list of {name, value, unit, target, pass, detail}."""
    path.write_text(json.dumps([r.as_json() for r in results], indent=2) + "\n")
