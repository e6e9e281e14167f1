"""Customer value on a hand-checked shop.

| customer | orders (days ago)   | total | R | F | M | tier   | interval | churn risk          |
|----------|---------------------|-------|---|---|---|--------|----------|---------------------|
| c1       | 200                 |  50   | 1 | 1 | 3 | silver | 25 (median) | 1−e^−7 = 0.999   |
| c2       | 150, 90             |  20   | 2 | 2 | 1 | bronze | 60       | 1−e^−0.5 = 0.393    |
| c3       | 100, 70, 40         | 300   | 3 | 3 | 5 | gold   | 30       | 1−e^−(1/3) = 0.283  |
| c4       | 80, 60, 40, 20      |  24   | 4 | 4 | 2 | bronze | 20       | 0                   |
| c5       | 50, 40, 30, 20, 10  | 100   | 5 | 5 | 4 | silver | 10       | 0                   |
| c6       | (no orders)         |   0   | 0 | 0 | 0 | none   | —        | —                   |
The median interval of the repeat buyers (60, 30, 20, 10) is 25 days.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from rapport.crm.database import Database
from rapport.crm.errors import InvalidRule
from rapport.crm.models import CustomerValue, Order
from rapport.crm.segments.compilation import member_ids
from rapport.crm.segments.rules import parse_rule
from rapport.crm.value.loyalty import parse_tiers
from rapport.crm.value.scores import (
    engagement,
    explain_value,
    quintile,
    quintiles,
    recompute_values,
)
from tests.support.campaign_fixtures import customer
from tests.support.value_fixtures import NOW, seed_shop


@pytest.fixture
def shop(db: Database) -> dict[str, int]:
    ids = seed_shop(db)
    ids["c6"] = customer(db, "c6@example.com", at=NOW - timedelta(days=5))
    stats = recompute_values(db, NOW)
    assert (stats.customers, stats.with_orders) == (6, 5)
    return ids


def _values(db: Database) -> dict[int, CustomerValue]:
    with db.session() as s:
        return {v.customer_id: v for v in s.scalars(select(CustomerValue))}


def _members(db: Database, rule: dict) -> set[int]:  # type: ignore[type-arg]
    with db.session() as s:
        return set(s.scalars(member_ids(parse_rule(rule), NOW)))


def test_rfm_quintiles_tiers_and_values(db: Database, shop: dict[str, int]) -> None:
    v = _values(db)
    got = {
        name: (
            v[cid].recency_score,
            v[cid].frequency_score,
            v[cid].monetary_score,
            v[cid].rfm_score,
            v[cid].value_tier,
        )
        for name, cid in shop.items()
    }
    assert got == {
        "c1": (1, 1, 3, 5, "silver"),
        "c2": (2, 2, 1, 5, "bronze"),
        "c3": (3, 3, 5, 11, "gold"),
        "c4": (4, 4, 2, 10, "bronze"),
        "c5": (5, 5, 4, 14, "silver"),
        "c6": (0, 0, 0, 0, "none"),
    }
    assert v[shop["c3"]].historical_value == 300.0
    assert v[shop["c3"]].orders == 3
    assert v[shop["c1"]].interval_days == 25.0
    assert v[shop["c2"]].interval_days == 60.0


def test_churn_risk_follows_each_customers_own_rhythm(db: Database, shop: dict[str, int]) -> None:
    v = _values(db)
    risk = {name: v[cid].churn_risk for name, cid in shop.items()}
    assert risk == {"c1": 0.999, "c2": 0.393, "c3": 0.283, "c4": 0.0, "c5": 0.0, "c6": None}
    # c3's last order (40 days) is older than c2's would be "on time" for c2 (60 days),
    # yet c2 is more at risk: 90 days is 1.5 of c2's rhythm, 40 is 1.33 of c3's.
    predicted = {name: v[cid].predicted_value for name, cid in shop.items()}
    assert predicted["c5"] == 730.0  # 20 × 365/10 × 1
    assert predicted["c4"] == 109.5  # 6 × 365/20 × 1
    assert predicted["c3"] == round(100 * 365 / 30 * (1 - 0.283), 2)
    assert predicted["c1"] == round(50 * 365 / 25 * (1 - 0.999), 2)
    assert predicted["c6"] == 0.0


def test_value_fields_in_segment_rules(db: Database, shop: dict[str, int]) -> None:
    ids = {v: k for k, v in shop.items()}

    def names(rule: dict) -> set[str]:  # type: ignore[type-arg]
        return {ids[c] for c in _members(db, rule)}

    assert names({"field": "churn_risk", "op": ">=", "value": 0.3}) == {"c1", "c2"}
    assert names({"field": "value_tier", "op": "==", "value": "gold"}) == {"c3"}
    assert names({"field": "rfm_score", "op": ">=", "value": 10}) == {"c3", "c4", "c5"}
    assert names({"field": "orders", "op": ">=", "value": 3}) == {"c3", "c4", "c5"}
    assert names({"field": "days_since_order", "op": ">", "value": 30}) == {"c1", "c2", "c3", "c6"}
    assert names({"field": "days_since_order", "op": "<=", "value": 20}) == {"c4", "c5"}
    assert names({"field": "historical_value", "op": ">", "value": 60}) == {"c3", "c5"}
    assert names({"field": "predicted_value", "op": ">", "value": 500}) == {"c3", "c5"}
    assert names({"field": "tier", "op": "==", "value": "member"}) == set(shop)
    assert names({"not": {"field": "churn_risk", "op": ">=", "value": 0.3}}) == {
        "c3",
        "c4",
        "c5",
        "c6",
    }
    with pytest.raises(InvalidRule, match="0 to 15"):
        parse_rule({"field": "rfm_score", "op": ">", "value": 16})
    with pytest.raises(InvalidRule, match="gold, silver, bronze, none"):
        parse_rule({"field": "value_tier", "op": "==", "value": "platinum"})


def test_recompute_is_repeatable_and_drops_erased_customers(
    db: Database, shop: dict[str, int]
) -> None:
    before = _values(db)
    recompute_values(db, NOW)
    after = _values(db)
    assert {k: v.rfm_score for k, v in before.items()} == {k: v.rfm_score for k, v in after.items()}
    from tests.support.campaign_fixtures import erase

    erase(db, shop["c3"])
    recompute_values(db, NOW)
    v = _values(db)
    assert shop["c3"] not in v
    # Four buyers now: c1 50, c2 20, c4 24, c5 100 → M = 1 + ⌊5(rank−1)/4⌋.
    assert {n: v[shop[n]].monetary_score for n in ("c2", "c4", "c1", "c5")} == {
        "c2": 1,
        "c4": 2,
        "c1": 3,
        "c5": 4,
    }


def test_explanations_in_words(db: Database, shop: dict[str, int]) -> None:
    lines = explain_value(db, shop["c3"], now=NOW)
    assert lines[0] == "value tier Gold: top 20% by spend, last order 40 days ago"
    assert any(
        line.startswith("churn risk 0.28 (low)") and "every 30 days" in line for line in lines
    )
    assert any("spent 300.00 EUR over 3 orders" in line for line in lines)
    assert any(line.startswith("loyalty tier member, 300 points") for line in lines)
    assert explain_value(db, shop["c6"], now=NOW)[0] == "value tier None: no orders yet"


def test_quintiles_share_ties_and_engagement_formula() -> None:
    # Ten customers, ranks 1..10 → two per quintile.
    assert [quintile(r, 10) for r in range(1, 11)] == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    # Ties share the lower rank: ranks 1,1,1,4,5 (three equal lowest) → 1,1,1,4,5.
    assert [quintile(r, 5) for r in (1, 1, 1, 4, 5)] == [1, 1, 1, 4, 5]
    assert engagement(0, 0.9) == 0.0
    assert engagement(10, 1.0) == 1.0
    assert engagement(5, 0.0) == 0.5
    assert engagement(50, -1.0) == 0.7


def test_quintiles_rank_like_sql_rank() -> None:
    # RANK() of 30, 10, 10, 20, 50 is 4, 1, 1, 3, 5: ties share the lower rank.
    assert quintiles([30, 10, 10, 20, 50]) == [
        quintile(4, 5),
        quintile(1, 5),
        quintile(1, 5),
        quintile(3, 5),
        quintile(5, 5),
    ]
    assert quintiles(list(range(10, 0, -1))) == [5, 5, 4, 4, 3, 3, 2, 2, 1, 1]
    assert quintiles([7, 7, 7]) == [1, 1, 1]
    assert quintiles([]) == []


def test_stored_times_equal_orm_written_times_in_sql(db: Database, shop: dict[str, int]) -> None:
    """The rewrite bypasses the ORM's bind processing; SQL comparisons must still match.

    On SQLite timestamps are text, so a time stored in any other form than the
    ORM's would silently fail equality (and order wrongly) in segment rules.
    """
    v = CustomerValue.__table__.c
    last_order = (
        select(func.max(Order.ordered_at)).where(Order.customer_id == v.customer_id)
    ).scalar_subquery()
    recompute_values(db, NOW, tiers=parse_tiers("silver:100"))  # c3 (300) and c5 (100) go up
    recompute_values(db, NOW + timedelta(days=1), tiers=parse_tiers("silver:100"))
    with db.session() as s:
        assert s.scalar(select(func.count()).where(v.computed_at == NOW + timedelta(days=1))) == 6
        assert s.scalar(select(func.count()).where(v.last_order_at == last_order)) == 5
        changed = set(s.scalars(select(v.customer_id).where(v.tier_changed_at == NOW)))
    assert changed == {shop["c3"], shop["c5"]}  # kept from the first recompute, unchanged
