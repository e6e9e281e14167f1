"""`rapport run --workers N` as an operator runs it: real processes, real signals.

The app starts N `rapport worker` children after it is up, starts one again
when it dies, and takes them all down on SIGTERM; if the app itself is
killed outright, the workers notice (their lifeline pipe closes) and stop.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import scratch_postgres_database

ROOT = Path(__file__).resolve().parents[3]


def children(pid: int) -> set[int]:
    """Live child processes of `pid`, from /proc (Linux)."""
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        found |= {int(p) for p in task.read_text().split()}
    return {p for p in found if alive(p)}


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"  # a zombie is dead, just not reaped


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def start_app(db_url: str, tmp_path: Path, *args: str) -> tuple[subprocess.Popen[bytes], Path]:
    log = tmp_path / "rapport.log"
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "RAPPORT_DATABASE_URL": db_url,
        "RAPPORT_INBOUND_SMTP_PORT": "0",
        "RAPPORT_WEB_PORT": "0",
    }
    for name in ("RAPPORT_TELEGRAM_TOKEN", "RAPPORT_SMTP_HOST", "RAPPORT_IMAP_HOST"):
        env.pop(name, None)
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "rapport.bot", "run", *args], cwd=tmp_path, env=env, stdout=out,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
    return process, log


@pytest.fixture
def pg_url() -> Iterator[str]:
    with scratch_postgres_database() as url:
        yield url


def running_workers(app: subprocess.Popen[bytes], log: Path, n: int) -> set[int]:
    wait_until(lambda: log.read_text().count("worker is running") >= n, f"{n} workers up")
    pids = children(app.pid)
    assert len(pids) == n
    return pids


def test_workers_are_refused_on_sqlite(tmp_path: Path) -> None:
    app, log = start_app(f"sqlite:///{tmp_path / 'r.db'}", tmp_path, "--workers", "2")
    assert app.wait(timeout=60) == 2
    lines = log.read_text().strip().splitlines()
    assert lines == [
        "rapport: --workers needs PostgreSQL (RAPPORT_DATABASE_URL=postgresql://…): "
        "on SQLite the dispatcher inside `rapport run` is the only one"
    ]
    assert not (tmp_path / "r.db").exists()  # refused before touching anything


def test_workers_start_restart_and_stop_with_the_app(pg_url: str, tmp_path: Path) -> None:
    app, log = start_app(pg_url, tmp_path, "--workers", "2")
    try:
        first = running_workers(app, log, 2)
        victim = min(first)
        os.kill(victim, signal.SIGKILL)
        wait_until(lambda: "exited (code -9); restarting" in log.read_text(), "the exit noticed")
        wait_until(lambda: len(children(app.pid) - {victim}) == 2, "a replacement worker")
        now = children(app.pid)
        assert victim not in now and max(first) in now

        app.send_signal(signal.SIGTERM)
        assert app.wait(timeout=60) == 0
        assert not any(alive(p) for p in now), "a worker outlived the app"
        text = log.read_text()
        assert "workers stopped (1 restart(s))" in text
    finally:
        if app.poll() is None:
            app.kill()
            app.wait()


def test_workers_stop_when_the_app_is_killed(pg_url: str, tmp_path: Path) -> None:
    app, log = start_app(pg_url, tmp_path, "--workers", "2")
    try:
        workers = running_workers(app, log, 2)
    finally:
        app.kill()
        app.wait()
    wait_until(lambda: not any(alive(p) for p in workers), "orphaned workers to stop", 30)
    assert log.read_text().count("supervising process is gone; stopping") == 2
