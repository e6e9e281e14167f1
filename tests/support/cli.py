"""Helpers shared by test modules.

Moved out of test_cli.py, which other test modules imported.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def rapport(
    cwd: Path, *args: str, env: dict[str, str] | None = None, input: str | None = None
) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "RAPPORT_DATABASE_URL": f"sqlite:///{cwd / 'r.db'}", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "rapport.bot", *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        input=input,
        text=True,
        timeout=60,
    )
