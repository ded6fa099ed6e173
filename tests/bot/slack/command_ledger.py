"""A small ledger for the `/ar` tests, and reading what the command answered."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from sequences.store import ensure_library
from tests.bot.slack.harness import SlackHarness
from tests.sequences.engine_helpers import add_customer, add_invoice, utc

NOW = utc(2026, 3, 2, 10)


async def build_ledger(engine: AsyncEngine) -> dict[str, int]:
    """Two ACME customers (an ambiguous prefix) and one BETA, with open invoices; the
    built-in sequences stored."""
    ids = {
        "ACME1": await add_customer(engine, "ACME1"),
        "ACME2": await add_customer(engine, "ACME2"),
        "BETA": await add_customer(engine, "BETA"),
    }
    await add_invoice(engine, ids["BETA"], "INV-1", issued=date(2026, 1, 1),
                      due=date(2026, 1, 31), amount="1200.00")  # fmt: skip
    await add_invoice(engine, ids["BETA"], "INV-2", issued=date(2026, 2, 20),
                      due=date(2026, 3, 20), amount="300.50")  # fmt: skip
    await add_invoice(engine, ids["ACME1"], "INV-3", issued=date(2026, 2, 1),
                      due=date(2026, 3, 1), amount="50.00", currency="EUR")  # fmt: skip
    async with engine.begin() as conn:
        await ensure_library(conn, now=NOW)
    return ids


async def ar(slack: SlackHarness, text: str, *, user: str | None = None) -> dict[str, Any]:
    """Run `/ar TEXT`; the ephemeral answer posted to the response URL."""
    before = len(slack.fake.calls_to("response"))
    reply = await (slack.command(text) if user is None else slack.command(text, user=user))
    assert reply.status == 200 and not reply.text  # acked at once, answered after
    answers = slack.fake.calls_to("response")[before:]
    assert len(answers) == 1, answers
    answer = answers[0].args
    assert answer["response_type"] == "ephemeral"
    return answer


def shown(answer: dict[str, Any]) -> str:
    """Every text of the answer's blocks, one string."""
    texts = []
    for block in answer.get("blocks") or []:
        if "text" in block:
            texts.append(block["text"]["text"])
        texts += [e["text"] for e in block.get("elements", []) if isinstance(e.get("text"), str)]
    return "\n".join(texts)


async def count(engine: AsyncEngine, table: Any, *where: Any) -> int:
    async with engine.connect() as conn:
        return int(await conn.scalar(select(func.count()).select_from(table).where(*where)) or 0)
