"""`rapport db …`: the schema revision, moved by hand (these commands never auto-upgrade)."""

from __future__ import annotations

from typing import Annotated

import typer

from rapport.bot.cli.common import configured_settings, open_db, out
from rapport.migrations import schema

app = typer.Typer(no_args_is_help=True, help="Database schema (Alembic).")


@app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument()] = "head") -> None:
    """Upgrade the schema (to head by default).

    Example: rapport db upgrade
    """
    with open_db(configured_settings().database_url, migrate=False) as db:
        schema.upgrade(db, revision)
        out.print(f"database at revision {schema.current_revision(db)}")


@app.command("downgrade")
def db_downgrade(revision: str) -> None:
    """Downgrade the schema to REVISION (e.g. base).

    Example: rapport db downgrade 0003
    """
    with open_db(configured_settings().database_url, migrate=False) as db:
        schema.downgrade(db, revision)
        out.print(f"database at revision {schema.current_revision(db)}")


@app.command("current")
def db_current() -> None:
    """Show the schema revision and the newest one this version knows.

    Example: rapport db current
    """
    with open_db(configured_settings().database_url, migrate=False) as db:
        out.print(f"current {schema.current_revision(db)}; head {schema.head_revision()}")
