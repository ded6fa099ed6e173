"""One writer per SQLite file: `arseq run` and `arseq worker` hold an exclusive lock on it.

SQLite has one writer at a time, and dispatch there claims rows without `SKIP LOCKED`,
so a second process running the clock on the same file is refused. The lock is an
`fcntl.flock` on `<database>.lock` beside the file: the kernel drops it when the holder
exits, however it exits (SIGKILL included), so a dead process never blocks the next
start. PostgreSQL takes no lock: any number of workers share it.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy.engine import make_url

from bot.errors import CliError


class WriterBusy(CliError):
    """Another process already runs the clock on this SQLite file."""


def lock_path(database_url: str) -> Path | None:
    """The lock file of a SQLite file database; None for PostgreSQL or in-memory SQLite."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return Path(str(url.database)).resolve().with_name(Path(str(url.database)).name + ".lock")


@contextmanager
def single_writer(database_url: str) -> Iterator[None]:
    """Hold the SQLite file's writer lock for the block; WriterBusy when another has it."""
    path = lock_path(database_url)
    if path is None:
        yield
        return
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            raise WriterBusy(
                f"another arseq process (pid {holder}) is already running on the SQLite "
                f"database {path.with_suffix('')}: SQLite allows one `arseq run` or "
                "`arseq worker`; use PostgreSQL for several workers"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
