"""Schema upgrades with Alembic, for SQLite and PostgreSQL alike.

The migrations are found as package data (`importlib.resources`), so an
installed wheel upgrades a database from any working directory.

Alembic is imported only when it has work to do: every `rapport` command
opens its database through `open_database`, and one that finds the schema at
head already (the usual case) reads the stored revision and the migration
files' head with plain SQL and text, which costs a fraction of importing
Alembic (docs/benchmarks.md, "CLI start").
"""

from __future__ import annotations

import logging
import re
from importlib.resources import files
from typing import TYPE_CHECKING

from sqlalchemy import inspect, text

from rapport.crm.database import Database, normalise_url

if TYPE_CHECKING:
    from alembic.config import Config

log = logging.getLogger(__name__)

MIGRATIONS_DIR = files("rapport.migrations")

_REVISION = re.compile(r"""^revision\b[^=\n]*=\s*["']([^"'\n]+)["']""", re.M)
_DOWN_REVISION = re.compile(r"""^down_revision\b[^=\n]*=\s*(?:["']([^"'\n]+)["']|None)\s*$""", re.M)


def alembic_config(url: str) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", normalise_url(url).replace("%", "%%"))
    return config


def upgrade(db: Database, revision: str = "head") -> None:
    """Bring the schema to `revision` (head by default) with Alembic."""
    from alembic import command

    with db.engine.begin() as connection:
        config = alembic_config(db.url)
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def downgrade(db: Database, revision: str) -> None:
    from alembic import command

    with db.engine.begin() as connection:
        config = alembic_config(db.url)
        config.attributes["connection"] = connection
        command.downgrade(config, revision)


def current_revision(db: Database) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with db.engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def head_in_files() -> str | None:
    """The one head of the migration chain, read from the version files' text.

    None when the files do not say it plainly (a merge revision, a tuple of
    parents, an unusual spelling): then only Alembic can tell, and the caller
    asks it. tests/migrations/test_migrations.py holds this equal to `head_revision()`.
    """
    revisions: set[str] = set()
    parents: set[str] = set()
    for entry in MIGRATIONS_DIR.joinpath("versions").iterdir():
        if not entry.name.endswith(".py") or entry.name.startswith("_"):
            continue
        source = entry.read_text("utf-8")
        revision, parent = _REVISION.search(source), _DOWN_REVISION.search(source)
        if revision is None or parent is None:
            return None
        revisions.add(revision.group(1))
        if parent.group(1):
            parents.add(parent.group(1))
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None


def stored_revisions(db: Database) -> tuple[str, ...]:
    """The revisions the database's alembic_version table holds (none on a new database)."""
    with db.engine.connect() as connection:
        if not inspect(connection).has_table("alembic_version"):
            return ()
        return tuple(connection.execute(text("SELECT version_num FROM alembic_version")).scalars())


def open_database(url: str, *, migrate: bool = True) -> Database:
    """Open the database at `url`, upgrading it to head unless told not to."""
    db = Database(url)
    stored = stored_revisions(db)
    head = head_in_files()
    if migrate and (head is None or stored != (head,)):
        upgrade(db)
        stored = stored_revisions(db)
    log.info("database ready (%s, revision %s)", db.dialect, ", ".join(stored) or None)
    return db
