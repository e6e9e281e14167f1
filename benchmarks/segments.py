"""Segment evaluation speed: a realistic rule counted in SQL over many customers.

Run: python -m benchmarks.segments [--customers 20000]
     [--database-url postgresql://postgres@127.0.0.1/test]

`segment_rate` is customers evaluated per second when counting the members
of a composite rule (tag, reachable channel, last activity, average
sentiment, points, inbound message count, consent) with `rule_condition`;
`simple_segment_rate` the same for one tag; `segment_vs_scan` divides the
time of a plain ``SELECT count(*) FROM customers WHERE marketing_consent``
(the floor: one pass over the table) by the composite rule's time.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, insert, select

from benchmarks.common import fresh_database, machine, result
from rapport.crm.database import Database
from rapport.crm.models import Customer, CustomerTag, Identity, Interaction, PointsEntry
from rapport.crm.segments.compilation import rule_condition
from rapport.crm.segments.rules import describe, parse_rule

NOW = datetime(2026, 11, 20, tzinfo=UTC)

COMPOSITE = {
    "all": [
        {
            "any": [
                {"field": "tag", "op": "has", "value": "vip"},
                {"field": "points", "op": ">=", "value": 100},
            ]
        },
        {"field": "channel", "op": "has", "value": "email"},
        {"field": "last_activity_days", "op": "<=", "value": 90},
        {"not": {"field": "avg_sentiment", "op": "<", "value": 0}},
        {"field": "interactions", "op": ">=", "value": 2},
        {"field": "marketing_consent", "op": "==", "value": True},
    ]
}
SIMPLE = {"field": "tag", "op": "has", "value": "vip"}


def populate(db: Database, customers: int, seed: int = 11) -> None:
    rng = random.Random(seed)
    people, identities, tags, messages, points = [], [], [], [], []
    for cid in range(1, customers + 1):
        people.append(
            {
                "id": cid,
                "display_name": f"Customer {cid}",
                "created_at": NOW - timedelta(days=rng.randint(1, 700)),
                "first_seen_channel": rng.choice(["email", "telegram"]),
                "last_channel": rng.choice(["email", "telegram"]),
                "last_activity_at": NOW - timedelta(hours=rng.randint(1, 24 * 365)),
                "marketing_consent": rng.random() < 0.6,
            }
        )
        identities.append(
            {
                "customer_id": cid,
                "channel": "email",
                "external_id": f"c{cid}@example.com",
                "created_at": NOW,
                "unreachable_at": NOW if rng.random() < 0.05 else None,
            }
        )
        if rng.random() < 0.5:
            identities.append(
                {
                    "customer_id": cid,
                    "channel": "telegram",
                    "external_id": str(cid),
                    "created_at": NOW,
                }
            )
        tags += [
            {"customer_id": cid, "tag": t} for t in ("vip", "new", "b2b") if rng.random() < 0.2
        ]
        for _ in range(rng.randint(0, 8)):
            messages.append(
                {
                    "customer_id": cid,
                    "channel": "email",
                    "direction": rng.choice(["in", "in", "out"]),
                    "polarity": rng.choice([None, rng.uniform(-1, 1)]),
                    "sent_at": NOW - timedelta(days=rng.randint(1, 365)),
                    "recorded_at": NOW,
                }
            )
        points += [
            {
                "customer_id": cid,
                "delta": rng.randint(-20, 80),
                "reason": "bench",
                "created_at": NOW,
            }
            for _ in range(rng.randint(0, 4))
        ]
    with db.transaction() as session:
        for model, rows in (
            (Customer, people),
            (Identity, identities),
            (CustomerTag, tags),
            (Interaction, messages),
            (PointsEntry, points),
        ):
            session.execute(insert(model), rows)
    if db.dialect == "postgresql":
        with db.engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE")


def best_time(fn: Callable[[], int], repeat: int = 5) -> tuple[float, int]:
    times, value = [], 0
    for _ in range(repeat):
        start = time.perf_counter()
        value = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), value


def counter(db: Database, where: object) -> Callable[[], int]:
    query = select(func.count()).select_from(Customer.__table__).where(where)

    def run() -> int:
        with db.session() as session:
            return session.scalar(query) or 0

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    with fresh_database(args.database_url) as db:
        print(f"{machine()}; {db.dialect}; {args.customers} customers")
        populate(db, args.customers)
        composite, simple = parse_rule(COMPOSITE), parse_rule(SIMPLE)
        print(f"rule: {describe(composite)}")
        scan_t, consenting = best_time(counter(db, Customer.__table__.c.marketing_consent))
        simple_t, n_simple = best_time(counter(db, rule_condition(simple, NOW)))
        comp_t, n_comp = best_time(counter(db, rule_condition(composite, NOW)))
        print(f"scan: {consenting} consenting in {scan_t * 1000:.1f} ms")
        print(f"simple rule: {n_simple} members in {simple_t * 1000:.1f} ms")
        print(f"composite rule: {n_comp} members in {comp_t * 1000:.1f} ms")
        result("segment_rate", args.customers / comp_t, "customers/s")
        result("simple_segment_rate", args.customers / simple_t, "customers/s")
        result("segment_vs_scan", scan_t / comp_t, "ratio")


if __name__ == "__main__":
    main()
