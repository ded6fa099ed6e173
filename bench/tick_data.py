"""Seeded SQLite ledgers for the engine benchmarks, built once per shape and cached.

A ledger is a migrated database holding the built-in sequence library (stored through
`sequences.store.ensure_library`, as a first tick would), customers with one email
contact each, open invoices that are all overdue at `NOW`, and one active enrollment
in `past-due-standard` per invoice. `due` of the enrollments are due at `NOW`; the
rest are due 30 to 365 days later, so a tick never reads them.

The due enrollments make real work: customer `k` (k < due) owns exactly one of them
(one invoice per customer, so consolidation and the frequency cap collapse nothing),
and every due customer lives in a time zone whose send window is open at `NOW` (a
Tuesday, 14:00 UTC, no public holiday in those countries). Half are at the first step
(2 to 6 days overdue: the gentle email), half at the second (8 or 9 days overdue: the
firm message, which has A/B variants). They are spread at random through the table,
as a real ledger's would be. The due part is drawn from its own random stream, so the
100,000- and the 1,000,000-enrollment ledgers hold the same due work.

Every invoice is already enrolled, so the trigger step of a tick (`enroll_new_targets`)
inserts nothing: what is left of it is its scan of open overdue invoices with a NOT
EXISTS probe of `enrollments` for each.

Rows are written with stdlib `sqlite3` `executemany` in the stored forms of
`storage.types` (naive-UTC text instants, scaled-integer money, JSON text), which is
far faster than going through the ORM and gives the same bytes. Files are cached in
`bench/data/` by shape, seed, generator version and migration head.
"""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sequences.store import ensure_library
from storage.db import open_engine
from storage.migrate import head_revision, upgrade

VERSION = 1
SEED = 20_260_310
# A Tuesday, inside the 09:00-17:00 window of every zone below.
NOW = datetime(2026, 3, 10, 14, 0, tzinfo=UTC)
LIBRARY_AT = datetime(2026, 1, 1, tzinfo=UTC)  # the library is stored before the ledger
CREATED_AT = datetime(2025, 1, 1, tzinfo=UTC)  # customers predate the onboarding trigger
SEQUENCE = "past-due-standard"

# (country, IANA zone, language, currency): windows open at NOW (10:00 to 15:00 local).
_PLACES = (
    ("US", "America/New_York", "en", "USD"),
    ("CA", "America/Toronto", "en", "CAD"),
    ("GB", "Europe/London", "en", "GBP"),
    ("FR", "Europe/Paris", "fr", "EUR"),
    ("DE", "Europe/Berlin", "de", "EUR"),
    ("NL", "Europe/Amsterdam", "nl", "EUR"),
    ("BR", "America/Sao_Paulo", "pt-BR", "BRL"),
)
_MONEY_SCALE = 10_000 // 100  # cents -> ten-thousandths (storage.types.MONEY_SCALE)


