"""A batch of orders (the API's push) decides as the CSV import does, set-based."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import func, select

from rapport.crm.database import Database
from rapport.crm.models import Customer, Order, PointsEntry
from rapport.crm.value.order_batches import OrderInput, record_orders
from rapport.crm.value.orders import import_orders, orders_from_text

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
CSV = "customer,amount,currency,date,order_id\nann@example.com,10.50,EUR,2026-10-01,A-1\n"


def test_a_batch_shares_the_imports_idempotency_both_ways(db: Database) -> None:
    import_orders(db, orders_from_text(CSV), now=NOW)
    batch = [
        OrderInput("A-1", "ann@example.com", "10.50", "2026-10-01"),  # imported before
        OrderInput("A-1", "ann@example.com", "99", "2026-10-01"),  # same id, other amount
        OrderInput("N-1", "new@example.com", "5", "2026-11-01", name="Nel"),
        OrderInput("N-2", "New@Example.com", "7", "2026-11-02"),
        OrderInput("N-1", "new@example.com", "5", "2026-11-01"),  # repeated in the batch
        OrderInput("N-3", "new@example.com", "6", "2026-11-01"),
        OrderInput("N-3", "new@example.com", "8", "2026-11-01"),  # repeated, other amount
        OrderInput("T-1", "telegram:555", "5", "2026-11-01"),  # nobody has that chat
        OrderInput("", "new@example.com", "5", "2026-11-01"),
    ]
    out = record_orders(db, batch, now=NOW)
    assert [o.duplicate for o in out] == [
        True,
        False,
        False,
        False,
        True,
        False,
        False,
        False,
        False,
    ]
    assert [o.error is None for o in out] == [
        True,
        False,
        True,
        True,
        True,
        True,
        False,
        False,
        False,
    ]
    assert "already recorded with other details" in (out[1].error or "")
    assert "already recorded with other details" in (out[6].error or "")
    assert "only email addresses create new customers" in (out[7].error or "")
    assert out[4].order_id == out[2].order_id and out[4].points == 0
    assert [o.new_customer for o in out[2:4]] == [True, False]
    assert out[2].customer_id == out[3].customer_id == out[5].customer_id
    assert (out[2].points, out[3].points) == (5, 7)

    again = record_orders(db, batch, now=NOW)
    assert [o.order_id for o in again if o.duplicate] == [out[i].order_id for i in (0, 2, 3, 4, 5)]
    text = "customer,amount,currency,date,order_id\nnew@example.com,5,EUR,2026-11-01,N-1\n"
    report = import_orders(db, orders_from_text(text), now=NOW)
    assert (report.imported, report.duplicates) == (0, 1)
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Order)) == 4
        assert s.scalar(select(func.count()).select_from(PointsEntry)) == 4
        assert (
            s.scalar(select(Customer.display_name).where(Customer.id == out[2].customer_id))
            == "Nel"
        )
