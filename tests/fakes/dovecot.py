"""A private Dovecot IMAP server for tests: its own config, state and maildir in a temp dir.

Plain IMAP on a free loopback port, one passwd-file user, nothing shared with a system
Dovecot (none need be running). Where the `dovecot` binary is missing the tests that use
it are skipped with the reason; in CI (CI=true) that is a failure instead (`.ci/run`
installs it).
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest

USER = "ar@ar.example.test"
PASSWORD = "s3cret-imap"
START_TIMEOUT = 10.0

CONFIG = """\
protocols = imap
listen = 127.0.0.1
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
mail_location = maildir:{root}/mail/%u
default_internal_user = {internal}
default_login_user = {login}
first_valid_uid = {uid}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/passwd
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={root}/home/%u
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  chroot =
}}
"""


@dataclass(frozen=True)
class Dovecot:
    """A running private Dovecot: where it listens and who may log in."""

    port: int
    root: Path
    user: str = USER
    password: str = PASSWORD
    host: str = "127.0.0.1"

    def url(self, mailbox: str = "INBOX") -> str:
        """The IMAP_URL of the test mailbox (plain IMAP)."""
        user = quote(self.user, safe="")
        return f"imap://{user}:{self.password}@{self.host}:{self.port}/{mailbox}"

    def log(self) -> str:
        path = self.root / "dovecot.log"
        return path.read_text() if path.exists() else ""


def dovecot_binary() -> str:
    """The dovecot executable; skips (or, in CI, fails) when it is not installed."""
    found = shutil.which("dovecot") or next(
        (p for p in ("/usr/sbin/dovecot", "/usr/local/sbin/dovecot") if os.access(p, os.X_OK)),
        None,
    )
    if found:
        return found
    reason = "dovecot not found: install dovecot-imapd (apt-get install dovecot-imapd)"
    if os.environ.get("CI"):
        pytest.fail(f"{reason}; IMAP tests must run in CI")
    pytest.skip(reason)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _identities(root: Path) -> dict[str, object]:
    """Who the server runs and stores mail as: the current user, or system users under root."""
    if os.geteuid() != 0:
        me = pwd.getpwuid(os.geteuid())
        return {"internal": me.pw_name, "login": me.pw_name, "uid": me.pw_uid, "gid": me.pw_gid}
    mail = pwd.getpwnam("nobody")
    for sub in ("mail", "home"):
        os.chown(root / sub, mail.pw_uid, mail.pw_gid)
    internal = "dovecot" if _user_exists("dovecot") else "nobody"
    login = "dovenull" if _user_exists("dovenull") else "nobody"
    return {"internal": internal, "login": login, "uid": mail.pw_uid, "gid": mail.pw_gid}


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


@contextmanager
def running_dovecot(extra_config: str = "") -> Iterator[Dovecot]:
    """Start a private Dovecot in a temp dir (with any `extra_config` lines), wait until
    it answers, stop it and remove the dir at the end."""
    binary = dovecot_binary()
    with tempfile.TemporaryDirectory(prefix="arseq-dovecot-") as name:
        root = Path(name)
        # Dovecot's own processes run as its users: they must reach the passwd file.
        root.chmod(0o711)
        for sub in ("run", "state", "mail", "home"):
            (root / sub).mkdir()
        (root / "passwd").write_text(f"{USER}:{{PLAIN}}{PASSWORD}\n")
        (root / "passwd").chmod(0o644)
        with _serving(binary, root, extra_config) as server:
            yield server


@contextmanager
def _serving(binary: str, root: Path, extra_config: str) -> Iterator[Dovecot]:
    port = _free_port()
    config = root / "dovecot.conf"
    config.write_text(CONFIG.format(root=root, port=port, **_identities(root)) + extra_config)
    process = subprocess.Popen(
        [binary, "-F", "-c", str(config)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    server = Dovecot(port=port, root=root)
    try:
        _wait_until_listening(process, server)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_until_listening(process: subprocess.Popen[bytes], server: Dovecot) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            output = process.stdout.read().decode() if process.stdout else ""
            raise RuntimeError(f"dovecot exited ({process.returncode}): {output}{server.log()}")
        try:
            with socket.create_connection((server.host, server.port), timeout=1) as sock:
                if sock.recv(64).startswith(b"* OK"):
                    return
        except OSError:
            time.sleep(0.05)  # start-up, not a schedule: the server is not listening yet
    raise RuntimeError(f"dovecot did not answer on port {server.port}: {server.log()}")
