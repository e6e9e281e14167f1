"""Planner statistics refreshed where stale, and by ingest as it grows a database (PostgreSQL)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, insert, select

from rapport.crm.database import Database
from rapport.crm.interactions.ingest import ingest_batch
from rapport.crm.messages import InboundMessage
from rapport.crm.models import Customer, Interaction
from rapport.crm.statistics import analyze_stale, stale_tables

T0 = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
EVERY = 1_000
"""GrowthWatch's default: ingest asks about the statistics every thousand new rows."""
SKIPPED = "planner statistics not refreshed now: LockNotAvailable"


def _ingest(db: Database, start: int, count: int) -> None:
    for first in range(start, start + count, 100):
        batch = [
            InboundMessage(
                channel="email",
                external_id=f"shopper{n % 300}@example.com",
                sender=None,
                text="Where is my parcel? It was due on Monday.",
                sent_at=T0,
                message_key=f"<stat{n}@example.com>",
            )
            for n in range(first, first + 100)
        ]
        ingest_batch(db, batch)


def _analysed_at(db: Database) -> datetime | None:
    with db.engine.connect() as conn:
        return conn.exec_driver_sql(
            "SELECT last_analyze FROM pg_stat_user_tables"
            " WHERE schemaname = current_schema() AND relname = 'interactions'"
        ).scalar()


def _planned_rows(db: Database) -> float:
    with db.engine.connect() as conn:
        return conn.exec_driver_sql(
            "SELECT reltuples FROM pg_class WHERE oid = 'interactions'::regclass"
        ).scalar_one()


def _until(check: Callable[[], bool], seconds: float = 10) -> None:
    """The server reports a backend's counters when it goes idle, within a second or so."""
    deadline = time.monotonic() + seconds
    while not check() and time.monotonic() < deadline:
        time.sleep(0.1)


def _stale(db: Database, table: str = "interactions") -> bool:
    with db.engine.connect() as conn:
        return stale_tables(conn, [table]) == [table]


@pytest.mark.postgres
def test_a_bulk_load_makes_a_table_stale_and_analyze_makes_it_fresh(analysed_pg: Database) -> None:
    _until(lambda: not _stale(analysed_pg, "customers"))
    assert not _stale(analysed_pg, "customers")
    with analysed_pg.engine.begin() as conn:
        conn.execute(
            insert(Customer.__table__),
            [
                {"display_name": f"c{i}", "first_seen_channel": "email", "created_at": T0}
                for i in range(500)
            ],
        )
    _until(lambda: _stale(analysed_pg, "customers"))
    assert _stale(analysed_pg, "customers")
    with analysed_pg.engine.begin() as conn:
        assert analyze_stale(conn, ["customers", "identities"]) == ["customers"]
    _until(lambda: not _stale(analysed_pg, "customers"))
    assert not _stale(analysed_pg, "customers")


@pytest.mark.postgres
def test_ingest_analyses_the_interactions_it_has_grown(analysed_pg: Database) -> None:
    before = _analysed_at(analysed_pg)
    # Short of the thousand at which ingest asks: stale, and nothing analysed yet.
    # (The server hears of new rows when a backend goes idle, within a second or
    # so; waiting for that here makes the check at the thousandth row see them.)
    _ingest(analysed_pg, 0, EVERY - 100)
    _until(lambda: _stale(analysed_pg))
    assert _stale(analysed_pg), "900 new interactions on an analysed empty table are stale"
    assert _analysed_at(analysed_pg) == before
    _ingest(analysed_pg, EVERY - 100, 100)
    _until(lambda: _planned_rows(analysed_pg) == EVERY)

    assert _analysed_at(analysed_pg) not in (None, before)
    assert _planned_rows(analysed_pg) == EVERY  # the planner knows the table's size


@pytest.mark.postgres
def test_a_table_locked_against_analyze_does_not_hold_up_ingest(
    analysed_pg: Database, caplog: pytest.LogCaptureFixture
) -> None:
    _ingest(analysed_pg, 0, EVERY - 100)  # no refresh yet: ingest asks at the thousandth
    _until(lambda: _stale(analysed_pg))
    before = _analysed_at(analysed_pg)
    with analysed_pg.engine.connect() as holder:
        # What autovacuum's ANALYZE holds: inserts go on, another ANALYZE waits.
        holder.exec_driver_sql("LOCK TABLE interactions IN SHARE UPDATE EXCLUSIVE MODE")
        with caplog.at_level(logging.INFO, logger="rapport.crm.statistics"):
            _ingest(analysed_pg, EVERY - 100, 100)  # returns at once: the refresh has its thread
            _until(lambda: SKIPPED in caplog.messages)
        holder.rollback()

    with analysed_pg.session() as s:
        assert s.scalar(select(func.count()).select_from(Interaction)) == EVERY
    assert _analysed_at(analysed_pg) == before
    assert SKIPPED in caplog.messages
