"""A real Dovecot IMAP server on loopback for the tests that need one.

Dovecot comes from Debian's `dovecot-imapd` (CI installs it in `.ci/run`);
without the binary the tests that use it skip and say so. The server runs from
its own configuration in a temporary directory: plaintext login on 127.0.0.1
only, a passwd-file with one user, Maildir storage. The `dovecot` fixture is
made available to every test module by tests/conftest.py.
"""

from __future__ import annotations

import imaplib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from rapport.channels.email.imap import ImapAccount

DOVECOT = shutil.which("dovecot") or next(
    (p for p in ("/usr/sbin/dovecot", "/usr/local/sbin/dovecot") if os.path.exists(p)), None
)
USER, PASSWORD = "shop", "secret"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _accounts() -> tuple[str, str, int, int]:
    """Who Dovecot's processes and mail run as: it refuses root for both."""
    if os.geteuid() != 0:
        me = pwd.getpwuid(os.geteuid())
        return me.pw_name, me.pw_name, me.pw_uid, me.pw_gid
    try:
        internal, login = pwd.getpwnam("dovecot"), pwd.getpwnam("dovenull")
        nobody = pwd.getpwnam("nobody")
    except KeyError:
        pytest.skip("running as root needs the dovecot, dovenull and nobody users")
    return internal.pw_name, login.pw_name, nobody.pw_uid, nobody.pw_gid


CONFIG = """\
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
mail_location = maildir:{root}/mail/%u
default_internal_user = {internal}
default_login_user = {login}
first_valid_uid = 0
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/users
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={root}/mail/%u
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


@pytest.fixture(scope="module")
def dovecot() -> Iterator[ImapAccount]:
    internal, login, uid, gid = _accounts()
    # Not under pytest's tmp_path: its parents are private to us, and
    # Dovecot's unprivileged processes must reach their sockets.
    root = Path(tempfile.mkdtemp(prefix="rapport-dovecot-"))
    root.chmod(0o755)
    for sub in ("run", "state", "mail"):
        (root / sub).mkdir(mode=0o755)
    os.chown(root / "mail", uid, gid)
    (root / "users").write_text(f"{USER}:{{PLAIN}}{PASSWORD}\n")
    port = _free_port()
    config = root / "dovecot.conf"
    config.write_text(
        CONFIG.format(root=root, internal=internal, login=login, uid=uid, gid=gid, port=port)
    )
    assert DOVECOT is not None
    process = subprocess.Popen(
        [DOVECOT, "-F", "-c", str(config)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    account = ImapAccount("127.0.0.1", port, USER, PASSWORD, timeout=10)
    try:
        _wait_until_serving(account, process, root)
        yield account
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(root, ignore_errors=True)


def _wait_until_serving(account: ImapAccount, process: subprocess.Popen[bytes], root: Path) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            with imaplib.IMAP4(account.host, account.port, timeout=2) as probe:
                probe.login(account.username, account.password)
                return
        except (OSError, imaplib.IMAP4.error):
            time.sleep(0.1)
    log = (root / "dovecot.log").read_text() if (root / "dovecot.log").exists() else ""
    output = process.stdout.read().decode() if process.poll() is not None and process.stdout else ""
    pytest.fail(f"Dovecot did not start:\n{output}\n{log}")
