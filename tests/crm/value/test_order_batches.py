"""A batch of orders (the API's push) decides as the CSV import does, set-based."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import func, select

from rapport.crm.database import Database
from rapport.crm.models import Customer, Identity, Order, PointsEntry
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


def test_each_order_and_new_customer_gets_its_own_ids_in_a_large_batch(db: Database) -> None:
    """The inserts return ids for many rows at once (unnest on PostgreSQL, a multi-row
    RETURNING on SQLite): every reported id must be that order's and that customer's."""
    import_orders(db, orders_from_text(CSV), now=NOW)
    batch = [
        OrderInput(f"K-{n:03}", f"p{n % 40}@example.com", f"{n + 1}.25", "2026-11-01",
                   name=f"Person {n % 40}")
        for n in range(300)
    ] + [OrderInput("K-ann", "ann@example.com", "3", "2026-11-02")]  # fmt: skip
    out = record_orders(db, batch, now=NOW)
    assert all(o.error is None and not o.duplicate for o in out)
    assert sum(o.new_customer for o in out) == 40
    with db.session() as s:
        orders = {
            r.id: r
            for r in s.execute(
                select(Order.id, Order.order_key, Order.amount_minor, Order.customer_id)
            )
        }
        names = dict(s.execute(select(Customer.id, Customer.display_name)).all())
        owners = dict(s.execute(select(Identity.external_id, Identity.customer_id)).all())
        points = dict(s.execute(select(PointsEntry.order_id, PointsEntry.customer_id)).all())
    for n, (order, o) in enumerate(zip(batch[:300], out, strict=False)):
        row = orders[o.order_id or 0]
        assert (row.order_key, row.amount_minor, row.customer_id) == (
            order.order_key, (n + 1) * 100 + 25, o.customer_id,
        )  # fmt: skip
        assert owners[order.customer] == o.customer_id
        assert names[o.customer_id or 0] == f"Person {n % 40}"
        assert points[o.order_id] == o.customer_id
    assert out[-1].customer_id == owners["ann@example.com"] and not out[-1].new_customer
