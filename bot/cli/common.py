"""What every `rapport` command shares: settings, the console, the acting user, the database.

`open_db` is the one way a command reaches the database: it opens (and by
default upgrades) it once for the command and disposes of the engine on the way
out, so no command leaves connections behind.

Nothing heavy is imported at the top of the CLI's modules: `rapport --help`
loads every noun module, so SQLAlchemy, Alembic, pydantic settings and the
core come in only when a command runs (tests/test_cli_start.py holds the list).
"""

from __future__ import annotations

import getpass
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING

from rich.console import Console

from rapport.bot import logs

if TYPE_CHECKING:
    from rapport.crm.database import Database
    from rapport.crm.settings import Settings
    from rapport.crm.staff.audit import Actor

out = Console()


def configured_settings() -> Settings:
    """The settings from the environment and .env, with logging set to their level."""
    from rapport.crm.settings import load_settings

    settings = load_settings()
    logs.configure(settings.log_level)
    return settings


@contextmanager
def open_db(url: str, *, migrate: bool = True) -> Iterator[Database]:
    """The database at `url` for one command (upgraded to head unless `migrate` is off)."""
    from rapport.crm.database import Database
    from rapport.migrations import schema

    db = schema.open_database(url) if migrate else Database(url)
    try:
        yield db
    finally:
        db.dispose()


def cli_actor() -> Actor:
    """The operator at the terminal, as the audit trail names them."""
    from rapport.crm.staff.audit import Actor

    return Actor(label=f"cli:{getpass.getuser()}")


def when(value: datetime | None) -> str:
    return "—" if value is None else value.strftime("%Y-%m-%d %H:%M UTC")
