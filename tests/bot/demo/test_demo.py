"""Demo data: the counts it promises, determinism, and refusing databases with real data."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from rapport.bot.demo.fill import count_rows, fill_demo
from rapport.bot.demo.guard import DEMO_TAG, is_demo
from rapport.crm.database import Database
from rapport.crm.errors import Conflict, InvalidInput
from rapport.crm.models import Customer, CustomerTag, CustomerValue, Interaction, Order
from rapport.crm.reports.programmes import Period, programme_metrics
from rapport.migrations.schema import open_database
from tests.support.campaign_fixtures import customer

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def test_fills_every_table_with_plausible_numbers(db: Database) -> None:
    stats = fill_demo(db, 300, seed=5, now=NOW)
    rows = count_rows(db)
    assert rows["customers"] == stats.customers == 300
    assert is_demo(db)
    with db.session() as s:
        tagged = s.scalar(select(func.count()).where(CustomerTag.tag == DEMO_TAG))
        buyers = s.scalar(select(func.count(func.distinct(Order.customer_id))))
        scored = s.scalar(select(func.count()).where(Interaction.polarity.is_not(None)))
        values = s.scalar(select(func.count()).select_from(CustomerValue))
        channels = set(s.scalars(select(Customer.first_seen_channel).distinct()))
    assert tagged == 300 and values == 300
    assert 120 < buyers < 260  # about 65% buy
    assert scored > 300  # every customer wrote at least once, with a real score
    assert channels == {"email", "telegram"}
    assert rows["deliveries"] > 500 and rows["responses"] > 50
    month = programme_metrics(db, period=Period.last_days(30, NOW))
    assert month.delivered > 50 and month.csat_mean is not None
    assert 1 <= month.csat_mean <= 5 and month.nps is not None
    # customers who wrote back without answering count as engaged (recorded for bulk rows too)
    assert month.engaged > month.responded


def _snapshot(url: str) -> tuple[object, ...]:
    db = open_database(url)
    with db.session() as s:
        names = list(s.scalars(select(Customer.display_name).order_by(Customer.id)))
        amounts = list(s.scalars(select(Order.amount_minor).order_by(Order.id)))
        bodies = list(s.scalars(select(Interaction.body).order_by(Interaction.id)))
    snapshot = (count_rows(db), names, amounts, bodies)
    db.dispose()
    return snapshot


def test_same_seed_same_data_other_seed_other_data(tmp_path: Path) -> None:
    urls = [f"sqlite:///{tmp_path / f'{n}.db'}" for n in "abc"]
    for url, seed in zip(urls, (11, 11, 12), strict=True):
        db = open_database(url)
        fill_demo(db, 150, seed=seed, now=NOW)
        db.dispose()
    a, b, c = (_snapshot(u) for u in urls)
    assert a == b
    assert a != c


def test_refuses_a_database_with_real_data_and_changes_nothing(db: Database) -> None:
    customer(db, "real@shop.example")
    before = count_rows(db)
    with pytest.raises(Conflict, match="not demo data"):
        fill_demo(db, 50, now=NOW)
    assert count_rows(db) == before
    assert not is_demo(db)


def test_refilling_a_demo_database_replaces_it(db: Database) -> None:
    fill_demo(db, 80, seed=1, now=NOW)
    fill_demo(db, 40, seed=2, now=NOW)
    assert count_rows(db)["customers"] == 40
    # ids continue cleanly afterwards (PostgreSQL sequences moved past the demo ids)
    assert customer(db, "new@example.com") > 40


def test_bad_count_is_refused(db: Database) -> None:
    with pytest.raises(InvalidInput):
        fill_demo(db, 0)
    assert count_rows(db)["customers"] == 0
