"""The ephemeral `/ar kpi` reply: today's KPIs, the same numbers as `arseq kpi` and the digest."""

from __future__ import annotations

from datetime import date

from sqlalchemy.ext.asyncio import AsyncEngine

from bot.slack.blocks import Block
from bot.slack.digest_blocks import kpi_blocks
from sequences.kpi import compute_kpis
from sequences.kpi_report import kpis_data


async def kpi_reply_blocks(engine: AsyncEngine, *, as_of: date) -> list[Block]:
    """Blocks for `respond(response_type="ephemeral", blocks=...)` of `/ar kpi`."""
    async with engine.connect() as conn:
        return kpi_blocks(kpis_data(await compute_kpis(conn, as_of=as_of)))
