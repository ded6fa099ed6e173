"""The one aiohttp app of `arseq run`: `/healthz` here; links, webhooks and Slack mount on it."""

from __future__ import annotations

from datetime import UTC, datetime

from aiohttp import web
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.clock import Clock

ENGINE_KEY = web.AppKey("engine", AsyncEngine)
CLOCK_KEY = web.AppKey("clock", Clock)


def build_app(engine: AsyncEngine, clock: Clock) -> web.Application:
    """The service's HTTP app with its health check."""
    app = web.Application()
    app[ENGINE_KEY] = engine
    app[CLOCK_KEY] = clock
    app.router.add_get("/healthz", healthz)
    return app


async def healthz(request: web.Request) -> web.Response:
    """Database reachability and the clock's last pass; 503 when either is wrong."""
    engine, clock = request.app[ENGINE_KEY], request.app[CLOCK_KEY]
    now = datetime.now(UTC)
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        database = "ok"
    except Exception as exc:  # any failure to reach it is the answer, not a crash
        database = f"unreachable: {str(exc).splitlines()[0][:200]}"
    late = clock.late_by(now)
    body = {
        "status": "ok" if database == "ok" and late is None else "failing",
        "database": database,
        "clock": {
            "last_pass_at": clock.last_pass_at.isoformat() if clock.last_pass_at else None,
            "passes": clock.passes,
            "late_seconds": round(late.total_seconds()) if late is not None else None,
            "last_error": clock.last_error,
        },
    }
    return web.json_response(body, status=200 if body["status"] == "ok" else 503)
