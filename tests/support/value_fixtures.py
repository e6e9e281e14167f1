"""A small shop with hand-computed values (see the table in test_value.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from rapport.crm.database import Database
from rapport.crm.value.orders import record_order

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)

# customer: [(days ago, amount), ...]
SHOP: dict[str, list[tuple[int, str]]] = {
    "c1@example.com": [(200, "50")],
    "c2@example.com": [(150, "10"), (90, "10")],
    "c3@example.com": [(100, "100"), (70, "100"), (40, "100")],
    "c4@example.com": [(80, "6"), (60, "6"), (40, "6"), (20, "6")],
    "c5@example.com": [(50, "20"), (40, "20"), (30, "20"), (20, "20"), (10, "20")],
}


def seed_shop(db: Database, now: datetime = NOW) -> dict[str, int]:
    """Record the shop's orders; returns customer ids by short name (c1…c5)."""
    ids: dict[str, int] = {}
    for address, orders in SHOP.items():
        for n, (days, amount) in enumerate(orders):
            result = record_order(
                db,
                order_key=f"{address}-{n}",
                customer=address,
                amount=amount,
                ordered_at=now - timedelta(days=days),
                now=now,
            )
            ids[address.split("@")[0]] = result.customer_id
    return ids
