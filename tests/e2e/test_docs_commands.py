"""Every `arseq` command shown in a shell block of README.md and docs/*.md that runs
offline is run here, in the documented order, against a fresh SQLite file and sample
CSV files named as the docs name them: docs that lie are bugs.

`arseq run` and `arseq worker` (services) and `arseq demo` (tests/e2e/test_demo.py) are
left out. `[--option]` in a synopsis is optional: the command runs without it.
"""

from __future__ import annotations

import re
import shlex
import shutil
from datetime import date, timedelta
from pathlib import Path

import pytest

from bot.demo.ledger import customers_csv, generate, invoices_csv, payments_csv

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"```(?:sh|bash|shell|console)\n(.*?)```", re.S)
NOT_OFFLINE = {"run", "worker", "demo"}


def commands(doc: Path) -> list[list[str]]:
    """The `arseq` command lines of the doc's shell blocks, as argument lists."""
    found = []
    for block in BLOCK.findall(doc.read_text(encoding="utf-8")):
        for line in block.splitlines():
            line = line.strip().removeprefix("$ ")
            if not line.startswith("arseq "):
                continue
            line = re.sub(r"\[[^\]]*\]", "", line)  # optional parts of a synopsis
            args = shlex.split(line, comments=True)[1:]
            if args and args[0] not in NOT_OFFLINE:
                found.append(args)
    return found


def sample_files(folder: Path) -> None:
    """customers.csv (with an "Acme"), invoices.csv, payments.csv and my-sequences/."""
    start = date(2026, 3, 2)
    ledger = generate(seed=3, start=start, days=10, customers=12, invoices=40)
    ledger.customers[0].name = "Acme Corporation"
    customers_csv(folder, ledger)
    invoices_csv(folder / "invoices.csv", ledger.invoices)
    paid = [(i, i.issued + timedelta(days=5)) for i in ledger.invoices[:10]]
    payments_csv(folder / "payments.csv", paid)
    shutil.copytree(ROOT / "sequences" / "library", folder / "my-sequences")


DOCUMENTED = [(doc, args) for doc in DOCS for args in commands(doc)]


def test_the_docs_show_commands_to_check() -> None:
    assert len(DOCUMENTED) >= 5
    assert {args[0] for _, args in DOCUMENTED} >= {"db", "import", "sequences", "preview"}


@pytest.mark.parametrize("doc", [d for d in DOCS if commands(d)], ids=lambda d: d.name)
def test_every_offline_command_of_the_doc_runs(doc: Path, cli, tmp_path: Path) -> None:
    sample_files(tmp_path)
    code, _, err = cli("db", "upgrade")  # the README's first step, before any other
    assert code == 0, err
    for args in commands(doc):
        code, out, err = cli(*args)
        assert code == 0, f"{doc.name}: arseq {shlex.join(args)} exited {code}: {err}{out}"
