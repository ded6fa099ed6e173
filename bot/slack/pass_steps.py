"""What Slack does after each scheduler pass: the digest once a day, and new tasks."""

from __future__ import annotations

from bot.clock import PassStep
from bot.commands.digest import DigestClock
from bot.settings import Settings
from bot.slack.forewarning import Forewarner
from bot.slack.team_posts import TeamPoster


def slack_steps(settings: Settings) -> list[PassStep]:
    """The after-pass steps Slack's configuration asks for (none when Slack is off)."""
    steps: list[PassStep] = []
    if (poster := TeamPoster.from_settings(settings)) is not None:
        steps.append(poster.step)
    if (digest := DigestClock.from_settings(settings)) is not None:
        steps.append(digest.step)
    if (forewarner := Forewarner.from_settings(settings)) is not None:
        steps.append(forewarner.step)
    return steps
