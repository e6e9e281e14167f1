"""Fixtures shared by the core's tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from rapport.crm.database import Database


@pytest.fixture
def analysed_pg(postgres_url: str) -> Iterator[Database]:
    """The test PostgreSQL database with no customers or messages, every table just
    analysed: what the planner-statistics tests measure staleness from."""
    db = Database(postgres_url)
    with db.engine.begin() as conn:
        conn.exec_driver_sql("TRUNCATE customers, interactions CASCADE")
        conn.exec_driver_sql("ANALYZE")
    yield db
    db.dispose()
