"""The console's inbox and customer pages at scale, served by the real application.

Run: python -m benchmarks.console [--customers 100000] [--interactions 1000000]
     [--open 20000] [--requests 60] [--database-url URL]

Loads (untimed, Core bulk inserts) N customers with an email identity and
messages spread over them, a fifth of the customers with a conversation
(`--open` of them unresolved), a few saved segments and an agent. Then a
signed-in agent requests the inbox (its first page, 50 conversations, and
the "breaching" filter, which judges unresolved conversations until its page
is full) and random customers' pages through the FastAPI app in-process
(httpx's ASGI transport: the server's time, no network), `--requests` times
each. The baseline is a plain indexed read of the same rows: the page of
unresolved conversations with their customers (through the partial index
`ix_conversations_unresolved`, as the inbox reads it), and a customer's
latest 50 messages.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import insert, select

from benchmarks.common import customer_text, fresh_database, machine, result
from rapport.bot.web.app import build_web_app
from rapport.bot.web.console import COOKIE, Console
from rapport.bot.web.inbox import PAGE
from rapport.crm.clock import utcnow
from rapport.crm.database import Database
from rapport.crm.desk.inbox import unresolved
from rapport.crm.models import (
    Conversation,
    Customer,
    Identity,
    Interaction,
    Segment,
    StaffMember,
)
from rapport.crm.privacy.unsubscribe import links_from_settings
from rapport.crm.settings import load_settings
from rapport.crm.staff.sign_in import issue_link, redeem_link

NOW = utcnow().replace(microsecond=0)
BATCH = 20_000


def bulk(db: Database, table: Any, rows: list[dict[str, object]]) -> None:
    with db.engine.begin() as conn:
        for start in range(0, len(rows), BATCH):
            conn.execute(insert(table), rows[start : start + BATCH])


def load(db: Database, customers: int, interactions: int, open_: int, rng: random.Random) -> None:
    bulk(db, StaffMember.__table__, [
        {"id": 1, "name": "Agent", "role": "agent", "email": "a@shop.hk", "active": True,
         "created_at": NOW},
    ])  # fmt: skip
    bulk(db, Customer.__table__, [
        {"id": i, "display_name": f"Customer {i}", "first_seen_channel": "email",
         "created_at": NOW - timedelta(days=400),
         "last_activity_at": NOW - timedelta(hours=i % 900),
         "last_channel": "email", "marketing_consent": i % 3 == 0}
        for i in range(1, customers + 1)
    ])  # fmt: skip
    bulk(db, Identity.__table__, [
        {"id": i, "customer_id": i, "channel": "email", "external_id": f"c{i}@example.com",
         "display_name": f"Customer {i}", "created_at": NOW - timedelta(days=400)}
        for i in range(1, customers + 1)
    ])  # fmt: skip
    with_conversation = customers // 5
    conversations = []
    for i in range(1, with_conversation + 1):
        unresolved = i <= open_
        opened = NOW - timedelta(minutes=rng.randint(5, 60 * 24 * 20))
        conversations.append({
            "id": i, "customer_id": i, "channel": "email",
            "status": ("open" if i % 2 else "waiting") if unresolved else "resolved",
            "assigned_staff_id": 1 if i % 3 == 0 else None, "is_complaint": i % 20 == 0,
            "opened_at": opened, "last_message_at": opened + timedelta(minutes=3),
            "first_response_at": None if i % 2 else opened + timedelta(minutes=30),
            "resolved_at": None if unresolved else opened + timedelta(hours=5),
        })  # fmt: skip
    bulk(db, Conversation.__table__, conversations)
    rows: list[dict[str, object]] = []
    for n in range(1, interactions + 1):
        cid = (n % customers) + 1
        rows.append({
            "id": n, "customer_id": cid,
            "conversation_id": cid if cid <= with_conversation else None,
            "channel": "email", "direction": "in" if n % 3 else "out",
            "body": customer_text(rng), "polarity": rng.uniform(-1, 1), "automated": False,
            "message_key": f"<m{n}@example.com>",
            "sent_at": NOW - timedelta(minutes=(interactions - n) // 2 + 1), "recorded_at": NOW,
        })  # fmt: skip
        if len(rows) == BATCH:
            bulk(db, Interaction.__table__, rows)
            rows = []
    bulk(db, Interaction.__table__, rows)
    segments = {
        "consenting": ("marketing_consent", "==", True),
        "recent": ("last_activity_days", "<=", 7),
        "chatty": ("interactions", ">=", 12),
    }
    bulk(db, Segment.__table__, [
        {"name": name, "rule": json.dumps({"all": [{"field": f, "op": op, "value": v}]})}
        for name, (f, op, v) in segments.items()
    ])  # fmt: skip


async def timed(call: Callable[[], Awaitable[Any]], times: int) -> list[float]:
    took = []
    for _ in range(times):
        started = time.perf_counter()
        await call()
        took.append((time.perf_counter() - started) * 1000)
    return took


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1]


async def measure(db: Database, customers: int, requests: int, rng: random.Random) -> None:
    settings = load_settings(_env_file=None, database_url=db.url, web_port=1)
    links, _ = links_from_settings(settings, db)
    assert links is not None
    app = build_web_app(db, links, console=Console(db, settings))
    session = redeem_link(db, issue_link(db, 1)).session_token
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
        client.cookies.set(COOKIE, session)

        async def get(path: str) -> None:
            r = await client.get(path)
            assert r.status_code == 200, (path, r.status_code)

        async def inbox() -> None:
            await get("/console/inbox/rows")

        async def breaching() -> None:
            await get("/console/inbox/rows?show=breaching")

        async def customer() -> None:
            await get(f"/console/customers/{rng.randint(1, customers)}")

        await inbox()  # warm the caches once
        inbox_ms = await timed(inbox, requests)
        breaching_ms = await timed(breaching, max(requests // 4, 5))
        customer_ms = await timed(customer, requests)

    def plain_inbox() -> None:
        with db.session() as s:
            s.execute(
                select(Conversation, Customer.display_name)
                .join(Customer, Customer.id == Conversation.customer_id)
                .where(unresolved())
                .order_by(Conversation.last_message_at, Conversation.id)
                .limit(PAGE)
            ).all()

    def plain_customer() -> None:
        with db.session() as s:
            s.execute(
                select(Interaction)
                .where(Interaction.customer_id == rng.randint(1, customers))
                .order_by(Interaction.sent_at.desc())
                .limit(50)
            ).all()

    async def run(fn: Callable[[], None]) -> None:
        fn()

    base_inbox = await timed(lambda: run(plain_inbox), requests)
    base_customer = await timed(lambda: run(plain_customer), requests)
    print(
        f"inbox p50 {statistics.median(inbox_ms):.1f} ms p95 {p95(inbox_ms):.1f} ms "
        f"(plain read p95 {p95(base_inbox):.1f} ms); breaching p95 {p95(breaching_ms):.1f} ms; "
        f"customer p50 {statistics.median(customer_ms):.1f} ms p95 {p95(customer_ms):.1f} ms "
        f"(plain read p95 {p95(base_customer):.1f} ms)"
    )
    result("console_inbox_p95", p95(inbox_ms), "ms")
    result("console_inbox_vs_plain_read", p95(inbox_ms) / p95(base_inbox), "ratio")
    result("console_inbox_breaching_p95", p95(breaching_ms), "ms")
    result("console_customer_p95", p95(customer_ms), "ms")
    result("console_customer_vs_plain_read", p95(customer_ms) / p95(base_customer), "ratio")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--interactions", type=int, default=1_000_000)
    parser.add_argument("--open", type=int, default=20_000)
    parser.add_argument("--requests", type=int, default=60)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    print(
        f"machine: {machine()}; {args.customers} customers, {args.interactions} interactions, "
        f"{args.open} open conversations"
    )
    rng = random.Random(21)
    with fresh_database(args.database_url) as db:
        started = time.perf_counter()
        load(db, args.customers, args.interactions, args.open, rng)
        print(f"loaded in {time.perf_counter() - started:.0f} s")
        asyncio.run(measure(db, args.customers, args.requests, rng))


if __name__ == "__main__":
    main()
