"""A throwaway PostgreSQL cluster of the test's own, to stop and start at will.

The shared server on 127.0.0.1:5432 serves every engineer's tests and must
never be restarted; this cluster (initdb in a temporary directory, its own
port, run as the `postgres` OS user) exists only for the test that uses it.
Without the server binaries, or without a way to run them as `postgres`, the
test skips and says which.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


def _binaries() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return Path(found[-1]).parent if found else None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class PrivateCluster:
    def __init__(self, bin_dir: Path, root: Path) -> None:
        self.bin_dir = bin_dir
        self.root = root
        self.data = root / "data"
        self.log = root / "postgres.log"
        self.port = _free_port()

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _as_postgres(self, *args: str) -> None:
        command = ["runuser", "-u", "postgres", "--", str(self.bin_dir / args[0]), *args[1:]]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"{args[0]} failed: {done.stderr.strip() or done.stdout.strip()}")

    def init(self) -> None:
        self._as_postgres(
            "initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
            "--no-sync",
        )  # fmt: skip

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c full_page_writes=off"
        )
        self._as_postgres(
            "pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.log), "-w", "start"
        )

    def stop(self, mode: str = "fast") -> None:
        """`immediate` is a crash: no checkpoint, clients cut off mid-statement."""
        self._as_postgres("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")


@contextmanager
def private_cluster() -> Iterator[PrivateCluster]:
    bin_dir = _binaries()
    if bin_dir is None:
        pytest.skip("no PostgreSQL server binaries in /usr/lib/postgresql/*/bin")
    if os.geteuid() != 0 or shutil.which("runuser") is None:
        pytest.skip("a private PostgreSQL cluster needs root and runuser to run as `postgres`")
    root = Path(tempfile.mkdtemp(prefix="rapport_scale_pg_"))
    shutil.chown(root, "postgres")
    cluster = PrivateCluster(bin_dir, root)
    try:
        cluster.init()
        cluster.start()
        yield cluster
    finally:
        with contextlib.suppress(RuntimeError):  # already stopped
            cluster.stop("immediate")
        shutil.rmtree(root, ignore_errors=True)
