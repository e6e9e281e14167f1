"""Long commands draw a progress bar for a person at a terminal, and nothing for a script.

Each command runs twice as a real process: with stdout a pipe (what scripts
and tests see: the report alone, no frames, no carriage returns, no escape
codes) and with stdout a pseudo-terminal (pty), where the bar is drawn and
erased and the same report follows.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

from tests.support.campaign_fixtures import campaign
from tests.support.cli import rapport
from tests.support.cli_run_now import _shop
from tests.support.email_sink import Sink

TERMINAL_CODE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def _visible(written: str) -> str:
    """What the terminal shows once its codes (colour, cursor, erase) are taken out."""
    return TERMINAL_CODE.sub("", written)


def _words(text: str) -> str:
    """The text with rich's line wrapping (at 80 columns off a terminal) undone."""
    return " ".join(text.split())


def _bar(description: str, total: int, written: str) -> bool:
    """Whether a bar was drawn: its description, then its "done/total" count."""
    pattern = rf"{re.escape(description)}[^\n]*? \d+/{total} "
    return re.search(pattern, _visible(written)) is not None


def _on_a_terminal(cwd: Path, *args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    """(exit code, everything written to the terminal) of `rapport ARGS` on a 120x30 pty."""
    full_env = {
        **os.environ,
        "RAPPORT_DATABASE_URL": f"sqlite:///{cwd / 'r.db'}",
        "TERM": "xterm-256color",
        **(env or {}),
    }
    for unset in ("COLUMNS", "LINES", "NO_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE"):
        full_env.pop(unset, None)
    controller, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 120, 0, 0))
    with (cwd / "stderr.txt").open("wb") as errors:
        proc = subprocess.Popen(
            [sys.executable, "-m", "rapport.bot", *args],
            cwd=cwd,
            env=full_env,
            stdin=terminal,
            stdout=terminal,
            stderr=errors,
        )
    os.close(terminal)
    written = bytearray()
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([controller], [], [], 1.0)
            if not ready:
                if proc.poll() is not None:
                    break
                continue
            try:
                chunk = os.read(controller, 65536)
            except OSError:  # EIO: the process closed its end
                break
            if not chunk:
                break
            written += chunk
    finally:
        os.close(controller)
    code = proc.wait(timeout=30)
    return code, written.decode("utf-8", "replace")


def _plain(text: str) -> None:
    """Nothing but the report: no redraws, no terminal codes."""
    assert "\r" not in text
    assert "\x1b" not in text


def test_demo_data_shows_progress_on_a_terminal_only(tmp_path: Path) -> None:
    demo = "sqlite:///demo.db"  # relative to the working directory: one short line
    piped = rapport(tmp_path, "demo-data", "--customers", "300", "--database-url", demo)
    assert piped.returncode == 0, piped.stderr
    _plain(piped.stdout + piped.stderr)
    assert "demo data:" not in piped.stdout
    assert piped.stdout.startswith("┏")  # the table comes first, nothing before it
    assert _words(piped.stdout).endswith(
        f"try: RAPPORT_DATABASE_URL={demo} rapport report programmes"
    )

    code, shown = _on_a_terminal(
        tmp_path, "demo-data", "--customers", "300", "--database-url", demo
    )
    assert code == 0, (tmp_path / "stderr.txt").read_text()
    assert _bar("demo data: drawing customers", 7, shown)
    assert "\x1b[2K" in shown  # the bar's line is erased when the work is done
    assert f"try: RAPPORT_DATABASE_URL={demo} rapport report programmes" in _words(_visible(shown))


ORDERS = """order_id,customer,amount,currency,date
A-1,ann@example.com,120.00,EUR,2026-09-01
B-1,bob@example.com,15.50,EUR,2026-10-20
"""


