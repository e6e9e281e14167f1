"""What every `rapport` command shares: settings, the console, the acting user, the database.

`open_db` is the one way a command reaches the database: it opens (and by
default upgrades) it once for the command and disposes of the engine on the way
out, so no command leaves connections behind.

Nothing heavy is imported at the top of the CLI's modules: `rapport --help`
loads every noun module, so SQLAlchemy, Alembic, pydantic settings and the
core come in only when a command runs (tests/bot/cli/test_cli_start.py holds the list).
"""

from __future__ import annotations

import getpass
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.console import Console

from rapport.bot import logs
from rapport.crm.errors import InvalidInput

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

    from rapport.bot.present.listing import Style
    from rapport.crm.database import Database
    from rapport.crm.settings import Settings
    from rapport.crm.staff.audit import Actor
    from rapport.crm.staff.roles import Permission


class _Stdout(Console):
    """A console that measures the terminal (or COLUMNS and LINES) whenever it prints.

    Rich fixes the size when the console is made if COLUMNS and LINES are set
    then; `out` is made at import, which in a process that runs several
    commands (a test runner, a program embedding the CLI) can be long before
    the command whose output should fit.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._width = self._height = None


out = _Stdout(markup=False, highlight=False)
"""Standard output. Markup is off: customer names and messages are data, and a name
like `[/i]Zoe` must print as written (emphasis is given with `rich.text.Text`)."""


def configured_settings(*, chatter: bool = False) -> Settings:
    """The settings from the environment and .env, with logging set to their level.

    Start-up INFO lines ("database ready …") belong to `rapport run`
    (`chatter`); any other command logs warnings and errors only, unless
    RAPPORT_LOG_LEVEL asks for DEBUG.
    """
    from rapport.crm.settings import load_settings

    settings = load_settings()
    level = settings.log_level.upper()
    logs.configure(level if chatter or level == "DEBUG" else _at_least_warning(level))
    return settings


def _at_least_warning(level: str) -> str:
    return "WARNING" if level in ("INFO", "NOTSET") else level


def style(settings: Settings) -> Style:
    """How this installation formats figures: its time zone and currency."""
    from rapport.bot.present.listing import Style

    return Style(zone=settings.zone, currency=settings.currency)


def warn_if_new_database(url: str) -> None:
    """Say so on stderr when a command is about to create a SQLite database here.

    A command run in the wrong folder would otherwise make and migrate an
    empty `./rapport.db` and report nothing, silently.
    """
    from pathlib import Path

    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return
    path = Path(parsed.database)
    if path.exists() or (path.is_absolute() and path.parent != Path.cwd()):
        return
    print(
        f"rapport: warning: no database at {path} in {Path.cwd()}; creating a new, empty one "
        "(set RAPPORT_DATABASE_URL, or run from your shop's folder)",
        file=sys.stderr,
    )


@contextmanager
def open_db(url: str, *, migrate: bool = True, new_ok: bool = False) -> Iterator[Database]:
    """The database at `url` for one command (upgraded to head unless `migrate` is off).

    Creating a new SQLite file in the current folder is warned about unless
    the command means to (`new_ok`: `rapport init`, `rapport demo-data`).
    """
    from rapport.crm.database import Database
    from rapport.migrations import schema

    if migrate and not new_ok:
        warn_if_new_database(url)
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
    from rapport.crm.staff.roles import actor_for, authorise, staff_member

    if staff_id is None:
        return cli_actor()
    member = staff_member(db, staff_id)
    if member is None or not member.active:
        unknown_staff(db, staff_id)
    return actor_for(authorise(member, permission))


def unknown_staff(db: Database, staff_id: int) -> NoReturn:
    """Refuse a staff id that is not an active member, naming the ones that are."""
    from rapport.crm.staff.roles import active_staff_names

    active = active_staff_names(db)
    known = ", ".join(f"{i} {name}" for i, name in active) or "none yet (rapport staff add)"
    raise InvalidInput(f"no active staff member {staff_id}; active staff: {known}")


def when(value: datetime | None, zone: ZoneInfo) -> str:
    """A moment in the business's zone, with the zone shown (rapport.bot.present.times)."""
    from rapport.bot.present.times import when as local_when

    return local_when(value, zone)
