"""The digest's aging chart: a PNG drawn with matplotlib's Agg backend (no display)."""

from __future__ import annotations

import asyncio
import io
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from typing import Any

BUCKETS = ("current", "1-30", "31-60", "61-90", "90+")
COLOURS = ("#2e7d32", "#f9a825", "#ef6c00", "#d84315", "#b71c1c")


def _short(value: float, _: object) -> str:
    """An axis label: 1.5M, 250k, 900 (not matplotlib's 1e6 offset)."""
    for size, unit in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= size:
            return f"{value / size:g}{unit}"
    return f"{value:g}"


def aging_chart_png(as_of: str, currencies: dict[str, dict[str, Any]]) -> bytes:
    """One bar chart per currency of receivables by days past due, as PNG bytes."""
    # Imported here: only the drawing process needs matplotlib (half a second to load).
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter

    panels = max(len(currencies), 1)
    # A Figure without pyplot: no global state, safe beside other threads and loops.
    figure = Figure(figsize=(6, 2.6 * panels), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.subplots(panels, 1, squeeze=False)[:, 0]
    if not currencies:
        axes[0].text(0.5, 0.5, "no receivables", ha="center", va="center")
        axes[0].set_axis_off()
    for ax, (currency, figures) in zip(axes, currencies.items(), strict=False):
        values = [float(figures["aging"][b]) for b in BUCKETS]  # drawing only, never money
        ax.bar(BUCKETS, values, color=COLOURS)
        ax.set_title(f"{currency} receivables by days past due, as of {as_of}", fontsize=9)
        ax.tick_params(labelsize=8)
        ax.margins(y=0.15)  # room for the value above the tallest bar
        ax.yaxis.set_major_formatter(FuncFormatter(_short))
        for x, value in enumerate(values):
            ax.annotate(f"{value:,.0f}", (x, value), ha="center", va="bottom", fontsize=7)
    # Fixed margins: tight_layout measured every label and took half the drawing time.
    height = 2.6 * panels
    figure.subplots_adjust(left=0.12, right=0.97, bottom=0.35 / height, top=1 - 0.35 / height,
                           hspace=0.75 / 2.6)  # fmt: skip
    out = io.BytesIO()
    figure.savefig(out, format="png")
    return out.getvalue()


_drawer: ProcessPoolExecutor | None = None


async def draw_aging_chart(as_of: str, currencies: dict[str, dict[str, Any]]) -> bytes:
    """`aging_chart_png` in a process of its own.

    Drawing is about 150 ms of pure-Python CPU; in a thread it would hold the GIL that
    the Slack and Telegram handlers (and the clock) need meanwhile. One process, started
    on first use and kept, draws every chart.
    """
    global _drawer
    if _drawer is None:
        _drawer = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_drawer, aging_chart_png, as_of, currencies)
