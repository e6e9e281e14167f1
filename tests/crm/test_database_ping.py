"""A pooled PostgreSQL connection cut while idle is replaced before use; a busy one is not pinged.

The server side of a pooled connection is ended with `pg_terminate_backend`
(what a server restart or an idle timeout does to it). After the idle
threshold the pool's ping notices and connects afresh, so the caller sees
nothing; within it the statement fails as an outage, which callers retry,
and the pool has a fresh connection for the retry.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from sqlalchemy import text

from rapport.crm import database
from rapport.crm.database import Database, is_outage

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg(postgres_url: str) -> Iterator[Database]:
    db = Database(postgres_url, pool_size=1, max_overflow=0)
    yield db
    db.dispose()


def _backend_pid(db: Database) -> int:
    with db.engine.connect() as conn:
        return int(conn.scalar(text("SELECT pg_backend_pid()")) or 0)


def _cut_the_pooled_connection(pg: Database, postgres_url: str) -> int:
    """End the server side of the pool's one connection; its backend's pid."""
    pid = _backend_pid(pg)
    admin = Database(postgres_url)
    with admin.engine.connect() as conn:
        assert conn.scalar(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    admin.dispose()
    return pid


def test_a_connection_cut_while_idle_is_replaced_unseen(
    pg: Database, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(database, "IDLE_PING_SECONDS", 0.05)
    first = _cut_the_pooled_connection(pg, postgres_url)
    time.sleep(0.1)  # idle past the threshold: the next checkout pings
    assert _backend_pid(pg) not in (0, first)


def test_a_busy_connection_is_not_pinged_and_a_cut_is_an_outage(
    pg: Database, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(database, "IDLE_PING_SECONDS", 60.0)
    first = _cut_the_pooled_connection(pg, postgres_url)
    with pytest.raises(Exception) as failure:
        _backend_pid(pg)
    assert is_outage(failure.value)
    assert _backend_pid(pg) not in (0, first)  # the retry gets a fresh connection
