"""What Slack does after each scheduler pass: new tasks and disputes, the escalation chains,
snoozed and overdue tasks, the owners' names and emails, the digest and the forewarnings
once a day."""

from __future__ import annotations

from bot.clock import PassStep
from bot.commands.digest import DigestClock
from bot.settings import Settings
from bot.slack.client import slack_client
from bot.slack.escalation_runner import ChainRunner
from bot.slack.forewarning import Forewarner
from bot.slack.owner_profiles import OwnerProfiles
from bot.slack.pacing import ChannelPacer
from bot.slack.task_upkeep import TaskUpkeep
from bot.slack.team_posts import TeamPoster


def slack_steps(settings: Settings, pacer: ChannelPacer | None = None) -> list[PassStep]:
    """The after-pass steps Slack's configuration asks for (none when Slack is off).

    `pacer` spaces the posts (default: one a second per channel); the demo, on a simulated
    clock and a fake Slack, passes one with no gap."""
    steps: list[PassStep] = []
    # One pacer for every post of the pass: one message a second per channel in all.
    if (poster := TeamPoster.from_settings(settings, pacer or ChannelPacer())) is not None:
        steps.append(poster.step)
        steps.append(ChainRunner(settings, poster.client, poster.pacer).step)
        steps.append(TaskUpkeep(settings, poster.client, poster.pacer).step)
    if settings.slack_enabled:
        steps.append(OwnerProfiles(slack_client(settings)).step)
    if (digest := DigestClock.from_settings(settings)) is not None:
        steps.append(digest.step)
    if (forewarner := Forewarner.from_settings(settings)) is not None:
        steps.append(forewarner.step)
    return steps
