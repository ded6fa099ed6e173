"""Roles over Slack: managers, collectors, user groups through usergroups.users.list, strangers."""

from __future__ import annotations

from datetime import timedelta

from storage.models import Pause
from tests.bot.slack.command_ledger import NOW, ar, build_ledger, count, shown
from tests.bot.slack.harness import COLLECTOR, MANAGER, STRANGER, SlackHarness, harness_settings

GROUP = "S0COLLECT"
MEMBER = "U0MEMBER1"


async def test_a_stranger_is_refused_politely_and_nothing_happens(engine, fake_slack):
    await build_ledger(engine)
    async with SlackHarness(engine, fake_slack, now=NOW) as slack:
        pause = shown(await ar(slack, "pause BETA 7d", user=STRANGER))
        help_ = shown(await ar(slack, "help", user=STRANGER))
    assert "Sorry, `/ar` is for the AR team" in pause and pause == help_
    assert await count(engine, Pause.__table__) == 0


async def test_a_collector_may_not_pause_a_whole_sequence_but_a_manager_may(engine, fake_slack):
    await build_ledger(engine)
    async with SlackHarness(engine, fake_slack, now=NOW) as slack:
        refused = shown(await ar(slack, "pause sequence:past-due-standard", user=COLLECTOR))
        resume = shown(await ar(slack, "resume sequence:past-due-standard", user=COLLECTOR))
        assert await count(engine, Pause.__table__) == 0
        done = shown(await ar(slack, "pause sequence:past-due-standard", user=MANAGER))
        customer = shown(await ar(slack, "pause BETA", user=MANAGER))
    assert "for managers" in refused and "for managers" in resume
    assert "Paused sequence" in done and "Paused *Customer BETA" in customer
    assert await count(engine, Pause.__table__) == 2


async def test_a_user_group_is_resolved_through_the_api_and_cached(engine, fake_slack):
    await build_ledger(engine)
    fake_slack.usergroups[GROUP] = [MEMBER]
    settings = harness_settings(fake_slack, collectors=[GROUP])
    async with SlackHarness(engine, fake_slack, now=NOW, settings=settings) as slack:
        first = shown(await ar(slack, "status BETA", user=MEMBER))
        second = shown(await ar(slack, "status BETA", user=MEMBER))
        outsider = shown(await ar(slack, "status BETA", user=STRANGER))
        calls = len(fake_slack.calls_to("usergroups.users.list"))
        fake_slack.usergroups[GROUP] = []  # removed from the group in Slack
        slack.now = NOW + timedelta(minutes=6)  # after the cache's few minutes
        later = shown(await ar(slack, "status BETA", user=MEMBER))
    assert "Customer BETA (BETA)" in first and first == second
    assert "is for the AR team" in outsider
    assert calls == 1  # the members are cached for the next commands, whoever sends them
    assert fake_slack.calls_to("usergroups.users.list")[0].args["usergroup"] == GROUP
    assert "is for the AR team" in later


async def test_an_unreadable_user_group_counts_as_empty(engine, fake_slack):
    await build_ledger(engine)
    settings = harness_settings(fake_slack, managers=["S0NOSUCH1"], collectors=[])
    async with SlackHarness(engine, fake_slack, now=NOW, settings=settings) as slack:
        text = shown(await ar(slack, "help", user=MEMBER))
    assert "is for the AR team" in text
