"""`/ar status` latency on a ledger of 1,000,000 invoices (SQLite), in process.

Each run is a signed slash command (`/ar status CUST-…`, a random customer of the
`bench.kpi_data` ledger: about 50 invoices each) handed to the real bolt app with
`app.async_dispatch(AsyncBoltRequest)`: signature check, role, parse, the status
queries, the Block Kit reply and its POST to the response URL (a local aiohttp server).
The app runs with `process_before_response=True`, so the time to the ack includes all
of that work: an upper bound of what Slack waits for (in production the ack goes first).
`slack_status_p99_ms` is the 99th percentile; p50 and the plans are in the detail.
"""

from __future__ import annotations

import asyncio
import random
import time
from pathlib import Path
from statistics import quantiles
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.signature import SignatureVerifier
from sqlalchemy import text

from bench import kpi_data
from bench.registry import Context, Result, benchmark
from bot.settings import load_settings
from bot.slack.app import build_slack_app
from storage.db import open_engine

INVOICES = 1_000_000
RUNS = 400
WARMUP = 20
TARGET_MS = 100
SECRET = "bench-signing-secret"
USER = "U0BENCH01"


def _say(message: str) -> None:
    print(f"  {message}", flush=True)


async def _response_server() -> tuple[web.AppRunner, str]:
    """Where `respond()` posts the reply: answers 200, keeps nothing."""
    app = web.Application()
    app.router.add_post("/api/{method}", lambda _: web.json_response({"ok": True}))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}/api/"


def _request(verifier: SignatureVerifier, api: str, customer: str) -> AsyncBoltRequest:
    body = urlencode({
        "command": "/ar", "text": f"status {customer}", "user_id": USER, "team_id": "T0BENCH",
        "channel_id": "C0BENCH01", "response_url": f"{api}response", "trigger_id": "t",
    })  # fmt: skip
    ts = str(int(time.time()))
    headers = {
        "content-type": ["application/x-www-form-urlencoded"],
        "x-slack-request-timestamp": [ts],
        "x-slack-signature": [verifier.generate_signature(timestamp=ts, body=body)],
    }
    return AsyncBoltRequest(body=body, headers=headers)


async def _plans(engine: Any) -> list[str]:
    """SQLite's plan of the invoice query of a status: an index search, not a scan."""
    async with engine.connect() as conn:
        rows = await conn.execute(text(
            "EXPLAIN QUERY PLAN SELECT id, number, due_date, open_amount, currency FROM invoices "
            "WHERE customer_id = 7 AND status = 'open' AND open_amount > 0 "
            "ORDER BY due_date, number"
        ))  # fmt: skip
        return [str(r[-1]) for r in rows]


async def _measure(db: Path, runs: int, customers: int) -> dict[str, Any]:
    runner, api = await _response_server()
    settings = load_settings(
        SLACK_BOT_TOKEN="xoxb-bench", SLACK_SIGNING_SECRET=SECRET, SLACK_API_URL=api,
        ARSEQ_MANAGERS=USER, ARSEQ_DATABASE_URL=f"sqlite+aiosqlite:///{db}",
    )  # fmt: skip
    verifier = SignatureVerifier(SECRET)
    rng = random.Random(5)
    try:
        async with open_engine(settings.database_url) as engine:
            app, _ = build_slack_app(settings, engine, process_before_response=True)
            timings = []
            for n in range(WARMUP + runs):
                customer = f"CUST-{rng.randrange(customers):07d}"
                request = _request(verifier, api, customer)
                start = time.perf_counter()
                response = await app.async_dispatch(request)
                elapsed = time.perf_counter() - start
                if response.status != 200:
                    raise RuntimeError(f"/ar status answered {response.status}: {response.body}")
                if n >= WARMUP:
                    timings.append(elapsed * 1000)
            plans = await _plans(engine)
    finally:
        await runner.cleanup()
    return {"timings_ms": timings, "plans": plans}


@benchmark("slack_status", "/ar status latency (p50, p99), 1,000,000 invoices in SQLite")
def status_latency(ctx: Context) -> list[Result]:
    """p50 and p99 of `/ar status` from the signed request to the ack."""
    invoices = ctx.size(INVOICES)
    db = kpi_data.ledger(ctx.data_dir, invoices, say=_say)
    runs = max(RUNS // ctx.scale, 50) * max(ctx.repeat, 1)
    out = asyncio.run(_measure(db, runs, max(1, invoices // 50)))
    cuts = quantiles(out["timings_ms"], n=100)
    p50, p99 = cuts[49], cuts[98]
    _say(f"/ar status p50 {p50:.1f} ms, p99 {p99:.1f} ms over {runs} requests")
    detail = {
        "invoices": invoices, "runs": runs, "p50_ms": round(p50, 2), "p99_ms": round(p99, 2),
        "max_ms": round(max(out["timings_ms"]), 2), "invoice_query_plan": out["plans"],
        "quick": ctx.quick,
    }  # fmt: skip
    return [Result("slack_status_p99_ms", p99, "ms", TARGET_MS, "<=", detail)]
