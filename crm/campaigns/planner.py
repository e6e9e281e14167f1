"""Fresh planner statistics for a campaign run, and only when they are stale (PostgreSQL).

A run's INSERT … SELECT joins every customer of the segment with identities,
consents and recent deliveries; right after a bulk import the planner, with
the statistics of the emptier tables, looped per customer (minutes, not
seconds). Analysing on every run costs a tenth of a second to half a second
of the run at 100,000 customers for nothing once the statistics are fresh,
so a table is analysed only when PostgreSQL's own rule for autovacuum's
ANALYZE would pick it (never analysed, or more than 50 + 10 % of its rows
changed since) and it has not got round to it yet.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, text

AUTOANALYZE_BASE = 50
AUTOANALYZE_SCALE = 0.1
"""PostgreSQL's defaults for autovacuum_analyze_threshold and _scale_factor."""

_STALE = text(
    "SELECT relname FROM pg_stat_user_tables"
    " WHERE schemaname = current_schema() AND relname = ANY(:names)"
    " AND (coalesce(last_analyze, last_autoanalyze) IS NULL"
    " OR n_mod_since_analyze > :base + :scale * n_live_tup)"
    " ORDER BY relname"
)


def stale_tables(conn: Connection, names: Sequence[str]) -> list[str]:
    """Which of these tables autovacuum would analyse now: the ones worth analysing first.

    The counters are the server's cumulative statistics, which a backend
    reports when it goes idle (within a second of another session's commit).
    """
    rows = conn.execute(
        _STALE, {"names": list(names), "base": AUTOANALYZE_BASE, "scale": AUTOANALYZE_SCALE}
    )
    return list(rows.scalars())


def analyze_stale(conn: Connection, names: Sequence[str]) -> list[str]:
    """ANALYZE those of `names` whose statistics are stale; returns them (names from the code)."""
    stale = stale_tables(conn, names)
    if stale:
        conn.execute(text("ANALYZE " + ", ".join(stale)))
    return stale


def outbox_needs_analyze(conn: Connection, added: int) -> bool:
    """After a run added `added` deliveries: whether the planner's view of the outbox is stale.

    Decided from the count the run knows, not the server's counters, which the
    run's own connection may not have reported yet: more than 50 + 10 % of the
    rows the planner last counted.
    """
    planned = conn.scalar(text("SELECT reltuples FROM pg_class WHERE oid = 'deliveries'::regclass"))
    return added > AUTOANALYZE_BASE + AUTOANALYZE_SCALE * max(float(planned or 0), 0.0)
