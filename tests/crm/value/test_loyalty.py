"""The points ledger (earn, redeem, expire; balance = sum of entries), tiers and win-back."""

from __future__ import annotations

import contextlib
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from rapport.crm.campaigns.runs import start_run
from rapport.crm.database import Database
from rapport.crm.errors import InvalidInput
from rapport.crm.models import CustomerValue, Delivery, DeliveryStatus, PointsEntry
from rapport.crm.privacy.consent import set_marketing_consent
from rapport.crm.segments.saved import create_segment
from rapport.crm.value.loyalty import (
    InsufficientPoints,
    balance,
    expire_points,
    months_before,
    parse_tiers,
    points_for,
    redeem_points,
)
from rapport.crm.value.orders import record_order
from rapport.crm.value.scores import recompute_values
from tests.support.campaign_fixtures import campaign
from tests.support.value_fixtures import NOW, SHOP, seed_shop

TIERS = parse_tiers("silver:500,gold:2000")


def _entries(db: Database, customer_id: int) -> list[tuple[int, str]]:
    with db.session() as s:
        return [
            (e.delta, e.reason)
            for e in s.scalars(
                select(PointsEntry)
                .where(PointsEntry.customer_id == customer_id)
                .order_by(PointsEntry.id)
            )
        ]


def _order(db: Database, key: str, amount: str, days_ago: float, who: str = "ann@example.com"):  # type: ignore[no-untyped-def]
    return record_order(
        db,
        order_key=key,
        customer=who,
        amount=amount,
        ordered_at=NOW - timedelta(days=days_ago),
        now=NOW,
    )


def test_earning_rule_rounds_down_per_currency_unit() -> None:
    assert points_for(1050, 1) == 10
    assert points_for(999, 1.5) == 14
    assert points_for(100, 0) == 0
    assert points_for(30, 10) == 3


def test_redeem_refuses_to_overdraw_and_records_nothing(db: Database) -> None:
    ann = _order(db, "o1", "30.00", 3).customer_id
    assert redeem_points(db, ann, 25, "gift card") == 5
    with pytest.raises(InsufficientPoints, match="has 5 points; cannot redeem 10"):
        redeem_points(db, ann, 10)
    with pytest.raises(InvalidInput):
        redeem_points(db, ann, 0)
    assert _entries(db, ann) == [(30, "order o1"), (-25, "gift card")]
    assert balance(db, ann) == 5


def test_expiry_takes_unspent_old_points_first_in_first_out(db: Database) -> None:
    ann = _order(db, "old", "100", 30 * 31).customer_id  # about 31 months ago
    _order(db, "new", "50", 20)
    redeem_points(db, ann, 30, now=NOW - timedelta(days=60))
    # Earned before the 24-month cutoff: 100; spent since: 30 → 70 expire.
    assert expire_points(db, 24, now=NOW) == 70
    assert balance(db, ann) == 50
    assert expire_points(db, 24, now=NOW) == 0  # a second run expires nothing
    assert _entries(db, ann)[-1] == (-70, "expired")
    assert expire_points(db, 0, now=NOW) == 0  # 0 months: never expire


def test_months_before_clamps_to_month_end() -> None:
    assert months_before(NOW.replace(month=3, day=31), 1).day == 28
    assert months_before(NOW, 24).year == NOW.year - 2


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    ops=st.lists(
        st.one_of(
            st.tuples(st.just("earn"), st.integers(1, 50_000)),
            st.tuples(st.just("redeem"), st.integers(1, 600)),
            st.tuples(st.just("expire"), st.integers(1, 36)),
        ),
        max_size=12,
    )
)
def test_balance_is_the_sum_of_entries_and_never_negative(
    db: Database, ops: list[tuple[str, int]]
) -> None:
    who = f"p{next(_serial)}@example.com"
    customer_id = _order(db, f"{who}-0", "1", 1000, who=who).customer_id
    for n, (kind, value) in enumerate(ops, start=1):
        if kind == "earn":
            _order(db, f"{who}-{n}", f"{value / 100:.2f}", 1000 - n * 60, who=who)
        elif kind == "redeem":
            with contextlib.suppress(InsufficientPoints):  # refused, and nothing recorded
                redeem_points(db, customer_id, value)
        else:
            expire_points(db, value, now=NOW)
        with db.session() as s:
            total = s.scalar(
                select(func.coalesce(func.sum(PointsEntry.delta), 0)).where(
                    PointsEntry.customer_id == customer_id
                )
            )
        assert balance(db, customer_id) == total >= 0


_serial = iter(range(10**9))


def test_tier_changes_are_detected_once_up_and_down(db: Database) -> None:
    ann = _order(db, "big", "600", 10).customer_id
    recompute_values(db, NOW, tiers=TIERS)
    with db.session() as s:
        v = s.get(CustomerValue, ann)
    assert v is not None
    assert (v.loyalty_tier, v.previous_tier, v.tier_change, v.tier_changed_at) == (
        "silver",
        "member",
        "up",
        NOW,
    )
    later = NOW + timedelta(days=1)
    assert recompute_values(db, later, tiers=TIERS).tier_changes == 0
    create_segment(
        db,
        "new silver",
        {
            "all": [
                {"field": "tier_change", "op": "==", "value": "up"},
                {"field": "tier_changed_days", "op": "<", "value": 2},
            ]
        },
    )
    # A year on, the points were earned more than 12 months ago: back to member.
    year_on = NOW + timedelta(days=370)
    assert recompute_values(db, year_on, tiers=TIERS).tier_changes == 1
    with db.session() as s:
        v = s.get(CustomerValue, ann)
    assert v is not None
    assert (v.loyalty_tier, v.previous_tier, v.tier_change) == ("member", "silver", "down")


def test_win_back_campaign_targets_exactly_the_customers_at_risk(db: Database) -> None:
    """The recipe in docs/value.md: a churn-risk segment and a loyalty campaign."""
    ids = seed_shop(db)
    for address in SHOP:
        set_marketing_consent(db, "email", address, granted=True, source="test")
    recompute_values(db, NOW)
    create_segment(db, "at risk", {"field": "churn_risk", "op": ">=", "value": 0.3})
    win_back = campaign(
        db,
        "Win-back",
        kind="loyalty",
        segment="at risk",
        points=200,
        template="We miss you, {{ first_name }}: 200 points are waiting.",
    )
    summary = start_run(db, win_back.id, trigger="manual", now=NOW)
    with db.session() as s:
        targeted = set(
            s.scalars(
                select(Delivery.customer_id).where(
                    Delivery.run_id == summary.run_id,
                    Delivery.status == DeliveryStatus.QUEUED.value,
                )
            )
        )
    assert targeted == {ids["c1"], ids["c2"]}
