"""The demo's sample ledger: customers with a payment behaviour, their invoices, and when
each invoice would be paid had nobody reminded anyone (its "natural" payment day).

Everything is drawn from one seeded generator, so a seed is one ledger. The files are
the importer's CSV formats (SPEC section 7): the demo loads them with `arseq import`'s code.
"""

from __future__ import annotations

import csv
import random
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from enum import StrEnum
from pathlib import Path

from storage.import_rows import CUSTOMER_COLUMNS, INVOICE_COLUMNS, PAYMENT_COLUMNS

# (country, time zone, language, currency, company suffix)
PLACES = [
    ("US", "America/New_York", "en-US", "USD", "Inc."),
    ("US", "America/Chicago", "en-US", "USD", "LLC"),
    ("US", "America/Los_Angeles", "en-US", "USD", "Inc."),
    ("GB", "Europe/London", "en-GB", "GBP", "Ltd"),
    ("DE", "Europe/Berlin", "de-DE", "EUR", "GmbH"),
    ("FR", "Europe/Paris", "fr-FR", "EUR", "SARL"),
    ("NL", "Europe/Amsterdam", "nl-NL", "EUR", "B.V."),
    ("ES", "Europe/Madrid", "es-ES", "EUR", "S.L."),
    ("JP", "Asia/Tokyo", "ja-JP", "USD", "K.K."),
    ("AU", "Australia/Sydney", "en-AU", "USD", "Pty Ltd"),
]
NAMES = [
    "Acme", "Globex", "Initech", "Umbrella", "Stark", "Wayne", "Tyrell", "Soylent", "Hooli",
    "Vandelay", "Wonka", "Cyberdyne", "Aperture", "Oscorp", "Massive Dynamic", "Pied Piper",
    "Dunder Mifflin", "Gekko", "Nakatomi", "Virtucon", "Monarch", "Prestige", "Sterling",
    "Bluth", "Krusty", "Duff", "Ollivander", "Zorg", "Weyland", "Rekall",
]  # fmt: skip
COLLECTORS = ["U0DEMOANA", "U0DEMOBEN", "U0DEMOCHO"]
MANAGERS = ["U0DEMOMAX"]
TERMS = (14, 30, 30, 30, 45, 60)


class Profile(StrEnum):
    """How a customer pays."""

    PROMPT = "prompt"  # on time, reminders or not
    LATE = "a bit late"  # a week or two late; pays soon after a reminder
    CHRONIC = "chronically late"  # one to two months late; the second reminder moves them
    DISPUTER = "disputer"  # questions invoices when reminded, pays once it is resolved
    PROMISER = "promiser"  # promises to pay, breaks it, pays after the broken-promise reminder
    GHOST = "ghost"  # never answers, never pays


# How many customers of each profile, out of 100.
MIX = {Profile.PROMPT: 30, Profile.LATE: 25, Profile.CHRONIC: 15, Profile.DISPUTER: 10,
       Profile.PROMISER: 10, Profile.GHOST: 10}  # fmt: skip
# Days after the due date a customer of the profile pays when nobody reminds them.
NATURAL_DELAY = {Profile.PROMPT: (-6, 1), Profile.LATE: (8, 21), Profile.CHRONIC: (35, 70),
                 Profile.DISPUTER: (30, 60), Profile.PROMISER: (30, 55)}  # fmt: skip


@dataclass
class DemoCustomer:
    external_id: str
    name: str
    email: str
    timezone: str
    country: str
    language: str
    currency: str
    owner: str
    profile: Profile
    chat_id: int | None  # linked on Telegram at the start of the demo

    def row(self) -> list[str]:
        return [self.external_id, self.name, self.email, self.timezone, self.country,
                self.language, self.owner, ""]  # fmt: skip


