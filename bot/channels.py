"""The customer channels of a running service, built from the configuration.

A channel that is not configured is left out (reported at start-up by
`Settings.startup_report`); dispatch then falls back to the customer's other channel,
or to a task for the collector.
"""

from __future__ import annotations

from bot.runtime import RouteAdder
from bot.settings import Settings
from sequences.channels import Channel


def build_channels(settings: Settings) -> dict[str, Channel]:
    """Email and Telegram channels for what `settings` configures."""
    channels: dict[str, Channel] = {}
    return channels


def channel_routes(settings: Settings) -> list[RouteAdder]:
    """The HTTP routes the channels serve (engagement links, the Telegram webhook)."""
    return []
