"""Every failure of a `rapport` command is one line on stderr and exit 2 (issue 20, defect 5).

A real subprocess, as a user runs it: a database that cannot be opened
(missing folder, nothing listening, not a database at all), any command, and
`rapport run`; `--debug` brings the traceback back. A misspelt setting warns
with the nearest known name.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

COMMANDS = (
    ("customers", "list"),
    ("segments", "list"),
    ("db", "current"),
    ("privacy", "export", "1"),
    ("staff", "remove", "1"),
    ("ingest", "--channel", "email", "--from", "ann@example.com", "--text", "Hi"),
    ("run",),
)


def rapport(cwd: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("RAPPORT_")}
    full_env.update(env)
    full_env.setdefault("RAPPORT_INBOUND_SMTP_PORT", "0")
    full_env.setdefault("RAPPORT_WEB_PORT", "0")
    return subprocess.run(
        [sys.executable, "-m", "rapport.bot", *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def _one_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("rapport: ")]
    assert len(lines) == 1, result.stderr
    assert len(result.stderr.strip().splitlines()) <= 3, result.stderr  # no wall of text
    return lines[0]


@pytest.mark.parametrize("args", COMMANDS, ids=lambda a: "-".join(a[:2]))
def test_missing_database_folder_is_one_line(tmp_path: Path, args: tuple[str, ...]) -> None:
    url = f"sqlite:///{tmp_path / 'no' / 'such' / 'r.db'}"
    line = _one_line(rapport(tmp_path, *args, env={"RAPPORT_DATABASE_URL": url}))
    assert "cannot open the database" in line


@pytest.mark.parametrize("args", COMMANDS[:3], ids=lambda a: "-".join(a[:2]))
def test_unreachable_postgres_is_one_line(tmp_path: Path, args: tuple[str, ...]) -> None:
    url = "postgresql://postgres@127.0.0.1:1/test"
    line = _one_line(rapport(tmp_path, *args, env={"RAPPORT_DATABASE_URL": url}))
    assert "cannot open the database" in line


def test_a_file_that_is_no_database_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "r.db").write_text("this is a shopping list, not a database\n" * 200)
    url = f"sqlite:///{tmp_path / 'r.db'}"
    line = _one_line(rapport(tmp_path, "customers", "list", env={"RAPPORT_DATABASE_URL": url}))
    assert "cannot open the database" in line


def test_debug_brings_the_traceback_back(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'no' / 'r.db'}"
    result = rapport(tmp_path, "customers", "list", "--debug", env={"RAPPORT_DATABASE_URL": url})
    assert result.returncode == 2
    assert "Traceback" in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("rapport: cannot open the database")


def test_misspelt_setting_names_the_nearest_one(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("RAPPORT_BUSINES_NAME=Corner Shop\n")
    url = f"sqlite:///{tmp_path / 'r.db'}"
    result = rapport(
        tmp_path,
        "customers",
        "list",
        env={"RAPPORT_DATABASE_URL": url, "RAPPORT_TIMEZOEN": "Asia/Hong_Kong"},
    )
    assert result.returncode == 0, result.stderr
    assert "RAPPORT_TIMEZOEN" in result.stderr
    assert "did you mean RAPPORT_TIMEZONE?" in result.stderr
    assert "RAPPORT_BUSINES_NAME" in result.stderr
    assert "did you mean RAPPORT_BUSINESS_NAME?" in result.stderr