def test_import_and_recompute_show_progress_on_a_terminal_only(tmp_path: Path) -> None:
    path = tmp_path / "orders.csv"
    path.write_text(ORDERS, encoding="utf-8")
    piped = rapport(tmp_path, "import", "orders", str(path))
    assert piped.returncode == 0, piped.stderr
    assert piped.stdout == (
        "2 imported, 0 already there, 0 refused; 2 new customer(s), 135 points earned\n"
    )
    _plain(piped.stderr)
    values = rapport(tmp_path, "customers", "values", "--recompute")
    assert values.returncode == 0, values.stderr
    _plain(values.stdout + values.stderr)
    assert _words(values.stdout).startswith(
        "values recomputed for 2 customer(s), 2 with orders; 0 loyalty tier change(s); "
        "0 point(s) expired value tier"
    )

    again = tmp_path / "more.csv"
    again.write_text(ORDERS.replace("A-1", "A-2").replace("B-1", "B-2"), encoding="utf-8")
    code, shown = _on_a_terminal(tmp_path, "import", "orders", str(again))
    assert code == 0, (tmp_path / "stderr.txt").read_text()
    assert _bar("importing orders", 2, shown)
    assert "2 imported, 0 already there, 0 refused; 0 new customer(s)" in _visible(shown)

    code, shown = _on_a_terminal(tmp_path, "customers", "values", "--recompute")
    assert code == 0, (tmp_path / "stderr.txt").read_text()
    assert _bar("values: expiring points", 5, shown)
    assert "values recomputed for 2 customer(s), 2 with orders" in _visible(shown)


CUSTOMERS = """email,name,consent,consent_source,consent_at
ann@example.com,Ann,yes,shop sign-up form,2026-09-01
bob@example.com,Bob,,,
cem@example.com,Cem,,,
"""


def test_customer_import_shows_progress_on_a_terminal_only(tmp_path: Path) -> None:
    path = tmp_path / "customers.csv"
    path.write_text(CUSTOMERS, encoding="utf-8")
    report = "3 row(s): 3 new customer(s), 0 updated, 0 unchanged; 1 email consent(s) recorded"
    piped = rapport(tmp_path, "customers", "import", str(path))
    assert piped.returncode == 0, piped.stderr
    assert piped.stdout == report + "\n"
    _plain(piped.stderr)

    code, shown = _on_a_terminal(tmp_path, "customers", "import", str(path))
    assert code == 0, (tmp_path / "stderr.txt").read_text()
    assert _bar("customers import: writing", 3, shown)  # the bar's last frame
    assert "3 row(s): 0 new customer(s), 0 updated, 3 unchanged" in _visible(shown)


async def test_run_now_shows_sending_progress_on_a_terminal_only(
    tmp_path: Path, sink: Sink
) -> None:
    db = _shop(tmp_path)
    campaign(db, "Autumn", channel="email")
    db.dispose()
    mail = {
        "RAPPORT_SMTP_HOST": "127.0.0.1",
        "RAPPORT_SMTP_PORT": str(sink.port),
        "RAPPORT_SMTP_TLS": "none",
        "RAPPORT_MAIL_FROM": "shop@example.com",
        "RAPPORT_DISPATCH_QUIET_SECONDS": "0",
    }
    piped = await asyncio.to_thread(rapport, tmp_path, "campaigns", "run-now", "Spring", env=mail)
    assert piped.returncode == 0, piped.stderr
    _plain(piped.stdout + piped.stderr)
    assert piped.stdout.splitlines() == [
        "run 1: 2 queued, skipped: none",
        "sent 2, retry later 0, failed 0, skipped 0",
    ]

    code, shown = await asyncio.to_thread(
        _on_a_terminal, tmp_path, "campaigns", "run-now", "Autumn", env=mail
    )
    assert code == 0, (tmp_path / "stderr.txt").read_text()
    assert _bar("run-now: sending", 2, shown)
    assert "run 2: 2 queued, skipped: none" in _visible(shown)
    assert "sent 2, retry later 0, failed 0, skipped 0" in _visible(shown)
    # Each customer had one message from each campaign, none twice.
    assert sorted(m.message["To"] for m in sink.received) == [
        "ann@example.org",
        "ann@example.org",
        "bob@example.org",
        "bob@example.org",
    ]
