"""Email benchmark: 10,000 reminder emails through our real path against a bare SMTP loop.

The receiver is `tests.fakes.smtp_sink` (aiosmtpd) in a child process, so it does not
share our event loop. `email_per_s`: pending outbox rows on a migrated SQLite file ->
`dispatch_once` (claim, re-check, link tokens, MIME, one reused SMTP connection,
settle) -> `EmailChannel`, until the outbox is empty. `email_vs_raw_ratio`: those
seconds over a bare aiosmtplib loop sending the same number of prepared messages (the
same size, built beforehand) over one connection to the same receiver.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from statistics import median
from typing import Any

import aiosmtplib
from sqlalchemy import func, insert, select

from bench.registry import ROOT, Context, Result, benchmark
from bot.email import EmailChannel
from bot.email_mime import build_email, text_to_html
from bot.settings import SmtpTls
from sequences.channels import OutgoingMessage
from sequences.dispatch import DispatchPolicy, dispatch_once
from sequences.engagement_links import MessageLinks
from storage.db import open_engine
from storage.migrate import upgrade
from storage.models import Contact, Customer, Invoice, OutboxMessage, User

MESSAGES = 10_000
TARGET_PER_S = 200
TARGET_RATIO = 1.5
NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
SENDER = "ar@acme-billing.test"
PUBLIC = "https://arseq.acme-billing.test"
BATCH = 500


def _say(message: str) -> None:
    print(f"  {message}", flush=True)


def _body(n: int) -> tuple[str, str]:
    pay = f"https://pay.acme-billing.test/p?invoice=INV-{n}&amount=1250.00"
    text = (
        f"Hello Customer {n},\n\nJust a quick note: this invoice is now past due.\n\n"
        f"  INV-{n}   $1,250.00   due Jan 31, 2026\n\nPay online: {pay}\n\n"
        "If you have already paid, thank you, and please ignore this message. If something "
        "is in the way, reply and let us know; we are happy to help.\n\n"
        "Thank you,\nAccounts Receivable\n"
    )
    return text, text_to_html(text)


class Sink:
    """The receiver in its own interpreter: its port, and how many messages it accepted."""

    def __enter__(self) -> Sink:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.fakes.smtp_sink"], cwd=ROOT, text=True,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        )  # fmt: skip
        assert self.proc.stdout is not None
        self.port = int(self.proc.stdout.readline())
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stop(self) -> int:
        """Stop the receiver; the number of messages it accepted."""
        out, _ = self.proc.communicate(timeout=60)
        return int(out.split()[-1])


async def _ledger(url: str, count: int) -> None:
    async with open_engine(url) as engine:
        await upgrade(engine)
        async with engine.begin() as conn:
            await conn.execute(insert(User.__table__).values(
                slack_user_id="U0OWNER1", email="collector@acme-billing.test", role="collector",
                created_at=NOW, updated_at=NOW))  # fmt: skip
            await conn.execute(insert(Customer.__table__), [dict(
                external_id=f"C{n}", name=f"Customer {n}", timezone="UTC", autopay=False,
                tags=[], owner_slack_id="U0OWNER1", created_at=NOW, updated_at=NOW,
            ) for n in range(count)])  # fmt: skip
            ids = (await conn.execute(select(Customer.id).order_by(Customer.id))).scalars().all()
            await conn.execute(insert(Contact.__table__), [dict(
                customer_id=c, channel="email", address=f"ap{n}@customer{n}.test",
                is_primary=True, created_at=NOW, updated_at=NOW,
            ) for n, c in enumerate(ids)])  # fmt: skip
            await conn.execute(insert(Invoice.__table__), [dict(
                number=f"INV-{n}", customer_id=c, issue_date=date(2026, 1, 1),
                due_date=date(2026, 1, 31), amount=Decimal("1250.00"),
                open_amount=Decimal("1250.00"), currency="USD", status="open",
                created_at=NOW, updated_at=NOW,
            ) for n, c in enumerate(ids)])  # fmt: skip
            contacts = dict((await conn.execute(select(Contact.customer_id, Contact.id))).all())
            invoices = dict((await conn.execute(select(Invoice.customer_id, Invoice.id))).all())
            rows = []
            for n, c in enumerate(ids):
                text, html = _body(n)
                rows.append(dict(
                    idempotency_key=f"touch:{n}", channel="email", kind="customer_message",
                    customer_id=c, contact_id=contacts[c], invoice_ids=[invoices[c]],
                    subject=f"Friendly reminder: invoice INV-{n} is past due", body=text,
                    payload={"html": html}, scheduled_for=NOW, state="pending", attempts=0,
                    next_attempt_at=NOW, created_at=NOW,
                ))  # fmt: skip
            await conn.execute(insert(OutboxMessage.__table__), rows)


async def _ours(url: str, port: int) -> tuple[float, int]:
    async with open_engine(url) as engine:
        channel = EmailChannel(engine, host="127.0.0.1", port=port, tls=SmtpTls.NONE,
                               sender=SENDER, public_url=PUBLIC)  # fmt: skip
        policy = DispatchPolicy(batch=BATCH)
        sent = 0
        start = time.perf_counter()
        while (report := await dispatch_once(
            engine, {"email": channel}, now=NOW, worker="bench", policy=policy
        )).claimed:  # fmt: skip
            sent += report.sent
        await channel.aclose()
        seconds = time.perf_counter() - start
        async with engine.connect() as conn:
            done = await conn.scalar(
                select(func.count()).select_from(OutboxMessage).where(OutboxMessage.state == "sent")
            )
    if sent != done:
        raise RuntimeError(f"dispatch reported {sent} sent, the outbox has {done}")
    return seconds, sent


def _prepared(count: int) -> list[tuple[str, bytes]]:
    links = MessageLinks(
        open=f"{PUBLIC}/o/{'x' * 32}", unsubscribe=f"{PUBLIC}/u/{'y' * 32}",
    )  # fmt: skip
    out = []
    for n in range(count):
        text, html = _body(n)
        message = OutgoingMessage(
            outbox_id=n, idempotency_key=f"touch:{n}", channel="email", kind="customer_message",
            address=f"ap{n}@customer{n}.test", subject=f"Friendly reminder: invoice INV-{n}",
            body=text, scheduled_for=NOW,
        )  # fmt: skip
        mail = build_email(message, sender=SENDER, reply_to="collector@acme-billing.test",
                           html_part=html, links=links)  # fmt: skip
        out.append((str(message.address), mail.as_bytes()))
    return out


async def _raw(messages: list[tuple[str, bytes]], port: int) -> float:
    smtp = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False)
    start = time.perf_counter()
    await smtp.connect()
    for recipient, data in messages:
        await smtp.sendmail(SENDER, [recipient], data)
    await smtp.quit()
    return time.perf_counter() - start


def _run_once(work: Path, count: int, prepared: list[tuple[str, bytes]]) -> dict[str, float]:
    db = work / "email.db"
    for old in work.glob("email.db*"):
        old.unlink()
    url = f"sqlite+aiosqlite:///{db}"
    asyncio.run(_ledger(url, count))
    with Sink() as sink:
        ours, sent = asyncio.run(_ours(url, sink.port))
        raw = asyncio.run(_raw(prepared, sink.port))
        accepted = sink.stop()
    if sent != count or accepted != 2 * count:
        raise RuntimeError(f"sent {sent}, receiver accepted {accepted}, expected {count} each")
    return {"ours": ours, "raw": raw}


@benchmark("email", "10,000 reminder emails: outbox -> dispatch -> SMTP, and vs a bare loop")
def emails(ctx: Context) -> list[Result]:
    """Time our path and the bare loop against the same receiver; report both."""
    count = ctx.size(MESSAGES)
    work = ctx.data_dir / "email"
    work.mkdir(parents=True, exist_ok=True)
    prepared = _prepared(count)
    runs = [_run_once(work, count, prepared) for _ in range(max(1, ctx.repeat))]
    ours = median(r["ours"] for r in runs)
    raw = median(r["raw"] for r in runs)
    ratio = median(r["ours"] / r["raw"] for r in runs)
    _say(f"ours {ours:.2f} s ({count / ours:,.0f}/s), bare loop {raw:.2f} s, ratio {ratio:.2f}")
    detail: dict[str, Any] = {
        "messages": count,
        "ours_seconds": [round(r["ours"], 3) for r in runs],
        "raw_seconds": [round(r["raw"], 3) for r in runs],
        "quick": ctx.quick,
    }
    return [
        Result("email_per_s", count / ours, "msg/s", TARGET_PER_S, ">=", detail),
        Result("email_vs_raw_ratio", ratio, "x", TARGET_RATIO, "<=", detail),
    ]
