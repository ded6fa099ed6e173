"""What every command that touches the database needs: an engine at the right schema."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.errors import CliError
from bot.settings import Settings
from storage.db import open_engine
from storage.migrate import SchemaNotReady, require_current_schema


def describe_url(url: str) -> str:
    """The database URL without its password, for messages."""
    return make_url(url).render_as_string(hide_password=True)


@asynccontextmanager
async def ready_engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    """An engine on the configured database, checked to be reachable and migrated."""
    async with open_engine(settings.database_url) as engine:
        try:
            await require_current_schema(engine)
        except SchemaNotReady as exc:
            raise CliError(str(exc)) from None
        except (OSError, OperationalError, DBAPIError) as exc:
            reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
            where = describe_url(settings.database_url)
            raise CliError(f"cannot reach the database {where}: {reason}") from None
        yield engine


def is_terminal() -> bool:
    """True when progress bars are welcome (stderr is a terminal)."""
    return sys.stderr.isatty()
