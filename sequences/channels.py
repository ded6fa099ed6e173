"""The Channel protocol: how dispatch hands a message to email, Telegram, Slack or a console.

`sequences` defines it; `bot/` implements it for the real providers. A channel raises
`TemporaryFailure` for what may work later (the provider's Retry-After is honoured)
and `PermanentFailure` for what will not (a bounced address, a blocked chat).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, TextIO


@dataclass(frozen=True)
class OutgoingMessage:
    """One outbox row as a channel sees it."""

    outbox_id: int
    idempotency_key: str
    channel: str
    kind: str
    address: str | None
    subject: str | None
    body: str
    scheduled_for: datetime
    payload: dict[str, Any] = field(default_factory=dict)
    # Who and what it is about: channels build links and buttons from these.
    customer_id: int | None = None
    contact_id: int | None = None
    invoice_ids: tuple[int, ...] = ()


@dataclass(frozen=True)
class SendResult:
    """What the provider said when it accepted the message."""

    provider_message_id: str | None = None


class TemporaryFailure(Exception):
    """Try again later; `retry_after` seconds when the provider said how long."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


class PermanentFailure(Exception):
    """This will not work; `contact_dead` when the address itself is the problem."""

    def __init__(self, reason: str, *, contact_dead: bool = True) -> None:
        super().__init__(reason)
        self.contact_dead = contact_dead


class Channel(Protocol):
    """Something that delivers an OutgoingMessage."""

    name: str

    async def send(self, message: OutgoingMessage) -> SendResult:
        """Deliver, or raise TemporaryFailure / PermanentFailure."""
        ...


class ConsoleChannel:
    """Prints messages to a stream: the demo's stand-in for every provider."""

    def __init__(self, name: str, stream: TextIO | None = None) -> None:
        self.name = name
        self.stream = stream or sys.stdout
        self.sent: list[OutgoingMessage] = []

    async def send(self, message: OutgoingMessage) -> SendResult:
        """Print the message with its date (the engine's instant) and keep it."""
        self.sent.append(message)
        when = message.scheduled_for.isoformat(timespec="minutes")
        to = message.address or "-"
        subject = f" | {message.subject}" if message.subject else ""
        print(f"[{self.name} {when} -> {to}]{subject}\n{message.body}\n", file=self.stream)
        return SendResult(provider_message_id=f"console-{message.outbox_id}")
