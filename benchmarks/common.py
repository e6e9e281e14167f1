"""Helpers shared by the benchmark scripts: fresh databases, machine facts, RESULT lines."""

from __future__ import annotations

import os
import platform
import random
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from crm.database import Database, normalise_url, upgrade

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
