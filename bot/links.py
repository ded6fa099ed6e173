"""The engagement links of `arseq run`: `/o` open pixel, `/r` click redirect, `/u` unsubscribe.

Thin handlers over `sequences.engagement`. The pixel answers the same for every token,
so it tells nothing about which tokens exist. A redirect goes only to the URL stored
with its token. `GET /u` only shows a page (mail scanners fetch every link); the
unsubscribe is the POST, from that page's button or a mail client's RFC 8058 one-click.
"""

from __future__ import annotations

import base64
import logging
from datetime import UTC, datetime
from html import escape
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.settings import Settings
from bot.web import ENGINE_KEY
from sequences.engagement import Link, find_link, follow_link, unsubscribe
from storage.models import LinkKind

if TYPE_CHECKING:  # bot.channels imports this module to register it
    from bot.channels import Adapters

log = logging.getLogger("arseq.links")

# The smallest transparent GIF: 1x1, one transparent colour.
PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
NO_CACHE = {
    "Cache-Control": "no-store, no-cache, must-revalidate, max-age=0",
    "Pragma": "no-cache",
    "Expires": "0",
}
# Tokens are in the path: keep them out of Referer headers and search engines.
PRIVATE = {**NO_CACHE, "Referrer-Policy": "no-referrer", "X-Robots-Tag": "noindex, nofollow"}


def add_links(adapters: Adapters, settings: Settings, engine: AsyncEngine) -> None:
    """Serve the links whatever channels are configured (messages already sent carry them)."""

    def add(app: web.Application) -> None:
        # Only `arseq run` serves them: say so there, not on every `arseq tick`.
        if urlsplit(settings.public_url).scheme != "https":
            log.warning(
                "ARSEQ_PUBLIC_URL is %s: links in messages need the service's public https URL",
                settings.public_url,
            )
        add_link_routes(app)

    adapters.routes.append(add)


def add_link_routes(app: web.Application) -> None:
    """Mount `/o`, `/r` and `/u` on the service's app."""
    app.router.add_get("/o/{token}", open_pixel)
    app.router.add_get("/r/{token}", click)
    app.router.add_get("/u/{token}", unsubscribe_page)
    app.router.add_post("/u/{token}", unsubscribe_post)


def _now() -> datetime:
    return datetime.now(UTC)


async def open_pixel(request: web.Request) -> web.Response:
    """The pixel, always; an open is recorded for a known open token."""
    try:
        async with request.app[ENGINE_KEY].begin() as conn:
            await follow_link(
                conn, token=request.match_info["token"], kind=LinkKind.OPEN, now=_now()
            )
    except Exception:  # a lost open is no reason to show a broken image
        log.exception("recording an email open failed")
    return web.Response(body=PIXEL, content_type="image/gif", headers=PRIVATE)


async def click(request: web.Request) -> web.StreamResponse:
    """302 to the URL stored with the token (never one from the request); 404 otherwise."""
    async with request.app[ENGINE_KEY].begin() as conn:
        link = await follow_link(
            conn, token=request.match_info["token"], kind=LinkKind.CLICK, now=_now()
        )
    if link is None or link.url is None or urlsplit(link.url).scheme not in ("http", "https"):
        return _page(404, "Link not found", "This link is not valid, or it has expired.")
    return web.Response(status=302, headers={**PRIVATE, "Location": link.url})


async def unsubscribe_page(request: web.Request) -> web.Response:
    """The confirmation page; it changes nothing."""
    async with request.app[ENGINE_KEY].connect() as conn:
        link = await find_link(conn, token=request.match_info["token"], kind=LinkKind.UNSUBSCRIBE)
    if link is None or link.contact_id is None:
        return _not_found()
    if link.opted_out:
        return _page(200, "Unsubscribed", f"You are already unsubscribed{_for(link)}.")
    form = (
        '<form method="post">'
        '<input type="hidden" name="List-Unsubscribe" value="One-Click">'
        '<button type="submit">Unsubscribe</button></form>'
    )
    text = f"Do you want to stop receiving payment reminders{_for(link)} by {link.channel}?"
    return _page(200, "Unsubscribe", text, form)


async def unsubscribe_post(request: web.Request) -> web.Response:
    """Opt the contact out: the page's button, or a mail client's one-click POST."""
    async with request.app[ENGINE_KEY].begin() as conn:
        done = await unsubscribe(conn, token=request.match_info["token"], now=_now())
    if done is None:
        return _not_found()
    if done.already:
        return _page(200, "Unsubscribed", f"You were already unsubscribed{_for(done.link)}.")
    return _page(
        200,
        "Unsubscribed",
        f"You are unsubscribed{_for(done.link)}: no more reminders will be sent to you "
        f"by {done.link.channel}. Invoices still open are not affected.",
    )


def _for(link: Link) -> str:
    return f" for {escape(link.customer_name)}" if link.customer_name else ""


def _not_found() -> web.Response:
    return _page(404, "Link not found", "This unsubscribe link is not valid.")


def _page(status: int, title: str, text: str, extra: str = "") -> web.Response:
    """A plain page; `text` and `extra` are HTML already escaped."""
    html = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title></head>"
        '<body style="font-family: sans-serif; max-width: 36em; margin: 3em auto;">'
        f"<h1>{escape(title)}</h1><p>{text}</p>{extra}</body></html>"
    )
    return web.Response(status=status, text=html, content_type="text/html", headers=PRIVATE)
