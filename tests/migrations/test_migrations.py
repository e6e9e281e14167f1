"""Alembic owns the schema: up, down and up again on both databases, and the
migrations produce exactly what the ORM models describe."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from rapport.crm.database import Database
from rapport.crm.models import Base
from rapport.migrations.schema import current_revision, downgrade, head_revision, upgrade


def _tables(db: Database) -> set[str]:
    return set(inspect(db.engine).get_table_names()) - {"alembic_version"}


def test_upgrade_downgrade_upgrade(empty_db: Database) -> None:
    upgrade(empty_db)
    assert current_revision(empty_db) == head_revision()
    assert {"customers", "identities", "interactions", "apscheduler_jobs"} <= _tables(empty_db)

    downgrade(empty_db, "base")
    assert current_revision(empty_db) is None
    assert _tables(empty_db) == set()

    upgrade(empty_db)
    assert current_revision(empty_db) == head_revision()


def test_migrations_match_the_models(empty_db: Database) -> None:
    upgrade(empty_db)
    with empty_db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(context, Base.metadata)
    # apscheduler_jobs is APScheduler's table, created by our migration but not an ORM model.
    diff = [d for d in diff if not (d[0] == "remove_table" and d[1].name == "apscheduler_jobs")]
    diff = [
        d for d in diff if not (d[0] == "remove_index" and d[1].table.name == "apscheduler_jobs")
    ]
    assert diff == []


def test_upgrade_is_idempotent(empty_db: Database) -> None:
    upgrade(empty_db)
    upgrade(empty_db)
    assert current_revision(empty_db) == head_revision()
