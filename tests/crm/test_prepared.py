"""Statements on the driver's cursor behave as through SQLAlchemy: types, errors, transaction."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import bindparam, exc, insert, select, update

from rapport.crm.database import Database
from rapport.crm.models import Customer, UtcDateTime
from rapport.crm.prepared import Inserting, Prepared

T0 = datetime(2026, 11, 1, 9, 30, tzinfo=UTC)
c = Customer.__table__.c

_SEEN = Prepared(
    select(c.id, c.last_activity_at, c.marketing_consent).where(
        c.id.in_(bindparam("ids", expanding=True)),
        c.last_activity_at >= bindparam("since", type_=UtcDateTime()),
    )
)
_TOUCH = Prepared(
    update(Customer.__table__)
    .where(c.id == bindparam("cid"))
    .values(last_activity_at=bindparam("at", type_=UtcDateTime()))
)
_BREAK = Prepared(
    update(Customer.__table__).where(c.id == bindparam("cid")).values(first_seen_channel=None)
)


def _customer(db: Database) -> int:
    with db.engine.begin() as conn:
        return int(
            conn.execute(
                insert(Customer.__table__).returning(c.id),
                {"first_seen_channel": "email", "created_at": T0, "marketing_consent": True},
            ).scalar_one()
        )


def test_parameters_and_rows_go_through_the_column_types(db: Database) -> None:
    cid = _customer(db)
    with db.engine.begin() as conn:
        _TOUCH.execute(conn, {"cid": cid, "at": T0})
        rows = _SEEN.rows(conn, {"ids": [cid, cid + 1], "since": T0})
    assert rows == [(cid, T0, True)]
    assert rows[0][1].tzinfo is not None
    with db.engine.connect() as conn:  # committed with the caller's transaction
        assert _SEEN.rows(conn, {"ids": [cid], "since": T0}) == [(cid, T0, True)]


def test_a_driver_error_is_sqlalchemys_and_the_transaction_rolls_back(db: Database) -> None:
    cid = _customer(db)
    with pytest.raises(exc.IntegrityError), db.engine.begin() as conn:
        _TOUCH.execute(conn, {"cid": cid, "at": T0})
        _BREAK.execute(conn, {"cid": cid})
    with db.engine.connect() as conn:
        assert _SEEN.rows(conn, {"ids": [cid], "since": T0}) == []


def test_the_ingest_statements_run_on_the_cursor_on_both_databases(db: Database) -> None:
    """None of them falls back to SQLAlchemy's execution (a column default left unnamed)."""
    from rapport.crm.interactions import routing, storage

    statements = [
        storage._SENDERS[db.dialect == "postgresql"],
        storage._TOUCH_CUSTOMER,
        storage._TOUCH_CONVERSATION,
        storage._NEW_CUSTOMER.one,
        storage._NEW_IDENTITY.one,
        storage._NEW_INTERACTION.one,
        routing._OPEN.one,
    ]
    assert [s.fallback(db.engine.dialect) for s in statements] == [False] * len(statements)


def test_a_statement_with_python_defaults_goes_through_sqlalchemy(db: Database) -> None:
    """A Python-side default only SQLAlchemy fills in: such a statement is not run raw."""
    partial = Prepared(
        insert(Customer.__table__).values(first_seen_channel="email").returning(c.id)
    )
    assert partial.fallback(db.engine.dialect)
    with db.engine.begin() as conn:
        [(cid,)] = partial.rows(conn, {})
    with db.engine.connect() as conn:
        row = conn.execute(select(c.created_at, c.marketing_consent).where(c.id == cid)).one()
    assert row.created_at is not None and row.marketing_consent is False


_NEW = Inserting(
    Customer.__table__,
    ["first_seen_channel", "last_activity_at", "created_at", "marketing_consent"],
    c.id,
)


def test_a_batch_inserts_on_the_cursor_returning_ids_in_the_rows_order(db: Database) -> None:
    """Several rows: each id is its own row's, and the values went through the column types."""
    rows = [
        {
            "first_seen_channel": channel,
            "last_activity_at": T0 + timedelta(minutes=n),
            "created_at": T0,
            "marketing_consent": n % 2 == 0,
        }
        for n, channel in enumerate(["email", "telegram", "email", "web", "telegram"])
    ]
    with db.engine.begin() as conn:
        assert _NEW.one.returning_many(conn, rows) is not None  # the cursor, not SQLAlchemy
    with db.engine.begin() as conn:
        ids = _NEW.ids(conn, rows)
    assert len(set(ids)) == len(rows)
    with db.engine.connect() as conn:
        stored = {
            r.id: (r.first_seen_channel, r.last_activity_at, r.marketing_consent)
            for r in conn.execute(select(c.id, c.first_seen_channel, c.last_activity_at,
                                         c.marketing_consent).where(c.id.in_(ids)))
        }  # fmt: skip
    assert [stored[i] for i in ids] == [
        (r["first_seen_channel"], r["last_activity_at"], r["marketing_consent"]) for r in rows
    ]


def test_a_batch_update_on_the_cursor_and_its_errors(db: Database) -> None:
    """executemany on the cursor: every row updated; a failing row is SQLAlchemy's error and
    the caller's transaction keeps nothing of the batch."""
    first, second = _customer(db), _customer(db)
    later = T0 + timedelta(days=1)
    with db.engine.begin() as conn:
        _TOUCH.execute_many(conn, [{"cid": first, "at": later}, {"cid": second, "at": later}])
    with db.engine.connect() as conn:
        assert _SEEN.rows(conn, {"ids": [first, second], "since": later}) == [
            (first, later, True),
            (second, later, True),
        ]
    with pytest.raises(exc.IntegrityError), db.engine.begin() as conn:
        _TOUCH.execute_many(conn, [{"cid": first, "at": T0}, {"cid": second, "at": T0}])
        _BREAK.execute_many(conn, [{"cid": first}, {"cid": second}])
    with db.engine.connect() as conn:
        assert len(_SEEN.rows(conn, {"ids": [first, second], "since": later})) == 2


def test_a_batch_insert_refused_by_a_unique_key_is_sqlalchemys_error(db: Database) -> None:
    """A race on a unique key inside a batch (pipelined on psycopg): the IntegrityError that
    ingest retries on, nothing of the batch kept, the pool's connection usable after."""
    from rapport.crm.interactions import storage

    cid = _customer(db)
    row = {
        "customer_id": cid,
        "channel": "email",
        "external_id": "race@example.com",
        "display_name": None,
        "created_at": T0,
        "soft_bounces": 0,
    }
    with pytest.raises(exc.IntegrityError), db.engine.begin() as conn:
        storage._NEW_IDENTITY.ids(conn, [row, {**row, "display_name": "Twice"}])
    with db.engine.begin() as conn:
        [only] = storage._NEW_IDENTITY.ids(conn, [row])
        assert isinstance(only, int)
