"""Send-time learning for `send: preferred`: the customer's best channel, and its hour (pure).

Engagement (`storage.engagement_queries`) is scored per channel: an open counts least
(mail clients and privacy proxies fetch pixels on their own), a click or a button
press more, linking a chat (the customer chose Telegram) or a reply or a payment soon
after a message most. The best-scored channel
with a usable contact wins, email when nothing is known; the hour is the local hour
of most actions on that channel, if any.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta

from sequences.engagement_links import EMAIL_OPENED, LINK_CLICKED, TELEGRAM_PRESSED
from sequences.telegram_links import TELEGRAM_LINKED
from storage.engagement_queries import PAID_AFTER_MESSAGE, ChannelEngagement

REPLIED = "replied"
# The customer's actions, and the channel each counts for when its event names none.
ACTIONS = {EMAIL_OPENED: "email", LINK_CLICKED: "email", TELEGRAM_PRESSED: "telegram",
           TELEGRAM_LINKED: "telegram", REPLIED: "email"}  # fmt: skip
WEIGHTS = {EMAIL_OPENED: 1, LINK_CLICKED: 3, TELEGRAM_PRESSED: 3, TELEGRAM_LINKED: 5,
           REPLIED: 5, PAID_AFTER_MESSAGE: 5}  # fmt: skip
LOOKBACK = timedelta(days=180)
DEFAULT_ORDER = ("email", "telegram")


@dataclass(frozen=True)
class Preference:
    """Channels best first, and the local hour to send at (None: the window's usual time)."""

    channels: tuple[str, ...] = DEFAULT_ORDER
    hour: int | None = None


def score(engagement: ChannelEngagement) -> int:
    """How much a customer engaged on one channel."""
    return sum(WEIGHTS.get(kind, 0) * n for kind, n in engagement.counts.items())


def preference(
    engagement: Mapping[str, ChannelEngagement], usable: Iterable[str] = DEFAULT_ORDER
) -> Preference:
    """The customer's preference among the channels it has a `usable` contact on."""
    scores = {channel: score(e) for channel, e in engagement.items()}
    # Highest score first; on a tie (or nothing known) email before Telegram.
    ranked = sorted(DEFAULT_ORDER, key=lambda c: (-scores.get(c, 0), DEFAULT_ORDER.index(c)))
    reachable = set(usable)
    best = next((c for c in ranked if c in reachable and scores.get(c, 0) > 0), None)
    hours = engagement[best].hours if best in engagement else None
    hour = min(hours, key=lambda h: (-hours[h], h)) if hours else None
    return Preference(tuple(ranked), hour)
