"""A run refreshes the outbox's planner statistics only when its size changes (PostgreSQL)."""

from __future__ import annotations

import pytest

from rapport.crm.campaigns.planner import outbox_needs_analyze
from rapport.crm.database import Database


@pytest.mark.postgres
def test_the_outbox_is_analysed_after_a_run_that_changes_its_size(analysed_pg: Database) -> None:
    with analysed_pg.engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE deliveries")
        assert outbox_needs_analyze(conn, 1_000)  # an empty outbox: any big run counts
        assert not outbox_needs_analyze(conn, 10)
