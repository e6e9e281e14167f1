"""The `rapport` command as a user runs it: a real subprocess on a real database."""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from rapport.crm.database import Database
from rapport.crm.models import AuditEvent, Customer, Interaction
from tests.support.cli import rapport


def test_ingest_then_list_and_show(tmp_path: Path) -> None:
    first = rapport(
        tmp_path,
        "ingest",
        "--channel",
        "email",
        "--from",
        "Ann@Example.com",
        "--name",
        "Ann",
        "--text",
        "Thank you, great service!",
        "--key",
        "k1",
    )
    assert first.returncode == 0, first.stderr
    assert "new customer 1" in first.stdout
    again = rapport(
        tmp_path,
        "ingest",
        "--channel",
        "email",
        "--from",
        "ann@example.com",
        "--text",
        "Thank you, great service!",
        "--key",
        "k1",
    )
    assert "duplicate" in again.stdout

    listing = rapport(tmp_path, "customers", "list")
    assert listing.returncode == 0 and "Ann" in listing.stdout
    shown = rapport(tmp_path, "customers", "show", "1")
    assert shown.returncode == 0
    assert "ann@example.com" in shown.stdout and "great service" in shown.stdout

    db = Database(f"sqlite:///{tmp_path / 'r.db'}")
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Interaction)) == 1
        actions = s.scalars(select(AuditEvent.action).order_by(AuditEvent.id)).all()
    db.dispose()
    assert actions == ["customers.list", "customer.show"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("ingest", "--channel", "email", "--from", "nobody", "--text", "hi"), "invalid email"),
        (("ingest", "--channel", "sms", "--from", "1", "--text", "hi"), "unknown channel"),
        (("customers", "show", "99"), "no customer with id 99"),
    ],
)
def test_errors_are_one_line_and_exit_2(
    tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    result = rapport(tmp_path, *args)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith("rapport: ")
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    db = Database(f"sqlite:///{tmp_path / 'r.db'}")
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Customer)) == 0
    db.dispose()


def test_bad_setting_is_reported_before_anything_runs(tmp_path: Path) -> None:
    result = rapport(tmp_path, "customers", "list", env={"RAPPORT_SMTP_PORT": "many"})
    assert result.returncode == 2
    assert "RAPPORT_SMTP_PORT" in result.stderr
    assert not (tmp_path / "r.db").exists()


def test_run_starts_on_defaults_and_stops_on_sigint(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "RAPPORT_DATABASE_URL": f"sqlite:///{tmp_path / 'r.db'}",
        "RAPPORT_INBOUND_SMTP_PORT": "0",
    }
    env.pop("RAPPORT_TELEGRAM_TOKEN", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "rapport.bot", "run"],
        cwd=tmp_path,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: list[str] = []
    deadline = time.monotonic() + 30
    assert proc.stderr is not None
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        lines.append(line)
        if "Rapport is running" in line or not line:
            break
    proc.send_signal(signal.SIGINT)
    _, rest = proc.communicate(timeout=30)
    log = "".join(lines) + rest
    assert proc.returncode == 0, log
    assert "Rapport is running" in log
    assert "stopped" in log
    assert (tmp_path / "r.db").exists()


def test_privacy_export_erase_and_retention(tmp_path: Path) -> None:
    stored = rapport(
        tmp_path,
        "ingest",
        "--channel",
        "email",
        "--from",
        "zoe@example.com",
        "--name",
        "Zoe Ng",
        "--text",
        "Where is my <parcel>?",
        "--key",
        "z1",
    )
    assert stored.returncode == 0, stored.stderr
    exported = rapport(
        tmp_path, "privacy", "export", "1", "--out", "zoe.json", "--html", "zoe.html"
    )
    assert exported.returncode == 0, exported.stderr
    data = json.loads((tmp_path / "zoe.json").read_text("utf-8"))
    assert data["tables"]["identities"][0]["external_id"] == "zoe@example.com"
    assert "Where is my &lt;parcel&gt;?" in (tmp_path / "zoe.html").read_text("utf-8")
    assert (tmp_path / "zoe.json").stat().st_mode & 0o077 == 0  # not readable by others

    refused = rapport(tmp_path, "privacy", "erase", "1")
    assert refused.returncode == 2 and "--yes" in refused.stderr
    erased = rapport(tmp_path, "privacy", "erase", "1", "--yes")
    assert erased.returncode == 0, erased.stderr
    again = rapport(tmp_path, "privacy", "export", "1")
    assert "zoe@example.com" not in again.stdout and "parcel" not in again.stdout

    retention = rapport(tmp_path, "privacy", "retention", env={"RAPPORT_RETENTION_MONTHS": "0"})
    assert retention.returncode == 0 and "retention is off" in retention.stdout
    db = Database(f"sqlite:///{tmp_path / 'r.db'}")
    with db.session() as s:
        actions = set(s.scalars(select(AuditEvent.action)))
    db.dispose()
    assert {"privacy.export", "privacy.erase"} <= actions


def test_campaigns_edit_switches_between_cron_and_a_one_off_time(tmp_path: Path) -> None:
    env = {"RAPPORT_TIMEZONE": "Europe/Paris"}

    def ok(*args: str) -> str:
        done = rapport(tmp_path, *args, env=env)
        assert done.returncode == 0, done.stderr
        return done.stdout

    ok("segments", "create", "everyone", "--rule", '{"all": []}')
    ok("campaigns", "create", "News", "--kind", "announcement", "--segment", "everyone",
       "--template", "Hi", "--cron", "0 9 * * 1")  # fmt: skip
    ok("campaigns", "edit", "News", "--at", "2031-01-06T10:30")
    [row] = list(csv.DictReader(io.StringIO(ok("campaigns", "list", "--format", "csv"))))
    assert "once at 2031-01-06 10:30 CET" in row["schedule"]  # the campaign's zone: Paris
    ok("campaigns", "edit", "News", "--cron", "0 8 * * 2")
    assert "cron '0 8 * * 2'" in ok("campaigns", "show", "News")
    both = rapport(tmp_path, "campaigns", "edit", "News", "--cron", "0 8 * * 2", "--at",
                   "2031-01-06T10:30", env=env)  # fmt: skip
    assert both.returncode == 2 and "not both" in both.stderr
    assert "cron '0 8 * * 2'" in ok("campaigns", "show", "News")  # unchanged
