"""Shared fixtures: a migrated database on SQLite and on PostgreSQL.

Database tests take the `db` fixture and so run twice, once per backend.
PostgreSQL runs when RAPPORT_TEST_POSTGRES_URL names a server we may create
databases on (CI always sets it); without it those cases skip and say why.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from rapport.crm.database import Database, normalise_url
from rapport.migrations.schema import upgrade
from tests.support.browser import browser  # noqa: F401  (a fixture, likewise)
from tests.support.dovecot_server import dovecot  # noqa: F401  (a fixture: imported here, every test module may use it)
from tests.support.email_sink import sink  # noqa: F401  (a fixture, likewise)
from tests.support.telegram_fixtures import api, clock, outbound, service, wakes  # noqa: F401  (fixtures)

PG_ENV = "RAPPORT_TEST_POSTGRES_URL"
PG_SKIP_REASON = f"PostgreSQL tests need {PG_ENV} (e.g. postgresql://postgres@127.0.0.1/test)"


def postgres_admin_url() -> str | None:
    url = os.environ.get(PG_ENV)
    return normalise_url(url) if url else None


@contextmanager
def scratch_postgres_database() -> Iterator[str]:
    """A new, empty PostgreSQL database for this test run, dropped afterwards."""
    admin_url = postgres_admin_url()
    if admin_url is None:
        pytest.skip(PG_SKIP_REASON)
    name = f"rapport_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated to head once; each test gets a copy."""
    path = tmp_path_factory.mktemp("template") / "rapport.db"
    db = Database(f"sqlite:///{path}")
    upgrade(db)
    db.dispose()
    return path


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A PostgreSQL database migrated to head once for the whole session."""
    with scratch_postgres_database() as url:
        db = Database(url)
        upgrade(db)
        db.dispose()
        yield url


def _truncate_all(db: Database) -> None:
    """Empty every table. A session an earlier test left open would block TRUNCATE for
    good (its transaction holds a lock), so the wait is bounded and says so."""
    with db.engine.begin() as conn:
        conn.execute(text("SET LOCAL lock_timeout = '20s'"))
        tables = conn.execute(
            text(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                "AND tablename <> 'alembic_version'"
            )
        ).scalars()
        names = ", ".join(f'"{t}"' for t in tables)
        if not names:
            return
        try:
            conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        except OperationalError as error:
            if "lock timeout" not in str(error):
                raise
            pytest.fail(
                "the tables could not be emptied in 20 s: an earlier test on this worker "
                "left a transaction open (a session or connection it never closed)",
                pytrace=False,
            )


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> Iterator[str]:
    """URL of an empty, migrated database of each kind."""
    if request.param == "sqlite":
        path = tmp_path / "rapport.db"
        shutil.copy(sqlite_template, path)
        yield f"sqlite:///{path}"
        return
    url = request.getfixturevalue("postgres_url")
    scratch = Database(url)
    _truncate_all(scratch)
    scratch.dispose()
    yield url


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    database = Database(db_url)
    yield database
    database.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A database with no schema at all, for tests that run the migrations themselves."""
    if request.param == "sqlite":
        db = Database(f"sqlite:///{tmp_path / 'empty.db'}")
        yield db
        db.dispose()
        return
    with scratch_postgres_database() as url:
        db = Database(url)
        yield db
        db.dispose()
