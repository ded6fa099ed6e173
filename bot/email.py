"""The email channel: reminders over SMTP (aiosmtplib), a few connections reused across batches.

`add_email` registers it when SMTP_HOST is set. For each dispatch batch the channel
writes the link tokens of every message (open pixel, unsubscribe, one click link per URL
shown) and finds their Reply-To in one transaction (`prepare`); then for each message it
builds the MIME message (`bot.email_mime`) and sends it on one of at most `connections`
open connections (dispatch overlaps the sends of a batch, so a server's latency is not
paid once per message). Each connection is opened on first use (the pool prefers the
one used last, so a trickle of mail keeps one), reopened once when the server dropped
it, and closed by `aclose` or after `idle_timeout` seconds without a message.

What the server says decides what dispatch does: 4xx, a refused or timed-out connection
and a broken setup (login refused, no STARTTLS, bad certificate) are temporary, so the
message waits for a retry; a refused recipient (5xx on RCPT) is a bounce that marks
the contact dead; any other 5xx is a permanent failure of this one message.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from dataclasses import dataclass
from typing import TYPE_CHECKING

import aiosmtplib
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot.email_mime import build_email, message_id, shown_urls, text_to_html
from bot.settings import Settings, SmtpTls
from sequences.channels import OutgoingMessage, PermanentFailure, SendResult, TemporaryFailure
from sequences.dispatch import DispatchPolicy
from sequences.engagement_links import LinkRequest, MessageLinks, links_for_messages
from storage.owner_queries import customer_owners

if TYPE_CHECKING:
    from bot.channels import Adapters

log = logging.getLogger("arseq.email")

DEFAULT_PORTS = {SmtpTls.NONE: 25, SmtpTls.STARTTLS: 587, SmtpTls.TLS: 465}
# One connection per send dispatch has in flight: with fewer, some of those sends only
# wait for a connection (12 for 16 sends cost about a fifth of a worker's rate).
SEND_CONNECTIONS = DispatchPolicy().concurrency


def add_email(adapters: Adapters, settings: Settings, engine: AsyncEngine) -> None:
    """Register the email channel when SMTP_HOST is set."""
    if not settings.email_enabled:
        return
    channel = EmailChannel.from_settings(settings, engine)
    adapters.channels[channel.name] = channel
    adapters.closers.append(channel.aclose)


@dataclass(frozen=True)
class _Prepared:
    reply_to: str | None
    links: MessageLinks
    html: str


class EmailChannel:
    """Sends OutgoingMessages as email through one SMTP server (sequences.channels.Channel)."""

    name = "email"

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        host: str,
        sender: str,
        public_url: str,
        port: int | None = None,
        tls: SmtpTls = SmtpTls.STARTTLS,
        username: str | None = None,
        password: str | None = None,
        tls_context: ssl.SSLContext | None = None,
        timeout: float = 30.0,
        idle_timeout: float = 60.0,
        connections: int = SEND_CONNECTIONS,
    ) -> None:
        self.engine = engine
        self.host, self.port = host, port or DEFAULT_PORTS[tls]
        self.tls, self.sender, self.public_url = tls, sender, public_url
        self._login = (username, password or "") if username else None
        self._tls_context = tls_context
        self.timeout, self.idle_timeout = timeout, idle_timeout
        self._links = [_Link(self) for _ in range(max(1, connections))]
        self._free: asyncio.LifoQueue[_Link] = asyncio.LifoQueue()
        for link in reversed(self._links):
            self._free.put_nowait(link)
        self._prepared: dict[int, _Prepared] = {}

    @classmethod
    def from_settings(cls, settings: Settings, engine: AsyncEngine) -> EmailChannel:
        """The channel for SMTP_* and ARSEQ_FROM_EMAIL (SMTP_HOST must be set)."""
        assert settings.smtp_host and settings.from_email
        return cls(
            engine, host=settings.smtp_host, port=settings.smtp_port, tls=settings.smtp_tls,
            username=settings.smtp_username, password=settings.smtp_password,
            sender=settings.from_email.strip(), public_url=settings.public_url,
        )  # fmt: skip

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"

    async def prepare(self, messages: list[OutgoingMessage]) -> None:
        """Store the link tokens and find the Reply-To of a batch, in one transaction."""
        html = {m.outbox_id: m.payload.get("html") or text_to_html(m.body) for m in messages}
        requests = [
            LinkRequest(m.outbox_id, m.contact_id, tuple(shown_urls(m.body, html[m.outbox_id])))
            for m in messages
        ]
        # The channel is not told the dispatch instant; the engine's instant dates the tokens.
        now = max(m.scheduled_for for m in messages)
        async with self.engine.begin() as conn:
            owners = await owner_emails(conn, {m.customer_id for m in messages})
            links = await links_for_messages(conn, requests, public_url=self.public_url, now=now)
        for message, found in zip(messages, links, strict=True):
            self._prepared[message.outbox_id] = _Prepared(
                owners.get(message.customer_id), found, html[message.outbox_id]
            )

    async def send(self, message: OutgoingMessage) -> SendResult:
        """Build the message (links from `prepare`, done here if it was not) and send it."""
        ready = self._prepared.pop(message.outbox_id, None)
        if not message.address:
            raise PermanentFailure("the contact has no email address", contact_dead=False)
        if ready is None:
            await self.prepare([message])
            ready = self._prepared.pop(message.outbox_id)
        mail = build_email(
            message, sender=self.sender, reply_to=ready.reply_to, html_part=ready.html,
            links=ready.links,
        )  # fmt: skip
        await self._transmit(message.address, mail.as_bytes())
        return SendResult(provider_message_id=message_id(message.idempotency_key, self.sender))

    async def aclose(self) -> None:
        """Say QUIT and close the connections that are open."""
        for link in self._links:
            await link.aclose()

    async def _transmit(self, recipient: str, data: bytes) -> None:
        link = await self._free.get()
        try:
            await link.transmit(recipient, data)
        finally:
            self._free.put_nowait(link)

    async def open_connection(self) -> aiosmtplib.SMTP:
        """A new connection, secured and logged in as configured."""
        smtp = aiosmtplib.SMTP(
            hostname=self.host, port=self.port, timeout=self.timeout,
            use_tls=self.tls == SmtpTls.TLS, start_tls=False, tls_context=self._tls_context,
        )  # fmt: skip
        ready = False
        try:
            await smtp.connect()
            await self._secure_and_login(smtp)
            ready = True
        except ssl.SSLError as exc:
            raise _setup_problem(f"TLS with {self.where} failed: {exc} (check SMTP_TLS)") from exc
        finally:
            if not ready and smtp.is_connected:
                smtp.close()
        return smtp

    async def _secure_and_login(self, smtp: aiosmtplib.SMTP) -> None:
        """STARTTLS when asked (never silently in clear), then login: else a setup problem."""
        if self.tls == SmtpTls.STARTTLS:
            await smtp.ehlo()
            if not smtp.supports_extension("starttls"):
                raise _setup_problem(
                    f"{self.where} does not offer STARTTLS (check SMTP_TLS: none, starttls, tls)"
                )
            await smtp.starttls()
        if self._login is None:
            return
        try:
            await smtp.login(*self._login)
        except aiosmtplib.SMTPAuthenticationError as exc:
            raise _setup_problem(
                f"SMTP login to {self.where} refused ({exc.code} {exc.message}): "
                "check SMTP_USERNAME and SMTP_PASSWORD"
            ) from exc
        except aiosmtplib.SMTPException as exc:
            if isinstance(exc, aiosmtplib.SMTPServerDisconnected | aiosmtplib.SMTPTimeoutError):
                raise
            raise _setup_problem(
                f"SMTP login to {self.where} impossible: {exc} (check SMTP_USERNAME and SMTP_TLS)"
            ) from exc


class _Link:
    """One SMTP connection of the channel's pool: reused, reopened once, closed when idle."""

    def __init__(self, channel: EmailChannel) -> None:
        self.channel = channel
        self._smtp: aiosmtplib.SMTP | None = None
        self._lock = asyncio.Lock()
        self._idle: asyncio.TimerHandle | None = None
        self._closing: asyncio.Task[None] | None = None

    async def aclose(self) -> None:
        """Say QUIT and close the connection, if one is open."""
        self._disarm()
        async with self._lock:
            await self._quit()

    async def transmit(self, recipient: str, data: bytes) -> None:
        where = self.channel.where
        async with self._lock:
            self._disarm()
            try:
                await self._sendmail(recipient, data)
            except (aiosmtplib.SMTPResponseException, aiosmtplib.SMTPRecipientsRefused) as exc:
                raise classify(exc, where) from exc  # the client reset the envelope
            except aiosmtplib.SMTPException as exc:
                self._forget()
                raise classify(exc, where) from exc
            finally:
                self._arm()

    async def _sendmail(self, recipient: str, data: bytes) -> None:
        sender = self.channel.sender
        try:
            await (await self._connection()).sendmail(sender, [recipient], data)
        except aiosmtplib.SMTPServerDisconnected:
            # The server closed the connection while it sat open: a new one, once.
            self._forget()
            await (await self._connection()).sendmail(sender, [recipient], data)

    async def _connection(self) -> aiosmtplib.SMTP:
        if self._smtp is not None and self._smtp.is_connected:
            return self._smtp
        self._forget()
        self._smtp = await self.channel.open_connection()
        return self._smtp

    def _forget(self) -> None:
        if self._smtp is not None:
            self._smtp.close()
            self._smtp = None

    async def _quit(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is None or not smtp.is_connected:
            return
        try:
            await smtp.quit()
        except aiosmtplib.SMTPException:
            smtp.close()  # it is going away anyway

    def _arm(self) -> None:
        if self._smtp is not None:
            wait = self.channel.idle_timeout
            self._idle = asyncio.get_running_loop().call_later(wait, self._expire)

    def _disarm(self) -> None:
        if self._idle is not None:
            self._idle.cancel()
            self._idle = None

    def _expire(self) -> None:
        self._idle = None
        self._closing = asyncio.get_running_loop().create_task(self.aclose())


def _setup_problem(reason: str) -> TemporaryFailure:
    # The message is fine, the configuration is not: it waits (with backoff) for the fix.
    log.error("email: %s", reason)
    return TemporaryFailure(reason)


def classify(exc: aiosmtplib.SMTPException, where: str) -> TemporaryFailure | PermanentFailure:
    """What an SMTP error means for the message: wait and retry, a bounce, or a failure."""
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        refused = exc.recipients[0]
        answer = f"{refused.code} {refused.message}"
        if refused.code >= 500:
            return PermanentFailure(f"bounced: {answer}", contact_dead=True)
        return TemporaryFailure(f"recipient deferred: {answer}")
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        answer = f"{exc.code} {exc.message}"
        if exc.code >= 500:
            return PermanentFailure(f"refused by {where}: {answer}", contact_dead=False)
        return TemporaryFailure(f"deferred by {where}: {answer}")
    if isinstance(exc, aiosmtplib.SMTPTimeoutError):
        return TemporaryFailure(f"SMTP server {where} timed out: {exc}")
    return TemporaryFailure(f"SMTP server {where} unreachable: {exc}")


async def owner_emails(conn: AsyncConnection, customer_ids: set[int | None]) -> dict[int, str]:
    """The email of each customer's owner (the collector), for Reply-To, where known.

    The same owners the templates' `collector` comes from (`storage.owner_queries`).
    """
    owners = await customer_owners(conn, customer_ids)
    return {cid: owner["email"] for cid, owner in owners.items() if owner["email"]}
