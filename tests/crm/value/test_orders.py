"""Orders: the integration call and the CSV import (idempotent, per-row errors, points)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from rapport.crm.database import Database
from rapport.crm.errors import InvalidInput
from rapport.crm.models import Customer, Identity, Order, PointsEntry
from rapport.crm.value.loyalty import balance
from rapport.crm.value.orders import import_orders, orders_from_text, record_order
from tests.support.campaign_fixtures import customer

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)

GOOD_CSV = """customer,amount,currency,date,order_id
ann@example.com,10.50,EUR,2026-10-01,A-1
ann@example.com,20,EUR,2026-10-15T14:30,A-2
Bob@Example.com,5.00,,2026-11-01,B-1
"""

BAD_CSV = """customer,amount,currency,date,order_id
ann@example.com,10.50,EUR,2026-10-01,A-1
not-an-address@,3,EUR,2026-10-01,X-1
ann@example.com,-4,EUR,2026-10-01,X-2
ann@example.com,4.005,EUR,2026-10-01,X-3
ann@example.com,4,USD,2026-10-01,X-4
ann@example.com,4,EUR,yesterday,X-5
ann@example.com,4,EUR,2027-10-01,X-6
999888777,4,EUR,2026-10-01,X-7
ann@example.com,4,EUR,2026-10-01,
bob@example.com,7,EUR,2026-10-02,B-9
"""


def _import(db: Database, text: str):  # type: ignore[no-untyped-def]
    return import_orders(db, orders_from_text(text), shop_currency="EUR", now=NOW)


def _count(db: Database, model: type) -> int:
    with db.session() as s:
        return s.scalar(select(func.count()).select_from(model)) or 0


def test_import_is_idempotent_and_creates_customers_by_email(db: Database) -> None:
    first = _import(db, GOOD_CSV)
    assert (first.imported, first.duplicates, first.errors) == (3, 0, [])
    assert first.new_customers == 2
    assert first.points == 10 + 20 + 5
    orders_before = _count(db, Order)
    points_before = _count(db, PointsEntry)

    again = _import(db, GOOD_CSV)
    assert (again.imported, again.duplicates, again.errors) == (0, 3, [])
    assert _count(db, Order) == orders_before == 3
    assert _count(db, PointsEntry) == points_before == 3
    assert _count(db, Customer) == 2

    with db.session() as s:
        ann = s.scalar(
            select(Identity.customer_id).where(Identity.external_id == "ann@example.com")
        )
        bob = s.scalar(
            select(Identity.customer_id).where(Identity.external_id == "bob@example.com")
        )
        amounts = s.scalars(
            select(Order.amount_minor).where(Order.customer_id == ann).order_by(Order.ordered_at)
        ).all()
        ann_row = s.get(Customer, ann)
    assert amounts == [1050, 2000]
    assert balance(db, ann) == 30 and balance(db, bob) == 5
    assert ann_row is not None and ann_row.marketing_consent is False
    assert ann_row.created_at == datetime(2026, 10, 1, tzinfo=UTC)


def test_bad_rows_are_reported_with_line_numbers_and_skipped(db: Database) -> None:
    report = _import(db, BAD_CSV)
    assert report.imported == 2
    reasons = {e.row: e.reason for e in report.errors}
    assert sorted(reasons) == [3, 4, 5, 6, 7, 8, 9, 10]
    assert "invalid email address" in reasons[3]
    assert "must be above 0" in reasons[4]
    assert "two decimals" in reasons[5]
    assert "USD" in reasons[6]
    assert "not ISO" in reasons[7]
    assert "future" in reasons[8]
    assert "Telegram chat id 999888777" in reasons[9]
    assert "order id" in reasons[10]
    with db.session() as s:
        keys = set(s.scalars(select(Order.order_key)))
    assert keys == {"A-1", "B-9"}
    assert _count(db, Customer) == 2  # no customer left behind by a refused row


def test_a_changed_reimport_is_an_error_not_an_update(db: Database) -> None:
    _import(db, GOOD_CSV)
    changed = GOOD_CSV.replace("10.50", "11.50")
    report = _import(db, changed)
    assert report.duplicates == 2
    assert [(e.row, "other details" in e.reason) for e in report.errors] == [(2, True)]
    with db.session() as s:
        assert s.scalar(select(Order.amount_minor).where(Order.order_key == "A-1")) == 1050


def test_missing_columns_refuse_the_whole_file(db: Database) -> None:
    with pytest.raises(InvalidInput, match="lacks column"):
        _import(db, "email,amount\nann@example.com,3\n")
    assert _count(db, Order) == 0


def test_record_order_finds_known_customers_by_telegram_chat_id(db: Database) -> None:
    known = customer(db, "12345", channel="telegram")
    result = record_order(
        db, order_key="T-1", customer="telegram:12345", amount="7.99", ordered_at=NOW, now=NOW
    )
    assert (result.customer_id, result.new_customer, result.points) == (known, False, 7)
    repeat = record_order(
        db, order_key="T-1", customer="12345", amount="7.99", ordered_at=NOW, now=NOW
    )
    assert repeat.duplicate and repeat.order_id == result.order_id
    assert balance(db, known) == 7
    with pytest.raises(InvalidInput, match="two decimals"):
        record_order(db, order_key="T-2", customer="12345", amount="1.234", ordered_at=NOW)
