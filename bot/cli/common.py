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
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from rapport.bot import logs
from rapport.crm.errors import InvalidInput

if TYPE_CHECKING:
    from rapport.crm.database import Database
    from rapport.crm.settings import Settings
    from rapport.crm.staff.audit import Actor
    from rapport.crm.staff.roles import Permission

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


StaffOption = Annotated[
    int | None, typer.Option("--staff", help="Staff id acting (default: the CLI, as admin).")
]


def acting(db: Database, staff_id: int | None, permission: Permission) -> Actor:
    """The staff member acting (their role checked by `authorise`), or the CLI operator."""
    from rapport.crm.models import StaffMember
    from rapport.crm.staff.roles import actor_for, authorise

    if staff_id is None:
        return cli_actor()
    with db.session() as session:
        member = session.get(StaffMember, staff_id)
    if member is None or not member.active:
        raise InvalidInput(f"no active staff member {staff_id} (see rapport staff list)")
    return actor_for(authorise(member, permission))


def when(value: datetime | None) -> str:
    return "—" if value is None else value.strftime("%Y-%m-%d %H:%M UTC")
