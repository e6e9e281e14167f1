"""A run refreshes the planner's statistics only where they are stale (PostgreSQL)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import insert

from rapport.crm.campaigns.planner import outbox_needs_analyze
from rapport.crm.database import Database
from rapport.crm.models import Customer
from rapport.crm.statistics import analyze_stale, stale_tables

T0 = datetime(2026, 11, 1, tzinfo=UTC)


@pytest.fixture
def pg(postgres_url: str) -> Iterator[Database]:
    db = Database(postgres_url)
    with db.engine.begin() as conn:
        conn.exec_driver_sql("TRUNCATE customers CASCADE")
        conn.exec_driver_sql("ANALYZE")
    yield db
    db.dispose()


def _stale_soon(db: Database, expected: list[str]) -> list[str]:
    """The server reports a backend's counters when it goes idle, within a second or so."""
    deadline = time.monotonic() + 10
    while True:
        with db.engine.connect() as conn:
            found = stale_tables(conn, ["customers"])
        if found == expected or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


@pytest.mark.postgres
def test_a_bulk_load_makes_a_table_stale_and_analyze_makes_it_fresh(pg: Database) -> None:
    assert _stale_soon(pg, []) == []
    with pg.engine.begin() as conn:
        conn.execute(
            insert(Customer.__table__),
            [
                {"display_name": f"c{i}", "first_seen_channel": "email", "created_at": T0}
                for i in range(500)
            ],
        )
    assert _stale_soon(pg, ["customers"]) == ["customers"]
    with pg.engine.begin() as conn:
        assert analyze_stale(conn, ["customers", "identities"]) == ["customers"]
    assert _stale_soon(pg, []) == []


@pytest.mark.postgres
def test_the_outbox_is_analysed_after_a_run_that_changes_its_size(pg: Database) -> None:
    with pg.engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE deliveries")
        assert outbox_needs_analyze(conn, 1_000)  # an empty outbox: any big run counts
        assert not outbox_needs_analyze(conn, 10)
