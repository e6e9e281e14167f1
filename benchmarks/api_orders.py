"""Orders pushed through the HTTP API, batched, against the direct core call in the same run.

Run: python -m benchmarks.api_orders [--orders 20000] [--batch 500] [--customers 5000]
     [--database-url postgresql://postgres@127.0.0.1/test]

Seeds customers with an email identity each, then records the same orders
twice, each time into its own fresh database: once by calling
`rapport.crm.value.order_batches.record_orders` directly (the baseline: the
least any push can cost), once as `POST /api/v1/orders/batch` requests with
an API key, through uvicorn and a real HTTP client (httpx) on loopback, one
request at a time. Nine orders in ten are for known customers, one in ten
creates a customer. Also measured: one order per request (`POST /api/v1/orders`),
the cost of an integration that does not batch. The issue's goal: ≥ 2,000
orders/s batched.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import uvicorn
from sqlalchemy import insert

from benchmarks.common import fresh_database, machine, result
from rapport.bot.api.app import build_api_app
from rapport.bot.api.deps import ApiDeps
from rapport.crm.database import Database
from rapport.crm.integrations.api_keys import create_api_key
from rapport.crm.models import Customer, Identity
from rapport.crm.settings import Settings
from rapport.crm.staff.audit import Actor
from rapport.crm.value.order_batches import OrderInput, record_orders

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def seed(db: Database, customers: int) -> None:
    """Customers c1@example.com … with an email identity each (ids from the database)."""
    c = Customer.__table__.c
    with db.transaction() as s:
        ids = (
            s.execute(
                insert(Customer.__table__).returning(c.id, sort_by_parameter_order=True),
                [
                    {
                        "display_name": f"C {i}",
                        "first_seen_channel": "email",
                        "created_at": NOW - timedelta(days=400),
                        "marketing_consent": False,
                    }
                    for i in range(1, customers + 1)
                ],
            )
            .scalars()
            .all()
        )
        s.execute(
            insert(Identity.__table__),
            [
                {"customer_id": cid, "channel": "email", "external_id": f"c{i}@example.com",
                 "created_at": NOW - timedelta(days=400)}
                for i, cid in enumerate(ids, start=1)
            ],
        )  # fmt: skip


def orders(count: int, customers: int, rng: random.Random) -> list[dict[str, Any]]:
    return [
        {
            "order_id": f"O-{n}",
            "customer": f"c{rng.randint(1, customers)}@example.com"
            if n % 10
            else f"new{n}@example.com",
            "amount": f"{rng.lognormvariate(3, 0.8):.2f}",
            "ordered_at": (NOW - timedelta(minutes=rng.randint(1, 500_000))).isoformat(),
        }
        for n in range(count)
    ]


def direct(db: Database, rows: list[dict[str, Any]], batch: int) -> float:
    started = time.perf_counter()
    for start in range(0, len(rows), batch):
        chunk = rows[start : start + batch]
        outcomes = record_orders(
            db,
            [OrderInput(r["order_id"], r["customer"], r["amount"], r["ordered_at"]) for r in chunk],
            now=NOW,
        )
        refused = [o.error for o in outcomes if o.error is not None]
        assert not refused, refused[:3]
    return time.perf_counter() - started


async def serve(db: Database) -> tuple[uvicorn.Server, asyncio.Task[None], str]:
    app = build_api_app(ApiDeps(db=db, settings=Settings(database_url=db.url), clock=lambda: NOW))
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    return server, task, f"http://127.0.0.1:{port}"


async def through_api(
    db: Database, rows: list[dict[str, Any]], batch: int, single: int
) -> tuple[float, float]:
    secret = create_api_key(db, Actor("bench"), name="bench", scope="manager").secret
    server, task, url = await serve(db)
    try:
        headers = {"Authorization": f"Bearer {secret}"}
        async with httpx.AsyncClient(base_url=url, headers=headers, timeout=120) as http:
            started = time.perf_counter()
            for start in range(0, len(rows), batch):
                answer = await http.post(
                    "/api/v1/orders/batch", json={"orders": rows[start : start + batch]}
                )
                answer.raise_for_status()
                assert answer.json()["refused"] == 0, answer.text
            batched = time.perf_counter() - started
            extra = [{**r, "order_id": f"S-{r['order_id']}"} for r in rows[:single]]
            started = time.perf_counter()
            for row in extra:
                (await http.post("/api/v1/orders", json=row)).raise_for_status()
            one_by_one = time.perf_counter() - started
    finally:
        server.should_exit = True
        await task
    return batched, one_by_one


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--customers", type=int, default=5_000)
    parser.add_argument("--single", type=int, default=500, help="orders sent one per request")
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    rows = orders(args.orders, args.customers, random.Random(7))
    print(f"# {machine()}; {args.orders} orders in batches of {args.batch}")
    with fresh_database(args.database_url) as db:
        seed(db, args.customers)
        baseline = direct(db, rows, args.batch)
    with fresh_database(args.database_url) as db:
        seed(db, args.customers)
        batched, one_by_one = asyncio.run(through_api(db, rows, args.batch, args.single))
    direct_rate = args.orders / baseline
    api_rate = args.orders / batched
    result("direct_record_orders", direct_rate, "orders/s")
    result("api_orders_batched", api_rate, "orders/s")
    result("api_orders_batched_ratio_to_direct", api_rate / direct_rate, "x")
    result("api_orders_one_per_request", args.single / one_by_one, "orders/s")
    result("api_goal_2000_per_s_met", float(api_rate >= 2000), "bool")


if __name__ == "__main__":
    main()
