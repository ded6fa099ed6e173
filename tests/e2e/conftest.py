"""The `cli` fixture: `arseq` run in-process in an empty folder, as a user runs it."""

from __future__ import annotations

import pytest

from bot.cli import main
from tests.bot.test_settings import ALL_VARS


@pytest.fixture
def cli(monkeypatch, tmp_path, capsys):
    """Run `arseq ARGS...` in-process in an empty folder; return (code, stdout, stderr)."""
    for name in ALL_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)

    def invoke(*args: str, db_url: str | None = None) -> tuple[int, str, str]:
        monkeypatch.setenv("ARSEQ_DATABASE_URL", db_url or f"sqlite+aiosqlite:///{tmp_path}/a.db")
        try:
            main(list(args))
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        else:
            code = 0
        out, err = capsys.readouterr()
        assert "Traceback" not in out + err
        return code, out, err

    return invoke
