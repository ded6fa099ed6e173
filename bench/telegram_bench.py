"""Telegram benchmark: 10,000 reminders through the real TelegramChannel, limits on.

The fake Bot API (`tests.fakes.telegram_api`) runs in a child process. Messages go to
many chats (each about an invoice of a migrated SQLite ledger, so the channel builds
its keyboard from the database) from a few concurrent senders, as dispatch workers
would; one refused by the limiter is queued again, as dispatch would reschedule it.
`telegram_rate_fraction` is the achieved messages per second over the global limit
(25/s): how close the limiter lets us run to what Telegram allows. It is one run
(10,000 messages take 400 s at the limit), whatever `--repeat` says.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import insert, select

from bench.registry import ROOT, Context, Result, benchmark
from bot.telegram.channel import TelegramChannel
from bot.telegram.limits import OVERALL_PER_S
from bot.telegram.mount import make_bot
from sequences.channels import OutgoingMessage, TemporaryFailure
from storage.db import open_engine
from storage.migrate import upgrade
from storage.models import Customer, Invoice

MESSAGES = 10_000
CHATS = 500
SENDERS = 4
TARGET = 0.9
NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
TOKEN = "123456:BENCH-token-abcdefghijklmnop"


def _say(message: str) -> None:
    print(f"  {message}", flush=True)


async def _ledger(url: str, chats: int) -> list[tuple[int, int]]:
    """One customer and open invoice per chat: (chat id, invoice id)."""
    async with open_engine(url) as engine:
        await upgrade(engine)
        async with engine.begin() as conn:
            await conn.execute(insert(Customer.__table__), [
                {"external_id": f"B{n}", "name": f"Customer {n}", "timezone": "UTC",
                 "autopay": False, "tags": [], "created_at": NOW, "updated_at": NOW}
                for n in range(chats)
            ])  # fmt: skip
            ids = (await conn.execute(select(Customer.id).order_by(Customer.id))).scalars()
            await conn.execute(insert(Invoice.__table__), [
                {"number": f"INV-{cid}", "customer_id": cid, "issue_date": date(2026, 1, 1),
                 "due_date": date(2026, 1, 31), "amount": Decimal("1250.00"),
                 "open_amount": Decimal("1250.00"), "currency": "USD", "status": "open",
                 "created_at": NOW, "updated_at": NOW}
                for cid in list(ids)
            ])  # fmt: skip
            rows = await conn.execute(select(Invoice.id).order_by(Invoice.id))
            return [(900_000 + n, invoice) for n, invoice in enumerate(rows.scalars())]


async def _send_all(url: str, port: int, count: int, targets: list[tuple[int, int]]) -> dict:
    bot = make_bot(TOKEN, f"http://127.0.0.1:{port}")
    queue: asyncio.Queue[OutgoingMessage] = asyncio.Queue()
    for n in range(count):
        chat, invoice = targets[n % len(targets)]
        queue.put_nowait(OutgoingMessage(
            outbox_id=n, idempotency_key=f"k{n}", channel="telegram", kind="customer_message",
            address=str(chat), subject=None, scheduled_for=NOW, invoice_ids=(invoice,),
            body=f"Hello Customer {n % len(targets)}, invoice INV-{invoice} is past due.",
        ))  # fmt: skip
    sent, refused = 0, 0
    async with open_engine(url) as engine:
        channel = TelegramChannel(bot, engine, pay_url="https://pay.test/{invoice}")

        async def sender() -> None:
            nonlocal sent, refused
            while not queue.empty():
                message = queue.get_nowait()
                try:
                    await channel.send(message)
                    sent += 1
                except TemporaryFailure:
                    refused += 1
                    queue.put_nowait(message)
                    await asyncio.sleep(0.05)  # a rescheduled message waits its turn

        try:
            await channel.send(queue.get_nowait())  # warm up the connection and the cache
            started = time.perf_counter()
            await asyncio.gather(*(sender() for _ in range(SENDERS)))
            seconds = time.perf_counter() - started
        finally:
            await bot.session.close()
    return {"seconds": seconds, "sent": sent, "refused": refused}


@benchmark("telegram", "10,000 Telegram reminders through TelegramChannel with its send limits")
def telegram(ctx: Context) -> list[Result]:
    """Send through the limiter to a fake Bot API in a child process; the rate achieved."""
    count = ctx.size(MESSAGES)
    work = ctx.data_dir / "telegram"
    work.mkdir(parents=True, exist_ok=True)
    db = work / "telegram.db"
    db.unlink(missing_ok=True)
    url = f"sqlite+aiosqlite:///{db}"
    targets = asyncio.run(_ledger(url, CHATS))
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.telegram_api"], cwd=ROOT, text=True,
        stdout=subprocess.PIPE,
    )  # fmt: skip
    try:
        assert child.stdout is not None
        port = int(child.stdout.readline())
        run = asyncio.run(_send_all(url, port, count, targets))
    finally:
        child.kill()
        child.wait()
    per_s = run["sent"] / run["seconds"]
    fraction = per_s / OVERALL_PER_S
    _say(
        f"{run['sent']:,} messages in {run['seconds']:.1f} s: {per_s:.2f}/s, "
        f"{fraction:.3f} of the {OVERALL_PER_S:.0f}/s limit, {run['refused']} refused"
    )
    detail: dict[str, Any] = {
        "messages": run["sent"], "chats": CHATS, "senders": SENDERS,
        "messages_per_s": round(per_s, 2), "limit_per_s": OVERALL_PER_S,
        "refused_by_limiter": run["refused"], "seconds": round(run["seconds"], 2),
        "quick": ctx.quick,
    }  # fmt: skip
    return [Result("telegram_rate_fraction", fraction, "x", TARGET, ">=", detail)]
