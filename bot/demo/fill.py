"""Writing the demo database: one bulk insert per table, then what the jobs would derive.

Rows go in with multi-row inserts per table (no ORM objects), so 10,000
customers take seconds; then who wrote back after a campaign and the customer
values are computed as ingest and the daily job would have left them.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select, text

from rapport.bot.demo.draw import Builder
from rapport.bot.demo.guard import DEMO_MARKER, check_target, wipe
from rapport.crm.clock import utcnow
from rapport.crm.database import Database
from rapport.crm.errors import InvalidInput
from rapport.crm.interactions.engagement import recompute_wrote_back
from rapport.crm.models import (
    AuditEvent,
    Campaign,
    CampaignRun,
    Consent,
    Conversation,
    Customer,
    CustomerTag,
    Delivery,
    Identity,
    Interaction,
    Order,
    PointsEntry,
    Segment,
    SurveyResponse,
)
from rapport.crm.value.loyalty import parse_tiers
from rapport.crm.value.scores import recompute_values

MAX_CUSTOMERS = 1_000_000
CHUNK = 2_000

Progress = Callable[[str, int], None]
"""(stage description, steps done in it) — the CLI draws a progress bar from it."""

STAGES = 7
"""How many times `fill_demo` reports progress (one per stage)."""


@dataclass(frozen=True, slots=True)
class DemoStats:
    customers: int
    identities: int
    orders: int
    conversations: int
    interactions: int
    campaigns: int
    deliveries: int
    survey_answers: int


_TABLES: tuple[tuple[str, Any], ...] = (
    ("customers", Customer),
    ("tags", CustomerTag),
    ("identities", Identity),
    ("consents", Consent),
    ("orders", Order),
    ("points", PointsEntry),
    ("conversations", Conversation),
    ("interactions", Interaction),
    ("segments", Segment),
    ("campaigns", Campaign),
    ("runs", CampaignRun),
    ("deliveries", Delivery),
    ("responses", SurveyResponse),
)


def _chunks(rows: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    for start in range(0, len(rows), CHUNK):
        yield rows[start : start + CHUNK]


def _bump_sequences(db: Database) -> None:
    """PostgreSQL: move each id sequence past the ids we chose, so later inserts do not clash."""
    if db.dialect != "postgresql":
        return
    with db.transaction() as session:
        for _, model in _TABLES:
            table = model.__table__
            if "id" not in table.c or not table.c.id.autoincrement:
                continue
            session.execute(
                text(
                    f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                    f"COALESCE((SELECT MAX(id) FROM {table.name}), 0) + 1, false)"
                )
            )


def fill_demo(
    db: Database,
    customers: int,
    *,
    seed: int = 1,
    now: datetime | None = None,
    currency: str = "EUR",
    points_per_currency_unit: float = 1.0,
    loyalty_tiers: str = "silver:500,gold:2000",
    progress: Progress | None = None,
) -> DemoStats:
    """Fill an empty or demo database (already migrated) with `customers` demo customers.

    Refuses (Conflict) a database holding real data; replaces earlier demo data.
    """
    if not 1 <= customers <= MAX_CUSTOMERS:
        raise InvalidInput(f"the number of customers must be from 1 to {MAX_CUSTOMERS:,}")
    step = progress or (lambda _stage, _n: None)
    now = now or utcnow()
    if check_target(db):
        wipe(db)
    builder = Builder(random.Random(seed), now, currency, points_per_currency_unit)
    builder.customers(customers)
    builder.orders()
    step("customers and orders", 1)
    builder.conversations()
    builder.desk_today()
    step("conversations", 1)
    builder.campaigns()
    builder.finish_customers()
    step("campaign history", 1)
    rows = builder.rows
    with db.transaction() as session:
        for attribute, model in _TABLES:
            for chunk in _chunks(getattr(rows, attribute)):
                session.execute(insert(model.__table__), chunk)
            if attribute in ("interactions", "deliveries", "responses"):
                step(f"writing {attribute}", 1)
        session.add(
            AuditEvent(
                at=now,
                actor="cli:demo-data",
                action=DEMO_MARKER,
                detail=f"demo data: {customers} customers, seed {seed}",
            )
        )
        # The rows skipped ingest, which records who wrote back after a campaign message:
        # derive it from the stored messages, or participation would equal response.
        recompute_wrote_back(session.connection())
    _bump_sequences(db)
    tiers = parse_tiers(loyalty_tiers)
    # Yesterday's recompute and today's, as the daily job would have left them, so
    # "moved up a tier today" picks the customers who crossed a threshold since.
    recompute_values(db, now - timedelta(days=1), tiers=tiers)
    recompute_values(db, now, tiers=tiers)
    step("customer values", 1)
    return DemoStats(
        customers=len(rows.customers),
        identities=len(rows.identities),
        orders=len(rows.orders),
        conversations=len(rows.conversations),
        interactions=len(rows.interactions),
        campaigns=len(rows.campaigns),
        deliveries=len(rows.deliveries),
        survey_answers=len(rows.responses),
    )


def count_rows(db: Database) -> dict[str, int]:
    """Rows per demo table, for the CLI's summary and the tests."""
    with db.session() as session:
        return {
            name: session.scalar(select(func.count()).select_from(model.__table__)) or 0
            for name, model in _TABLES
        }
