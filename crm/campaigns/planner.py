"""The outbox's planner statistics after a campaign run (PostgreSQL).

A run's INSERT … SELECT joins every customer of the segment with identities,
consents and recent deliveries; right after a bulk import the planner, with
the statistics of the emptier tables, looped per customer (minutes, not
seconds). Analysing on every run costs a tenth of a second to half a second
of the run at 100,000 customers for nothing once the statistics are fresh,
so a table is analysed only when PostgreSQL's own rule for autovacuum's
ANALYZE would pick it (never analysed, or more than 50 + 10 % of its rows
changed since) and it has not got round to it yet (`rapport.crm.statistics`).
The outbox gets a rule of its own here: a run knows how many rows it added
before the server's counters do.
"""

from __future__ import annotations

from sqlalchemy import Connection, text

from rapport.crm.statistics import AUTOANALYZE_BASE, AUTOANALYZE_SCALE


def outbox_needs_analyze(conn: Connection, added: int) -> bool:
    """After a run added `added` deliveries: whether the planner's view of the outbox is stale.

    Decided from the count the run knows, not the server's counters, which the
    run's own connection may not have reported yet: more than 50 + 10 % of the
    rows the planner last counted.
    """
    planned = conn.scalar(text("SELECT reltuples FROM pg_class WHERE oid = 'deliveries'::regclass"))
    return added > AUTOANALYZE_BASE + AUTOANALYZE_SCALE * max(float(planned or 0), 0.0)
