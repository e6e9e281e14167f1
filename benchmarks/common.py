"""Helpers shared by the benchmark scripts: fresh databases, machine facts, RESULT lines."""

from __future__ import annotations

import os
import platform
import random
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import create_engine, insert, text
from sqlalchemy.engine import make_url

from rapport.crm.database import Database, normalise_url
from rapport.crm.models import Consent, Customer, Identity
from rapport.migrations.schema import upgrade

LOADED_AT = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)

POSITIVE = ["great", "excellent", "lovely", "fast", "helpful", "amazing", "perfect", "friendly"]
NEGATIVE = ["late", "broken", "terrible", "rude", "slow", "wrong", "awful", "disappointing"]
TOPICS = ["delivery", "order", "refund", "service", "staff", "app", "invoice", "store"]
TEMPLATES = [
    "Hi, my {topic} was {word}, thank you",
    "The {topic} is {word} again and I am still waiting",
    "Can you check my {topic} number {n}? It was {word}",
    "{word} {topic}! I will come back",
    "Why is the {topic} so {word}? Order {n}",
    "Thanks for the {word} {topic}, see you soon",
]


def customer_text(rng: random.Random) -> str:
    """A short, varied customer message, so sentiment cannot be cached across rows."""
    return rng.choice(TEMPLATES).format(
        topic=rng.choice(TOPICS), word=rng.choice(POSITIVE + NEGATIVE), n=rng.randint(1000, 99999)
    )


def result(name: str, value: float, unit: str) -> None:
    print(f"RESULT {name} {value:.4g} {unit}", flush=True)


def machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


@contextmanager
def fresh_database(url: str | None, prefix: str = "rapport_bench_") -> Iterator[Database]:
    """A new, migrated database: a temp SQLite file, or a scratch PostgreSQL database.

    The PostgreSQL database is named `prefix` + a random suffix and dropped
    afterwards, so concurrent runs on one server can tell theirs apart.
    """
    if url is None or url.startswith("sqlite"):
        with tempfile.TemporaryDirectory() as tmp:
            db = Database(f"sqlite:///{Path(tmp) / 'bench.db'}")
            upgrade(db)
            yield db
            db.dispose()
        return
    admin_url = normalise_url(url)
    name = f"{prefix}{uuid.uuid4().hex[:10]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        db = Database(make_url(admin_url).set(database=name).render_as_string(False))
        upgrade(db)
        yield db
        db.dispose()
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def address(i: int) -> str:
    return f"r{i}@example.com"


FIRST_NAMES = ("Ann", "Zoë", "José", "Björn", "Maria", "Tom", "Aiko", "Liam", "Noor", "Sam")


def customer_name(i: int) -> str:
    """Customer i's own name, so a campaign that greets by first name writes each
    customer a text of their own (as a real one does; no two mails share a body)."""
    return f"{FIRST_NAMES[i % len(FIRST_NAMES)]}{i} Example"


def load_consenting_customers(
    db: Database,
    n: int,
    *,
    channel: str = "email",
    external: Callable[[int], str] = address,
    first_id: int = 1,
) -> None:
    """N consenting customers (ids from `first_id`), each with one identity on `channel`.

    Set-based Core inserts: 20,000 customers through `ingest` would take minutes
    and measure ingest, not what the caller wants to measure.
    """
    batch = 5_000
    with db.engine.begin() as conn:
        for start in range(first_id, first_id + n, batch):
            ids = range(start, min(first_id + n, start + batch))
            conn.execute(
                insert(Customer.__table__),
                [
                    {
                        "id": i,
                        "display_name": customer_name(i),
                        "first_seen_channel": channel,
                        "last_channel": channel,
                        "last_activity_at": LOADED_AT,
                        "created_at": LOADED_AT - timedelta(days=30),
                        "marketing_consent": True,
                    }
                    for i in ids
                ],
            )
            conn.execute(
                insert(Identity.__table__),
                [
                    {
                        "customer_id": i,
                        "channel": channel,
                        "external_id": external(i),
                        "created_at": LOADED_AT - timedelta(days=30),
                    }
                    for i in ids
                ],
            )
            conn.execute(
                insert(Consent.__table__),
                [
                    {
                        "customer_id": i,
                        "channel": channel,
                        "purpose": "marketing",
                        "granted": True,
                        "source": "test",
                        "updated_at": LOADED_AT - timedelta(days=30),
                    }
                    for i in ids
                ],
            )
        if db.dialect == "postgresql":  # explicit ids leave the sequence behind; and plan well
            conn.exec_driver_sql(
                "SELECT setval(pg_get_serial_sequence('customers', 'id'), "
                "(SELECT max(id) FROM customers))"
            )
            conn.exec_driver_sql("ANALYZE customers, identities, consents")