@dataclass
class DemoInvoice:
    number: str
    customer: DemoCustomer
    issued: date
    due: date
    amount: Decimal
    natural_paid: date | None  # its payment day had nobody been reminded
    paid_on: date | None = None  # its payment day in the demo (reminders on)
    reminders: list[date] = field(default_factory=list)  # days a reminder about it went out
    planned: date | None = None  # the day it will pay, moved by a reminder
    held: bool = False  # disputed: not paid until resolved

    def pays_on(self) -> date | None:
        """The day this invoice gets paid in the demo, as things stand."""
        if self.paid_on is not None or self.held:
            return None
        return self.planned or self.natural_paid

    @property
    def currency(self) -> str:
        return self.customer.currency

    def row(self) -> list[str]:
        return [self.number, self.customer.external_id, self.issued.isoformat(),
                self.due.isoformat(), f"{self.amount}", self.currency, ""]  # fmt: skip


@dataclass
class DemoLedger:
    customers: list[DemoCustomer]
    invoices: list[DemoInvoice]

    def issued_on(self, day: date) -> list[DemoInvoice]:
        return [i for i in self.invoices if i.issued == day]

    def issued_before(self, day: date) -> list[DemoInvoice]:
        return [i for i in self.invoices if i.issued < day]


def _profiles(rng: random.Random, count: int) -> list[Profile]:
    pool = [p for p, share in MIX.items() for _ in range(share)]
    return (
        [pool[(k * 100) // count] for k in range(count)]
        if count >= 100
        else [rng.choice(pool) for _ in range(count)]
    )


def generate(
    *, seed: int, start: date, days: int, customers: int = 200, invoices: int = 2000
) -> DemoLedger:
    """A ledger whose invoices are issued from 90 days before `start` to its last day."""
    rng = random.Random(seed)
    profiles = _profiles(rng, customers)
    rng.shuffle(profiles)
    people: list[DemoCustomer] = []
    for n, profile in enumerate(profiles, start=1):
        country, zone, language, currency, suffix = rng.choice(PLACES)
        name = f"{rng.choice(NAMES)} {suffix}"
        if any(c.name == name for c in people):
            name = f"{rng.choice(NAMES)} {NAMES[n % len(NAMES)]} {suffix} {n}"
        chat = 700_000 + n if rng.random() < 0.35 else None
        people.append(DemoCustomer(
            f"C{n:04d}", name, f"ap{n}@{name.split()[0].lower()}.example", zone, country,
            language, currency, COLLECTORS[n % len(COLLECTORS)], profile, chat,
        ))  # fmt: skip
    span = 90 + days
    first = start - timedelta(days=90)
    bills: list[DemoInvoice] = []
    for k in range(invoices):
        customer = people[k % customers]
        issued = first + timedelta(days=rng.randrange(span))
        due = issued + timedelta(days=rng.choice(TERMS))
        amount = Decimal(int(rng.lognormvariate(8.3, 1.0) * 100)) / 100 + Decimal(50)
        delay = NATURAL_DELAY.get(customer.profile)
        natural = due + timedelta(days=rng.randint(*delay)) if delay else None
        bills.append(DemoInvoice(f"INV-{k + 1:05d}", customer, issued, due, amount, natural))
    bills.sort(key=lambda i: (i.issued, i.number))
    return DemoLedger(people, bills)


def write_csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    """One CSV file with its header row."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def customers_csv(folder: Path, ledger: DemoLedger) -> Path:
    return write_csv(folder / "customers.csv", list(CUSTOMER_COLUMNS.all[:8]),
                     [c.row() for c in ledger.customers])  # fmt: skip


def invoices_csv(path: Path, invoices: list[DemoInvoice]) -> Path:
    return write_csv(path, INVOICE_COLUMNS.all, [i.row() for i in invoices])


def payments_csv(path: Path, paid: list[tuple[DemoInvoice, date]]) -> Path:
    rows = [[i.number, day.isoformat(), f"{i.amount}", f"PAY-{i.number}"] for i, day in paid]
    return write_csv(path, PAYMENT_COLUMNS.all, rows)