@dataclass(frozen=True)
class Shape:
    """What a ledger holds: enrollments (= invoices), how many are due, customers."""

    enrollments: int
    due: int
    customers: int

    @classmethod
    def of(cls, enrollments: int, due: int) -> Shape:
        """One invoice per due customer; otherwise about 20 invoices per customer."""
        if due > enrollments:
            raise ValueError("more due enrollments than enrollments")
        return cls(enrollments, due, max(2 * due, enrollments // 20))

    @property
    def tag(self) -> str:
        return f"e{self.enrollments}-d{self.due}-c{self.customers}"


def stamp(instant: datetime) -> str:
    """An aware instant in the form `UTCDateTime` stores on SQLite."""
    return instant.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


@dataclass(frozen=True)
class _Spec:
    customer: int  # 0-based
    due_date: date
    cents: int
    step: int
    repeat: int
    next_at: datetime
    started_at: datetime


def _due_specs(shape: Shape, seed: int) -> Iterator[_Spec]:
    rng = random.Random(seed)
    today = NOW.date()
    for k in range(shape.due):
        first_step = k % 2 == 0
        overdue = rng.randrange(2, 7) if first_step else rng.randrange(8, 10)
        due = today - timedelta(days=overdue)
        started = datetime.combine(due + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
        yield _Spec(
            customer=k,
            due_date=due,
            cents=rng.randrange(10_000, 5_000_000),
            step=0 if first_step else 1,
            repeat=0,
            next_at=NOW - timedelta(seconds=rng.randrange(1, 86_400)),
            started_at=started,
        )


def _future_specs(shape: Shape, seed: int) -> Iterator[_Spec]:
    rng = random.Random(seed + 1)
    today = NOW.date()
    while True:
        due = today - timedelta(days=rng.randrange(15, 700))
        started = datetime.combine(due + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
        yield _Spec(
            customer=rng.randrange(shape.customers),
            due_date=due,
            cents=rng.randrange(10_000, 5_000_000),
            step=3,
            repeat=rng.randrange(4),
            next_at=NOW + timedelta(days=rng.randrange(30, 366), seconds=rng.randrange(86_400)),
            started_at=started,
        )


def specs(shape: Shape, seed: int = SEED) -> Iterator[tuple[int, _Spec]]:
    """(row id, spec) of every invoice/enrollment; the same sequence on every call."""
    due_at = set(random.Random(seed + 2).sample(range(shape.enrollments), shape.due))
    due, future = _due_specs(shape, seed), _future_specs(shape, seed)
    for i in range(shape.enrollments):
        yield i + 1, next(due) if i in due_at else next(future)


def _place(customer: int, seed: int) -> tuple[str, str, str, str]:
    return random.Random(seed * 1_000_003 + customer).choice(_PLACES)


async def _migrate(db: Path) -> int:
    """Migrate, store the library as the first tick would; the past-due sequence id."""
    async with open_engine(f"sqlite+aiosqlite:///{db}") as engine:
        await upgrade(engine)
        async with engine.begin() as conn:
            await ensure_library(conn, now=LIBRARY_AT)
    with closing(sqlite3.connect(db)) as con:
        row = con.execute("SELECT id FROM sequences WHERE name = ?", (SEQUENCE,)).fetchone()
    if row is None:
        raise RuntimeError(f"the built-in library has no {SEQUENCE}")
    return int(row[0])


def _customers(shape: Shape, seed: int) -> Iterator[tuple[Any, ...]]:
    created = stamp(CREATED_AT)
    for k in range(shape.customers):
        country, zone, language, currency = _place(k, seed)
        yield (
            k + 1, f"CUST-{k:07d}", f"Customer {k} Ltd", f"ap{k}@customer{k}.example.com",
            zone, country, language, currency, "U0OWNER1", None, 0, "[]", created, created,
        )  # fmt: skip


def _contacts(shape: Shape) -> Iterator[tuple[Any, ...]]:
    created = stamp(CREATED_AT)
    for k in range(shape.customers):
        address = f"ap{k}@customer{k}.example.com"
        yield (k + 1, "email", address, f"AP {k}", 1, None, None, None, created, created)


def _invoices(shape: Shape, seed: int) -> Iterator[tuple[Any, ...]]:
    created = stamp(CREATED_AT)
    for row_id, s in specs(shape, seed):
        amount = s.cents * _MONEY_SCALE
        currency = _place(s.customer, seed)[3]
        issued = (s.due_date - timedelta(days=30)).isoformat()
        yield (
            row_id, f"INV-{row_id:08d}", s.customer + 1, issued, s.due_date.isoformat(), amount,
            amount, currency, "open", None, created, created,
        )  # fmt: skip


def _enrollments(shape: Shape, seed: int, sequence_id: int) -> Iterator[tuple[Any, ...]]:
    for row_id, s in specs(shape, seed):
        yield (
            row_id, sequence_id, "invoice", s.customer + 1, row_id, None, "active", s.step,
            s.repeat, stamp(s.next_at), None, None, None, stamp(s.started_at), None, None, None,
        )  # fmt: skip


INSERTS = {
    "customers": "INSERT INTO customers (id, external_id, name, email, timezone, country, "
    "language, currency, owner_slack_id, telegram_username, autopay, tags, created_at, "
    "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    "contacts": "INSERT INTO contacts (customer_id, channel, address, name, is_primary, "
    "opted_out_at, unreachable_at, unreachable_reason, created_at, updated_at) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    "invoices": "INSERT INTO invoices (id, number, customer_id, issue_date, due_date, amount, "
    "open_amount, currency, status, paid_at, created_at, updated_at) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    "enrollments": "INSERT INTO enrollments (id, sequence_id, target_type, customer_id, "
    "invoice_id, dispute_id, state, current_step, repeat_count, next_action_at, paused_until, "
    "pause_reason, variant, started_at, ended_at, exit_reason, notice) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
}


def _bulk(db: Path, work: dict[str, Iterator[tuple[Any, ...]]]) -> None:
    """executemany each table's rows, all in one transaction (build speed pragmas)."""
    con = sqlite3.connect(db, isolation_level=None)
    try:
        con.execute("PRAGMA synchronous = OFF")
        con.execute("PRAGMA cache_size = -262144")
        con.execute("BEGIN")
        for table, rows in work.items():
            con.executemany(INSERTS[table], rows)
        con.execute("COMMIT")
        # Leave one self-contained file (no -wal beside it): copies of it are complete.
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        con.close()


def _cached(data_dir: Path, name: str) -> Path:
    return data_dir / f"{name}-s{SEED}-v{VERSION}-{head_revision()}.db"


def ledger(data_dir: Path, shape: Shape, *, say: Any = print) -> Path:
    """The ledger database of `shape` (built on first use, then reused). Copy it before
    running anything that writes."""
    path = _cached(data_dir, f"tick-ledger-{shape.tag}")
    if path.exists():
        return path
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    tmp.unlink(missing_ok=True)
    sequence_id = asyncio.run(_migrate(tmp))
    _bulk(
        tmp,
        {
            "customers": _customers(shape, SEED),
            "contacts": _contacts(shape),
            "invoices": _invoices(shape, SEED),
            "enrollments": _enrollments(shape, SEED, sequence_id),
        },
    )
    os.replace(tmp, path)
    say(f"built {path.name} ({path.stat().st_size / 2**20:.0f} MiB)")
    return path


def targets(data_dir: Path, invoices: int, *, say: Any = print) -> Path:
    """A ledger with `invoices` open overdue invoices (one past-due target each) over
    invoices/20 customers, and no enrollments yet: the base of the scheduling benchmark.
    The invoices are those of `ledger(Shape.of(invoices, 0))`."""
    shape = Shape.of(invoices, 0)
    path = _cached(data_dir, f"targets-{shape.tag}")
    if path.exists():
        return path
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    tmp.unlink(missing_ok=True)
    asyncio.run(_migrate(tmp))
    _bulk(
        tmp,
        {
            "customers": _customers(shape, SEED),
            "contacts": _contacts(shape),
            "invoices": _invoices(shape, SEED),
        },
    )
    os.replace(tmp, path)
    say(f"built {path.name} ({path.stat().st_size / 2**20:.0f} MiB)")
    return path


def copy(source: Path, target: Path) -> Path:
    """A fresh copy of a cached ledger to run against (the cache itself stays clean)."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{target}{suffix}").unlink(missing_ok=True)
    shutil.copyfile(source, target)
    # Flush the copy now: writing back hundreds of MiB of dirty pages while a tick runs
    # would slow its own WAL writes and add noise to the timing.
    with target.open("rb+") as handle:
        os.fsync(handle.fileno())
    return target


def looked_before(db: Path, at: datetime) -> Path:
    """Mark `db` as if a tick had looked for new targets at `at` and the day's full look
    were done (`trigger_scans`): the next tick takes the short look, as in steady running."""
    wall = stamp(datetime.now(UTC))
    with closing(sqlite3.connect(db)) as con, con:
        invoice = con.execute("SELECT coalesce(max(id), 0) FROM invoices").fetchone()[0]
        customer = con.execute("SELECT coalesce(max(id), 0) FROM customers").fetchone()[0]
        con.execute("DELETE FROM trigger_scans")
        con.execute(
            "INSERT INTO trigger_scans (sequence_id, scanned_for, scanned_at, full_at, "
            "max_invoice_id, max_customer_id) SELECT id, ?, ?, ?, ?, ? FROM sequences",
            (stamp(at), wall, wall, invoice, customer),
        )
    return db
