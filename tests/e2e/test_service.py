"""`arseq run` as a real process: it starts, answers /healthz, and stops cleanly on SIGTERM."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

from tests.bot.test_settings import ALL_VARS

STARTUP_LINES = 50


def test_arseq_run_serves_healthz_and_exits_0_on_sigterm(tmp_path: Path, sqlite_template):
    db = tmp_path / "a.db"
    shutil.copy(sqlite_template, db)
    env = {k: v for k, v in os.environ.items() if k not in ALL_VARS}
    env["ARSEQ_DATABASE_URL"] = f"sqlite+aiosqlite:///{db}"
    process = subprocess.Popen(
        [sys.executable, "-c", "from bot.cli import main; main()", "run", "--http-port", "0"],
        cwd=tmp_path, env=env, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert process.stderr is not None
        lines = []
        port = None
        for _ in range(STARTUP_LINES):  # read the log until it says where it listens
            line = process.stderr.readline()
            lines.append(line)
            if found := re.search(r"listening on port (\d+)", line):
                port = int(found.group(1))
                break
        assert port, "".join(lines)
        assert any("Email: off (SMTP_HOST not set)" in line for line in lines)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10) as response:
            body = json.load(response)
        assert body["database"] == "ok"
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
        rest = process.stderr.read()
        assert "Traceback" not in rest and "stopping" in rest
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
