"""Schema upgrades with Alembic, for SQLite and PostgreSQL alike.

The migrations are found as package data (`importlib.resources`), so an
installed wheel upgrades a database from any working directory.
"""

from __future__ import annotations

import logging
from importlib.resources import files

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from rapport.crm.database import Database, normalise_url

log = logging.getLogger(__name__)

MIGRATIONS_DIR = files("rapport.migrations")


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", normalise_url(url).replace("%", "%%"))
    return config


def upgrade(db: Database, revision: str = "head") -> None:
    """Bring the schema to `revision` (head by default) with Alembic."""
    with db.engine.begin() as connection:
        config = alembic_config(db.url)
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def downgrade(db: Database, revision: str) -> None:
    with db.engine.begin() as connection:
        config = alembic_config(db.url)
        config.attributes["connection"] = connection
        command.downgrade(config, revision)


def current_revision(db: Database) -> str | None:
    with db.engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def open_database(url: str, *, migrate: bool = True) -> Database:
    """Open the database at `url`, upgrading it to head unless told not to."""
    db = Database(url)
    if migrate:
        upgrade(db)
    log.info("database ready (%s, revision %s)", db.dialect, current_revision(db))
    return db
