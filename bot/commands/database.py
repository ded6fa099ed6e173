"""`arseq db ...`: schema upgrades."""

from __future__ import annotations

from bot.settings import Settings
from storage.db import open_engine
from storage.migrate import current_revision, head_revision, upgrade


async def upgrade_database(settings: Settings) -> str:
    """Bring the configured database to the newest schema; say what changed."""
    async with open_engine(settings.database_url) as engine:
        before = await current_revision(engine)
        await upgrade(engine)
        after = await current_revision(engine)
    if before == after:
        return f"database already at revision {after}"
    return f"database upgraded from {before or 'empty'} to {after} (head {head_revision()})"
