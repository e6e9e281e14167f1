"""The one-scheduler lock survives its database session ending (a PostgreSQL restart).

An advisory lock lives as long as its session; the server restarting, or an
administrator terminating the session, drops it silently. `refresh` (run
every few seconds by the scheduler) notices and takes the lock again, and
stopping after such an outage does not fail on the dead session.
"""

from __future__ import annotations

import pytest
from sqlalchemy import text

from rapport.bot.scheduler import SchedulerLock
from rapport.crm.database import Database


def end_lock_sessions(db: Database) -> int:
    """What a server restart does to the lock: its session is gone.

    The timeout makes the server wait until the backend has really exited (and
    its locks are released); without it the next acquire races the exit, which
    a loaded machine loses.
    """
    with db.engine.connect() as conn:
        ended = conn.execute(
            text(
                "SELECT pg_terminate_backend(l.pid, 10000) FROM pg_locks l "
                "WHERE l.locktype = 'advisory' AND l.database = "
                "(SELECT oid FROM pg_database WHERE datname = current_database())"
            )
        ).all()
        conn.commit()
    return len(ended)


def test_the_lock_is_taken_again_after_its_session_ends(db: Database) -> None:
    if db.dialect != "postgresql":
        pytest.skip("advisory locks are PostgreSQL's; SQLite's lock file has no session")
    first = SchedulerLock(db)
    assert first.acquire()
    try:
        assert end_lock_sessions(db) == 1
        second = SchedulerLock(db)
        assert second.acquire()  # the gap an outage opens...
        second.release()
        first.refresh()  # ...which the periodic check closes
        assert not SchedulerLock(db).acquire()
        first.refresh()  # a live session: nothing to do
        assert not SchedulerLock(db).acquire()

        assert end_lock_sessions(db) == 1
    finally:
        first.release()  # the session is dead: releasing must not fail
    third = SchedulerLock(db)
    assert third.acquire()
    third.release()
