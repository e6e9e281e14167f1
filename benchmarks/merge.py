"""How long a customer merge (a /link confirmation) holds its transaction.

Run: python -m benchmarks.merge [--customers 20000] [--history 5000] [--runs 50]
     [--database-url postgresql://postgres@127.0.0.1/test]

Seeds a shop of `--customers` customers with a few messages each (so the
indexes have a realistic size), then two customers who are one person, each
with `--history` messages, points entries and a delivery in each of `--runs`
campaign runs both got (so every run folds). Times `merge_customers` of the
two, which moves every row in one transaction: the time the chat waits for
"now linked" and the time the rows stay locked.
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import insert

from benchmarks.common import fresh_database, machine, result
from rapport.crm.campaigns.definitions import CampaignSpec, create_campaign
from rapport.crm.customers.merge import merge_customers
from rapport.crm.database import Database
from rapport.crm.models import CampaignRun, Customer, Delivery, Identity, Interaction, PointsEntry
from rapport.crm.segments.saved import create_segment
from rapport.crm.staff.audit import Actor

T0 = datetime(2026, 1, 1, tzinfo=UTC)
CHUNK = 20_000


def _insert(db: Database, table: object, rows: list[dict[str, object]]) -> None:
    with db.transaction() as s:
        for start in range(0, len(rows), CHUNK):
            s.execute(insert(table), rows[start : start + CHUNK])  # type: ignore[arg-type]


def seed(db: Database, customers: int, history: int, runs: int) -> tuple[int, int]:
    total = customers + 2
    _insert(
        db,
        Customer.__table__,
        [
            {"id": i, "first_seen_channel": "email", "created_at": T0, "marketing_consent": False}
            for i in range(1, total + 1)
        ],
    )
    _insert(
        db,
        Identity.__table__,
        [
            {
                "customer_id": i,
                "channel": "email",
                "external_id": f"c{i}@example.com",
                "created_at": T0,
            }
            for i in range(1, total + 1)
        ],
    )
    messages = [
        {
            "customer_id": i,
            "channel": "email",
            "direction": "in",
            "body": "hello",
            "message_key": f"<{i}-{k}@x>",
            "sent_at": T0 + timedelta(minutes=k),
            "recorded_at": T0,
        }
        for i in range(1, customers + 1)
        for k in range(3)
    ]
    keep, absorb = customers + 1, customers + 2
    for who in (keep, absorb):
        messages += [
            {
                "customer_id": who,
                "channel": "email",
                "direction": "in",
                "body": "hi",
                "message_key": f"<{who}-{k}@x>",
                "sent_at": T0 + timedelta(minutes=k),
                "recorded_at": T0,
            }
            for k in range(history)
        ]
    _insert(db, Interaction.__table__, messages)
    create_segment(db, "everyone", {"all": []})
    campaign = create_campaign(
        db, CampaignSpec(name="News", kind="announcement", segment="everyone", template="Hi")
    )
    _insert(
        db,
        CampaignRun.__table__,
        [
            {
                "id": r,
                "campaign_id": campaign.id,
                "scheduled_for": T0 + timedelta(days=r),
                "started_at": T0,
            }
            for r in range(1, runs + 1)
        ],
    )
    _insert(
        db,
        Delivery.__table__,
        [
            {
                "run_id": r,
                "campaign_id": campaign.id,
                "customer_id": who,
                "status": "sent",
                "attempts": 1,
                "created_at": T0,
            }
            for r in range(1, runs + 1)
            for who in (keep, absorb)
        ],
    )
    _insert(
        db,
        PointsEntry.__table__,
        [
            {"customer_id": who, "delta": 10, "reason": "order", "created_at": T0}
            for who in (keep, absorb)
            for _ in range(history // 10)
        ],
    )
    return keep, absorb


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--history", type=int, default=5_000)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    with fresh_database(args.database_url) as db:
        keep, absorb = seed(db, args.customers, args.history, args.runs)
        started = time.perf_counter()
        merged = merge_customers(db, keep, absorb, Actor("bench"))
        elapsed = time.perf_counter() - started
        print(f"{db.dialect} on {machine()}")
        print(
            f"merged {merged.interactions} messages, {args.history // 10} points entries and "
            f"{args.runs} runs ({merged.deliveries_folded} folded) into a shop of "
            f"{args.customers:,} customers in {elapsed * 1000:.0f} ms"
        )
        result("merge_time", elapsed * 1000, "ms")
        result("merge_rows", merged.interactions / elapsed, "messages/s")


if __name__ == "__main__":
    main()
