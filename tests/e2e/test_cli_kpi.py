"""`arseq kpi`, `arseq digest` and the digest step of `arseq tick`, as a user runs them."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys

import pytest

from storage.db import create_engine
from tests.bot.test_settings import ALL_VARS
from tests.fakes.slack_api import FakeSlackApi, FakeSlackThread
from tests.sequences.kpi_example import build_example

CHANNEL = "C0DIGEST1"


async def _example(db_url: str) -> None:
    engine = create_engine(db_url)
    try:
        await build_example(engine)
    finally:
        await engine.dispose()


@pytest.fixture
def example_url(db_url: str) -> str:
    asyncio.run(_example(db_url))
    return db_url


@pytest.fixture
def slack(monkeypatch):
    with FakeSlackThread() as fake:
        monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-test")
        monkeypatch.setenv("SLACK_SIGNING_SECRET", "secret")
        monkeypatch.setenv("SLACK_API_URL", fake.base_url)
        monkeypatch.setenv("ARSEQ_DIGEST_CHANNEL", CHANNEL)
        monkeypatch.setenv("ARSEQ_DIGEST_TIME", "09:00")
        monkeypatch.setenv("ARSEQ_TIMEZONE", "Europe/Berlin")
        yield fake


def test_kpi_json_has_the_stable_keys(cli, example_url):
    code, out, err = cli("kpi", "--as-of", "2026-03-15", "--json", db_url=example_url)

    assert (code, err) == (0, "")
    usd = json.loads(out)["currencies"]["USD"]
    assert {"total_ar", "current", "overdue", "aging", "dso", "dso_countback", "cei",
            "add"} <= set(usd)  # fmt: skip
    assert list(usd["aging"]) == ["current", "1-30", "31-60", "61-90", "90+"]
    assert (usd["total_ar"], usd["dso"], usd["cei"]) == ("3650.00", "73.82", "37.84")


def test_kpi_table_on_an_empty_ledger(cli, db_url):
    code, out, _ = cli("kpi", "--as-of", "2026-03-15", db_url=db_url)

    assert code == 0
    assert "no invoices, payments, promises or disputes on or before 2026-03-15" in out


def test_kpi_table_shows_each_currency(cli, tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path}/k.db"
    assert cli("db", "upgrade", db_url=url)[0] == 0
    asyncio.run(_example(url))
    code, out, _ = cli("kpi", "--as-of", "2026-03-15", db_url=url)

    assert code == 0
    assert "EUR" in out and "USD" in out and "73.82" in out and "U0BOB001" in out


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["kpi", "--as-of", "2026-02-30"], "--as-of: expected a date YYYY-MM-DD, got '2026-02-30'"),
        (["kpi", "--as-of", "yesterday"], "--as-of: expected a date YYYY-MM-DD"),
        (["digest", "--now", "soon"], "--now: expected an ISO-8601 instant"),
    ],
)
def test_bad_dates_are_one_line(cli, args, fragment):
    code, _, err = cli(*args)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and fragment in lines[0]


def test_digest_then_tick_posts_once_and_force_posts_another(cli, example_url, slack):
    fake: FakeSlackApi = slack
    code, out, err = cli("digest", "--now", "2026-03-16T09:30", db_url=example_url)
    assert (code, err) == (0, "")
    assert out.strip() == f"digest of 2026-03-16 posted to {CHANNEL}"

    # A tick after the digest time the same day: the day is claimed, nothing more.
    code, out, _ = cli("tick", "--now", "2026-03-16T10:00", db_url=example_url)
    assert code == 0 and "digest of" not in out
    code, out, _ = cli("digest", "--now", "2026-03-16T11:00", db_url=example_url)
    assert out.strip() == "the digest of 2026-03-16 was already posted; --force posts another"
    assert len(fake.channel_messages(CHANNEL)) == 1

    code, out, _ = cli("digest", "--now", "2026-03-16T11:00", "--force", db_url=example_url)
    assert code == 0 and len(fake.channel_messages(CHANNEL)) == 2


def test_tick_posts_when_the_clock_passes_the_digest_time(cli, example_url, slack):
    fake: FakeSlackApi = slack
    # 08:00 to 10:00 Berlin time, a pass every 30 minutes: posted at the 09:00 pass only.
    code, out, _ = cli("tick", "--now", "2026-03-17T08:00", "--until", "2026-03-17T10:00",
                       "--every", "30m", db_url=example_url)  # fmt: skip

    assert code == 0
    lines = out.splitlines()
    posted = [n for n, line in enumerate(lines) if line.startswith("digest of 2026-03-17")]
    assert len(posted) == 1 and lines[posted[0] - 1].startswith("2026-03-17T09:00")
    assert len(fake.channel_messages(CHANNEL)) == 1
    assert len(fake.files) == 1


def test_a_slack_failure_is_one_line_and_the_day_stays_open(cli, example_url, slack):
    fake: FakeSlackApi = slack
    fake.fail("chat.postMessage", error="channel_not_found")
    code, _, err = cli("digest", "--now", "2026-03-16T09:30", db_url=example_url)
    assert code == 1
    assert err.strip() == "arseq: Slack did not take the digest: channel_not_found"

    code, out, _ = cli("digest", "--now", "2026-03-16T09:40", db_url=example_url)
    assert code == 0 and "posted" in out


def test_digest_without_slack_is_printed(cli, example_url):
    code, out, _ = cli("digest", "--now", "2026-03-16T09:30Z", db_url=example_url)

    assert code == 0
    assert out.startswith("Slack is off") and "AR digest 2026-03-16" in out


def test_two_processes_racing_for_the_days_digest_post_it_once(example_url, slack, tmp_path):
    fake: FakeSlackApi = slack
    env = {k: v for k, v in os.environ.items() if k not in ALL_VARS}
    slack_vars = ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_API_URL",
                  "ARSEQ_DIGEST_CHANNEL", "ARSEQ_DIGEST_TIME", "ARSEQ_TIMEZONE")  # fmt: skip
    env |= {name: os.environ[name] for name in slack_vars}
    env["ARSEQ_DATABASE_URL"] = example_url
    command = [sys.executable, "-c", "from bot.cli import main; main()",
               "digest", "--now", "2026-03-16T09:30"]  # fmt: skip
    racers = [subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True) for _ in range(2)]  # fmt: skip
    answers = sorted(racer.communicate(timeout=120)[0].strip() for racer in racers)
    assert [racer.returncode for racer in racers] == [0, 0]
    posted = f"digest of 2026-03-16 posted to {CHANNEL}"
    assert answers == [posted, "the digest of 2026-03-16 was already posted; --force posts another"]
    assert len(fake.channel_messages(CHANNEL)) == 1
