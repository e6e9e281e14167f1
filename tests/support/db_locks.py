"""Holding the database still: a write lock that blocks ingest, an engine that will not wait.

Shared by the Telegram tests that prove an update is acknowledged only after
it was committed (polling and webhook alike).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import make_url

from rapport.crm.database import Database, normalise_url


@contextmanager
def write_lock(db_url: str) -> Iterator[None]:
    """Hold the database so that ingest blocks inside its transaction."""
    if db_url.startswith("sqlite"):
        conn = sqlite3.connect(make_url(db_url).database or "", isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            conn.execute("ROLLBACK")
            conn.close()
        return
    engine = create_engine(normalise_url(db_url))
    with engine.connect() as conn:
        conn.execute(text("LOCK TABLE interactions IN ACCESS EXCLUSIVE MODE"))
        yield
        conn.rollback()
    engine.dispose()


def impatient_database(db_url: str) -> Database:
    """The same database, but a locked table makes a statement fail in 50 ms, not wait."""
    if db_url.startswith("sqlite"):
        db = Database(db_url)
        event.listen(db.engine, "connect", lambda conn, _: conn.execute("PRAGMA busy_timeout=50"))
        return db
    return Database(db_url, connect_args={"options": "-c lock_timeout=50"})
