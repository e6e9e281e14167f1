"""Customer value recomputation against a plain aggregate over the same orders.

Run: python -m benchmarks.value [--customers 100000] [--orders 1000000]
     [--database-url postgresql://postgres@127.0.0.1/test]

Seeds customers, one email identity each, orders spread over two years
(lognormal amounts, customers with very different rhythms), a fifth of the
customers with a few inbound messages, and points for every order; then
times `recompute_values` (RFM ranks, churn risk, predicted value, engagement,
loyalty tiers, and the rewrite of `customer_values`). The baseline is one
``SELECT customer_id, count(*), sum(amount), min(date), max(date) … GROUP BY
customer_id`` over the same orders, fetched in full: the least any value
computation must read.
"""

from __future__ import annotations

import argparse
import random
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, insert, select

from benchmarks.common import fresh_database, machine, result
from rapport.crm.database import Database
from rapport.crm.models import Customer, Identity, Interaction, Order, PointsEntry
from rapport.crm.value.scores import recompute_values

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
SPAN_DAYS = 730
CHUNK = 20_000


def _chunks(rows: list[dict[str, object]]):  # type: ignore[no-untyped-def]
    for start in range(0, len(rows), CHUNK):
        yield rows[start : start + CHUNK]


def seed(db: Database, customers: int, orders: int, seed: int = 11) -> None:
    rng = random.Random(seed)
    start = NOW - timedelta(days=SPAN_DAYS)
    with db.transaction() as s:
        people = [
            {
                "id": i,
                "display_name": f"Customer {i}",
                "first_seen_channel": "email",
                "created_at": start,
                "marketing_consent": i % 3 == 0,
            }
            for i in range(1, customers + 1)
        ]
        for part in _chunks(people):
            s.execute(insert(Customer.__table__), part)
        for part in _chunks(
            [
                {"customer_id": i, "channel": "email", "external_id": f"c{i}@example.com",
                 "created_at": start}
                for i in range(1, customers + 1)
            ]
        ):  # fmt: skip
            s.execute(insert(Identity.__table__), part)
    # Heavy-tailed: some customers order often, most rarely.
    weights = [rng.paretovariate(1.2) for _ in range(customers)]
    buyers = rng.choices(range(1, customers + 1), weights=weights, k=orders)
    order_rows = []
    point_rows = []
    for n, who in enumerate(buyers, start=1):
        when = start + timedelta(seconds=rng.randrange(SPAN_DAYS * 86400))
        amount = max(100, int(rng.lognormvariate(8, 0.8)))
        order_rows.append(
            {"id": n, "customer_id": who, "order_key": f"o{n}", "amount_minor": amount,
             "currency": "EUR", "ordered_at": when, "source": "bench", "imported_at": NOW}
        )  # fmt: skip
        point_rows.append(
            {"customer_id": who, "delta": amount // 100, "reason": f"order o{n}",
             "order_id": n, "created_at": when}
        )  # fmt: skip
    messages = [
        {"customer_id": who, "channel": "email", "direction": "in", "body": "hello",
         "polarity": rng.uniform(-1, 1), "automated": False, "message_key": f"m{who}-{k}",
         "sent_at": NOW - timedelta(days=rng.randrange(120)), "recorded_at": NOW}
        for who in range(1, customers + 1, 5)
        for k in range(3)
    ]  # fmt: skip
    with db.transaction() as s:
        for table, rows in (
            (Order.__table__, order_rows),
            (PointsEntry.__table__, point_rows),
            (Interaction.__table__, messages),
        ):
            for part in _chunks(rows):
                s.execute(insert(table), part)


def baseline(db: Database) -> int:
    o = Order.__table__.c
    with db.session() as s:
        rows = s.execute(
            select(
                o.customer_id,
                func.count(),
                func.sum(o.amount_minor),
                func.min(o.ordered_at),
                func.max(o.ordered_at),
            ).group_by(o.customer_id)
        ).all()
    return len(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    print(f"machine: {machine()}")
    with fresh_database(args.database_url) as db:
        print(f"database: {db.dialect}; seeding {args.customers} customers, {args.orders} orders")
        t = time.perf_counter()
        seed(db, args.customers, args.orders)
        print(f"seeded in {time.perf_counter() - t:.1f} s")

        t = time.perf_counter()
        buyers = baseline(db)
        base = time.perf_counter() - t
        print(f"baseline aggregate: {buyers} buyers in {base:.2f} s")

        timings = []
        for _ in range(2):  # the second run also carries tiers forward from the first
            t = time.perf_counter()
            stats = recompute_values(db, NOW)
            timings.append(time.perf_counter() - t)
        best = min(timings)
        print(
            f"recompute_values: {stats.customers} customers, {stats.with_orders} with orders; "
            f"runs {', '.join(f'{x:.2f} s' for x in timings)}"
        )
    result(f"value_recompute_seconds_{db.dialect}", best, "s")
    result(f"value_recompute_rate_{db.dialect}", stats.customers / best, "customers/s")
    result(f"value_vs_aggregate_{db.dialect}", best / base, "ratio")


if __name__ == "__main__":
    main()
