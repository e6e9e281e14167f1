"""Fresh planner statistics, refreshed only where they are stale (PostgreSQL).

PostgreSQL plans with the statistics of the last ANALYZE, and a connection
keeps the plan of a statement it runs often (psycopg prepares it after five
runs). Plans made while a table was nearly empty stay after it has grown,
until the next ANALYZE: after a bulk import a campaign run looped per
customer (minutes, not seconds), and ingest slowed by half within 20,000
messages into a new database. Autovacuum fixes this within a minute or
so; the writers that grow a table fast ask sooner, with autovacuum's own
rule, so an up-to-date table costs one catalogue read and nothing more.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from weakref import WeakKeyDictionary

from sqlalchemy import Connection, Engine, exc, text

from rapport.crm.database import Database

log = logging.getLogger(__name__)

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


ANALYZE_LOCK_TIMEOUT = "200ms"
"""How long a refresh waits for a table autovacuum (or another writer) is analysing."""


class GrowthWatch:
    """Counts the rows this process adds to some tables; every `every` rows, analyses
    those of them that are stale, on a thread of its own.

    For writers on a hot path (ingest): the caller has committed and goes on at
    once (an acknowledgement never waits for an ANALYZE), nothing it stored
    depends on the refresh, and a refresh that cannot run (a lock autovacuum
    holds, a database gone away) is skipped with a line in the log, never
    raised. One refresh at a time per process: one falling due while another
    runs is skipped, and the next thousand rows ask again.
    """

    def __init__(self, tables: Sequence[str], *, every: int = 1_000) -> None:
        self.tables = tuple(tables)
        self.every = every
        self._added: WeakKeyDictionary[Engine, int] = WeakKeyDictionary()
        self._counting = threading.Lock()
        self._refreshing = threading.Lock()

    def added(self, db: Database, rows: int) -> None:
        if db.dialect != "postgresql" or rows <= 0:
            return
        with self._counting:
            total = self._added.get(db.engine, 0) + rows
            due = total >= self.every
            self._added[db.engine] = 0 if due else total
        if due and self._refreshing.acquire(blocking=False):
            try:
                threading.Thread(
                    target=self._refresh, args=(db,), name="rapport-statistics", daemon=True
                ).start()
            except RuntimeError:  # the interpreter is shutting down: no refresh, none held
                self._refreshing.release()

    def _refresh(self, db: Database) -> None:
        try:
            with db.engine.begin() as conn:
                conn.exec_driver_sql(f"SET LOCAL lock_timeout = '{ANALYZE_LOCK_TIMEOUT}'")
                analysed = analyze_stale(conn, self.tables)
        except exc.SQLAlchemyError as error:
            cause = error.orig if isinstance(error, exc.DBAPIError) else error
            log.info("planner statistics not refreshed now: %s", type(cause).__name__)
            return
        finally:
            self._refreshing.release()
        if analysed:
            log.debug("planner statistics refreshed: %s", ", ".join(analysed))
