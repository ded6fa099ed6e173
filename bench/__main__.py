"""`python -m bench [--quick] [--only NAME]`: run the benchmarks, print one table.

The exit code is 0 even when a figure misses its target (this is a report); it is 1
when a benchmark could not run at all, and 2 for a bad command line.
"""

from __future__ import annotations

import argparse
import sys
import time
import traceback
from pathlib import Path

from rich.console import Console

from bench import machine, report
from bench.registry import RESULTS_PATH, Context, Result, load_all


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="divide every size by 10")
    parser.add_argument(
        "--only", action="append", metavar="NAME", help="run only this benchmark (repeatable)"
    )
    parser.add_argument(
        "--repeat", type=int, default=1, metavar="N", help="repeat timings N times, keep the median"
    )
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    parser.add_argument(
        "--output", type=Path, default=RESULTS_PATH, help=f"JSON results (default {RESULTS_PATH})"
    )
    parser.add_argument("--markdown", action="store_true", help="also print the table as markdown")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the selected benchmarks; return the process exit code."""
    args = _parse(argv)
    registry = load_all()
    console = Console()
    if args.list:
        width = max(len(name) for name in registry)
        for bench in registry.values():
            console.print(f"{bench.name:<{width}} {bench.summary}")
        return 0
    selected = args.only or list(registry)
    unknown = [name for name in selected if name not in registry]
    if unknown:
        console.print(
            f"[red]unknown benchmark(s): {', '.join(unknown)}[/red] (known: {', '.join(registry)})"
        )
        return 2
    ctx = Context(quick=args.quick, repeat=max(1, args.repeat))
    ctx.data_dir.mkdir(parents=True, exist_ok=True)
    console.print(f"machine: {machine.describe()}")
    mode = "quick (sizes / 10)" if ctx.quick else "full"
    console.print(f"mode: {mode}, repeat {ctx.repeat}")
    results: list[Result] = []
    crashed: list[str] = []
    for name in selected:
        bench = registry[name]
        console.rule(f"{name}: {bench.summary}")
        started = time.perf_counter()
        try:
            results.extend(bench.run(ctx))
        except Exception:
            crashed.append(name)
            console.print(f"[bold red]benchmark {name} crashed:[/]")
            console.print(traceback.format_exc(), markup=False, highlight=False)
        console.print(f"{name} took {time.perf_counter() - started:.1f} s")
    title = f"ARSeq benchmarks ({'quick' if ctx.quick else 'full'})"
    report.print_report(console, results, title)
    if args.markdown:
        console.print(report.markdown(results), markup=False, highlight=False)
    report.write_json(results, args.output)
    console.print(f"results written to {args.output}")
    if crashed:
        console.print(f"[bold red]could not run: {', '.join(crashed)}[/]")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
