"""`arseq demo --days 10 --seed 1`, run as a user runs it, and its results checked."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from datetime import date, datetime, timedelta
from email.parser import BytesHeaderParser
from pathlib import Path

import pytest

from tests.bot.test_settings import ALL_VARS


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """One run of the installed `arseq demo` shared by the checks below: (summary,
    database path, folder)."""
    folder = tmp_path_factory.mktemp("demo")
    env = {k: v for k, v in os.environ.items() if k not in ALL_VARS}
    script = Path(sys.executable).with_name("arseq")
    done = subprocess.run(
        [str(script), "demo", "--days", "10", "--seed", "1", "--db", str(folder / "demo.db")],
        capture_output=True, text=True, timeout=600, cwd=folder, env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    assert "Summary" in done.stdout and "nobody reminded" in done.stdout
    for line in done.stderr.splitlines():  # JSON lines (stderr is a pipe), no message bodies
        event = json.loads(line)
        assert "Hello " not in line and "xoxb-" not in line and event["level"] != "error"
    summary = json.loads((folder / "summary.json").read_text())
    return summary, folder / "demo.db", folder


def test_messages_go_out_on_every_channel(demo):
    summary, _, folder = demo
    assert summary["messages"].get("email", 0) > 0
    assert summary["messages"].get("telegram", 0) > 0
    assert summary["slack_posts"].get("#ar-tasks", 0) > 0
    assert summary["disputes"] > 0 and summary["disputes_acknowledged"] > 0
    assert summary["payments"] > 0
    emails = sorted((folder / "mail").glob("*.eml"))
    assert len(emails) == summary["emails_kept"] == summary["messages"]["email"]
    headers = BytesHeaderParser().parsebytes(emails[0].read_bytes())
    assert headers["List-Unsubscribe"] and headers["Message-ID"]


def test_the_digest_is_posted_each_simulated_morning(demo):
    summary, _, _ = demo
    start = date.fromisoformat(summary["start"])
    assert summary["digests"] == [(start + timedelta(days=k)).isoformat() for k in range(10)]


def test_no_reminder_reaches_a_customer_after_its_invoice_was_paid(demo):
    _, db, _ = demo
    with sqlite3.connect(db) as conn:
        paid = dict(conn.execute("SELECT id, paid_at FROM invoices WHERE paid_at IS NOT NULL"))
        sent = conn.execute(
            "SELECT invoice_ids, sent_at FROM outbox_messages "
            "WHERE state = 'sent' AND kind = 'customer_message'"
        ).fetchall()
    assert sent and paid
    late = []
    for invoice_ids, sent_at in sent:
        day = datetime.fromisoformat(sent_at).date()
        for invoice_id in json.loads(invoice_ids or "[]"):
            if invoice_id in paid and day > date.fromisoformat(paid[invoice_id]):
                late.append((invoice_id, paid[invoice_id], sent_at))
    assert late == []


def test_dso_is_reported_with_and_without_reminders(demo):
    summary, _, _ = demo
    assert set(summary["dso_end"]) == {"EUR", "GBP", "USD"}
    assert set(summary["dso_unreminded"]) == set(summary["dso_end"])
    assert all(v is not None for v in summary["dso_end"].values())
