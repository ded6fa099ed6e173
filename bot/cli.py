"""The `arseq` command line (SPEC section 3): thin commands over the domain.

Every failure ends as one line on stderr and an exit status: 1 when the work
failed, 2 when the command was used or configured wrongly. `--debug` shows the
traceback instead.
"""

from __future__ import annotations

import asyncio
import sys
import traceback
from collections.abc import Coroutine
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer

from bot.errors import CliError, UsageProblem
from bot.settings import Settings, SettingsError, load_settings

T = TypeVar("T")

app = typer.Typer(
    name="arseq",
    help="ARSeq: accounts-receivable sequences from Slack, Telegram and email.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
sequences_app = typer.Typer(help="Sequence definitions.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(sequences_app, name="sequences")

_state = {"debug": False}


class ImportKind(StrEnum):
    customers = "customers"
    invoices = "invoices"
    payments = "payments"


@app.callback()
def _root(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")] = False,
) -> None:
    _state["debug"] = debug


def settings() -> Settings:
    """The validated configuration, or a usage error listing every bad variable."""
    try:
        return load_settings()
    except SettingsError as exc:
        raise UsageProblem("\n".join(exc.lines)) from None


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run one command's async body."""
    return asyncio.run(coro)


def parse_instant(value: str | None, option: str) -> datetime | None:
    """An ISO-8601 instant; without an offset it is read in ARSEQ_TIMEZONE."""
    if value is None:
        return None
    try:
        instant = datetime.fromisoformat(value)
    except ValueError:
        raise UsageProblem(f"{option}: expected an ISO-8601 instant, got {value!r}") from None
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=settings().zone)
    return instant


# -- commands that work today ------------------------------------------------------------


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply migrations (safe to run again: a database at head is left as it is)."""
    from bot.commands.database import upgrade_database

    print(run(upgrade_database(settings())))


@app.command("import")
def import_(
    kind: Annotated[ImportKind, typer.Argument(help="customers, invoices or payments")],
    file: Annotated[Path, typer.Argument(help="CSV file with a header row", show_default=False)],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Check and report; write nothing.")
    ] = False,
) -> None:
    """Bulk import a CSV file: all rows or none (SPEC section 7)."""
    from bot.commands.importing import import_file

    import_file(settings(), kind.value, file, dry_run=dry_run)


@app.command()
def demo(
    days: Annotated[int, typer.Option(min=1, max=3650, help="Simulated days.")] = 60,
    seed: Annotated[int, typer.Option(help="Random seed of the sample ledger.")] = 7,
    db: Annotated[
        Path | None,
        typer.Option(help="A new SQLite file; its folder keeps the emails (default: temp)."),
    ] = None,
) -> None:
    """A simulated period of the whole product on embedded defaults, no account anywhere.

    Email, Slack and Telegram go to servers inside the process; customers and the team
    answer by profile; the summary ends with DSO with and without reminders.
    """
    from bot.demo import run_demo

    run(run_demo(days=days, seed=seed, db=db))


# -- the rest of SPEC section 3: present, and honest about what is missing -----------------


@app.command("run")
def run_service(
    http_port: Annotated[
        int, typer.Option("--http-port", min=0, max=65535, help="0: any free port.")
    ] = 8080,
) -> None:
    """The service: Slack, Telegram, scheduler and HTTP endpoints."""
    from bot.commands.service import run_service as run_it

    run_it(settings(), http_port=http_port)


@app.command()
def worker(
    health_port: Annotated[
        int | None,
        typer.Option(
            "--health-port", min=0, max=65535,
            help="Serve /healthz (only) on this port; 0: any free port. Default: no HTTP.",
        ),
    ] = None,
) -> None:  # fmt: skip
    """The clock and dispatch without the HTTP front (any number against PostgreSQL).

    On a SQLite file only one `arseq run` or `arseq worker` runs at a time; a second
    one is refused. SIGTERM stops claiming, lets the sends in flight finish, releases
    the rest and exits 0.
    """
    from bot.commands.service import run_service as run_it

    run_it(settings(), http_port=None, health_port=health_port)


@app.command()
def tick(
    now: Annotated[str | None, typer.Option(help="ISO-8601 instant (default: now).")] = None,
    until: Annotated[str | None, typer.Option(help="Simulate up to this instant.")] = None,
    every: Annotated[
        str | None, typer.Option(help="Step of the simulated clock: 30m, 1h (default), 1d.")
    ] = None,
) -> None:
    """One scheduler pass as of now or --now, or one per step up to --until.

    A pass plans what is due, then sends it through the configured channels (email,
    Telegram, Slack); messages for a channel that is not configured are printed to the
    console. Messages are dated with the pass's instant.
    """
    from bot.commands.engine import clock, parse_every, run_ticks

    step = parse_every(every or "1h")
    if every is not None and until is None:
        raise UsageProblem("--every needs --until")
    start = parse_instant(now, "--now") or datetime.now(UTC)
    end = parse_instant(until, "--until")
    run_ticks(settings(), clock(start, end, step))


@sequences_app.command("validate")
def sequences_validate(
    path: Annotated[Path, typer.Argument(help="A definition file, or a folder of them.")],
) -> None:
    """Check sequence definitions and report every problem with its line (no database)."""
    from bot.commands.sequences import validate

    validate(path)


@sequences_app.command("load")
def sequences_load(
    path: Annotated[Path, typer.Argument(help="A definition file, or a folder of them.")],
) -> None:
    """Validate, then store a new version of each changed sequence (running ones keep theirs)."""
    from bot.commands.sequences import load

    load(settings(), path)


@app.command()
def preview(
    sequence: Annotated[str, typer.Argument(help="Sequence name.")],
    customer: Annotated[str, typer.Argument(help="External id or a unique name prefix.")],
    now: Annotated[str | None, typer.Option(help="ISO-8601 instant (default: now).")] = None,
) -> None:
    """The timeline and rendered messages a customer would get; nothing is sent."""
    from bot.commands.preview import preview as show

    config = settings()
    show(config, sequence, customer, now=parse_instant(now, "--now") or datetime.now(UTC))


@app.command()
def kpi(
    as_of: Annotated[str | None, typer.Option("--as-of", help="YYYY-MM-DD")] = None,
    json_: Annotated[bool, typer.Option("--json", help="JSON instead of a table.")] = False,
) -> None:
    """KPIs as of the end of a date (default: today in ARSEQ_TIMEZONE), per currency."""
    from bot.commands.kpi import parse_day, show_kpis, today_in

    config = settings()
    show_kpis(config, parse_day(as_of, "--as-of", today_in(config)), as_json=json_)


@app.command()
def digest(
    now: Annotated[str | None, typer.Option(help="ISO-8601 instant (default: now).")] = None,
    force: Annotated[bool, typer.Option(help="Post again even if today's was posted.")] = False,
) -> None:
    """Build and post the daily digest of --now's local day (once a day unless --force)."""
    from bot.commands.digest import run_digest

    config = settings()
    run_digest(config, parse_instant(now, "--now") or datetime.now(UTC), force=force)


# -- the one way errors leave the program -------------------------------------------------


def _fail(message: str, code: int) -> NoReturn:
    for line in message.splitlines() or [""]:  # several problems: one line each
        print(f"arseq: {line}", file=sys.stderr)
    raise SystemExit(code)


def main(argv: list[str] | None = None) -> None:
    """Console entry point: run the app, turning every error into one line."""
    args = sys.argv[1:] if argv is None else argv
    try:
        result = app(args=args, prog_name="arseq", standalone_mode=False)
    except typer.Exit as exc:
        raise SystemExit(exc.exit_code) from None
    except typer.Abort:
        _fail("aborted", 130)
    except CliError as exc:
        if _state["debug"]:
            traceback.print_exc()
        _fail(str(exc), exc.exit_code)
    except typer.TyperException as exc:  # click's usage errors, as typer raises them
        if type(exc).__name__ == "NoArgsIsHelpError":
            print(exc.ctx.get_help() if getattr(exc, "ctx", None) else "", file=sys.stderr)
            raise SystemExit(2) from None
        ctx = getattr(exc, "ctx", None)
        where = f" (see `{ctx.command_path} --help`)" if ctx is not None else ""
        _fail(f"{exc.format_message()}{where}", getattr(exc, "exit_code", 2))
    except KeyboardInterrupt:
        _fail("interrupted", 130)
    except Exception as exc:  # the last line of defence against tracebacks
        if _state["debug"] or "--debug" in args:
            traceback.print_exc()
            raise SystemExit(1) from None
        _fail(f"unexpected error: {type(exc).__name__}: {exc} (run with --debug for details)", 1)
    raise SystemExit(result if isinstance(result, int) else 0)
