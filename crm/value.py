"""Customer value: RFM scores, historical and predicted value, churn risk, engagement, tiers.

Everything here is recomputed in one pass (`recompute_values`) and stored in
`customer_values`, one row per customer, so segment rules can use it in SQL
and staff see the same numbers everywhere. Values are "as of the last
recompute" (daily from `rapport run`, or `rapport customers values --recompute`).

The model, in words (docs/value.md says the same at more length):

- **RFM** scores are quintiles within this shop's own customers with at least
  one order: recency by the date of the last order, frequency by the number of
  orders, monetary by total spend. A score is ``1 + ⌊5·(rank−1)/N⌋`` with
  ties sharing the lower rank, so equal customers always get the same score;
  5 is best. ``rfm_score`` is R+F+M (3–15). Customers without orders score 0.
- **Value tier** follows the monetary score: gold = 5 (top 20% by spend),
  silver = 3–4, bronze = 1–2, none = no orders.
- **Churn risk** compares the time since the last order with the customer's
  own rhythm, the mean interval between their orders (for one-order
  customers, the median interval of the shop's repeat customers, else 365
  days): ``risk = 1 − exp(−max(0, days_since/interval − 1))``. Not yet due:
  0; one interval overdue: 0.63; two: 0.86.
- **Predicted value** (next 12 months) is average order value × the orders
  the customer's rhythm gives in 365 days × (1 − churn risk): the
  "purchase rate × probability still active" idea of BG/NBD, without fitting
  a population model (no light, maintained library for it installs here).
- **Engagement** (0–1) is 0 with no inbound message in the last 90 days,
  else 0.7·min(messages, 10)/10 + 0.3·(average sentiment + 1)/2.
- **Loyalty tier** is by points earned (positive ledger entries) in the last
  12 months against `RAPPORT_LOYALTY_TIERS`; a change from the stored tier
  records the previous tier, its direction and when, for tier-notice
  campaigns.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session

from crm.clock import utcnow
from crm.database import Database
from crm.errors import NotFound
from crm.loyalty import BASE_TIER, Tier, months_before, parse_tiers, tier_for, tier_rank
from crm.models import Customer, CustomerValue, Direction, Interaction, Order, PointsEntry

PREDICTION_DAYS = 365
DEFAULT_INTERVAL_DAYS = 365.0
ENGAGEMENT_DAYS = 90
ENGAGEMENT_MESSAGES = 10
INSERT_CHUNK = 5_000
DEFAULT_TIERS = parse_tiers("silver:500,gold:2000")

orders_t = Order.__table__
values_t = CustomerValue.__table__
customers_t = Customer.__table__
interactions_t = Interaction.__table__
points_t = PointsEntry.__table__


@dataclass(frozen=True, slots=True)
class RecomputeStats:
    customers: int
    with_orders: int
    tier_changes: int


def quintile(rank: int, population: int) -> int:
    """1–5 from a 1-based rank among `population` (ties share the lower rank)."""
    return 1 + (rank - 1) * 5 // population


def value_tier(monetary: int) -> str:
    if monetary >= 5:
        return "gold"
    if monetary >= 3:
        return "silver"
    return "bronze" if monetary >= 1 else "none"


def churn_risk(days_since: float, interval: float) -> float:
    """0 until the customer's usual interval has passed, then rising towards 1."""
    overdue = days_since / interval if interval > 0 else 0.0
    return round(1 - math.exp(-max(0.0, overdue - 1)), 3)


def predicted_value(average_order: float, interval: float, risk: float) -> float:
    return round(average_order * (PREDICTION_DAYS / interval) * (1 - risk), 2)


def engagement(messages: int, polarity: float | None) -> float:
    if messages <= 0:
        return 0.0
    activity = min(messages, ENGAGEMENT_MESSAGES) / ENGAGEMENT_MESSAGES
    mood = ((polarity or 0.0) + 1) / 2
    return round(0.7 * activity + 0.3 * mood, 3)


def _days(delta: timedelta) -> float:
    return delta.total_seconds() / 86400


def _order_stats(session: Session, now: datetime) -> list[tuple]:  # type: ignore[type-arg]
    o = orders_t.c
    agg = (
        select(
            o.customer_id,
            func.count().label("n"),
            func.sum(o.amount_minor).label("total"),
            func.min(o.ordered_at).label("first"),
            func.max(o.ordered_at).label("last"),
        )
        .join(customers_t, customers_t.c.id == o.customer_id)
        .where(customers_t.c.erased_at.is_(None), o.ordered_at <= now)
        .group_by(o.customer_id)
        .subquery()
    )
    ranked = select(
        agg.c.customer_id,
        agg.c.n,
        agg.c.total,
        agg.c.first,
        agg.c.last,
        func.rank().over(order_by=agg.c.last).label("r"),
        func.rank().over(order_by=agg.c.n).label("f"),
        func.rank().over(order_by=agg.c.total).label("m"),
        func.count().over().label("population"),
    )
    return [tuple(row) for row in session.execute(ranked)]


def _engagement_stats(session: Session, now: datetime) -> dict[int, tuple[int, float | None]]:
    i = interactions_t.c
    rows = session.execute(
        select(i.customer_id, func.count(), func.avg(i.polarity))
        .where(
            i.direction == Direction.IN.value,
            i.automated.is_(False),
            i.sent_at > now - timedelta(days=ENGAGEMENT_DAYS),
            i.sent_at <= now,
        )
        .group_by(i.customer_id)
    )
    return {cid: (n, None if avg is None else float(avg)) for cid, n, avg in rows}


def _points_earned(session: Session, now: datetime) -> dict[int, int]:
    p = points_t.c
    rows = session.execute(
        select(p.customer_id, func.sum(p.delta))
        .where(p.delta > 0, p.created_at > months_before(now, 12), p.created_at <= now)
        .group_by(p.customer_id)
    )
    return {cid: int(total) for cid, total in rows}


def recompute_values(
    db: Database, now: datetime | None = None, *, tiers: tuple[Tier, ...] = DEFAULT_TIERS
) -> RecomputeStats:
    """Recompute every customer's values in one transaction; see the module text for the model.

    The aggregates and quintile ranks are SQL (GROUP BY and RANK() OVER on
    both databases); only the per-customer arithmetic runs here, over the
    grouped rows, and the table is rewritten with chunked multi-row inserts.
    """
    now = now or utcnow()
    with db.transaction() as session:
        orders = _order_stats(session, now)
        engaged = _engagement_stats(session, now)
        earned = _points_earned(session, now)
        previous = {
            r.customer_id: r
            for r in session.execute(
                select(
                    values_t.c.customer_id,
                    values_t.c.loyalty_tier,
                    values_t.c.previous_tier,
                    values_t.c.tier_change,
                    values_t.c.tier_changed_at,
                )
            )
        }
        ids = session.scalars(select(customers_t.c.id).where(customers_t.c.erased_at.is_(None)))
        intervals = {
            cid: _days(last - first) / (n - 1)
            for cid, n, _t, first, last, *_ in orders
            if n > 1 and last > first
        }
        fallback = statistics.median(intervals.values()) if intervals else DEFAULT_INTERVAL_DAYS
        by_customer = {row[0]: row for row in orders}
        rows = []
        changes = 0
        for cid in ids:
            row = _blank(cid, now)
            stats = by_customer.get(cid)
            if stats is not None:
                _, n, total_minor, first, last, r, f, m, population = stats
                total = int(total_minor)  # PostgreSQL sums BIGINT to NUMERIC
                interval = intervals.get(cid, fallback)
                risk = churn_risk(_days(now - last), interval)
                scores = (quintile(r, population), quintile(f, population), quintile(m, population))
                row.update(
                    orders=n,
                    first_order_at=first,
                    last_order_at=last,
                    historical_value=total / 100,
                    predicted_value=predicted_value(total / 100 / n, interval, risk),
                    recency_score=scores[0],
                    frequency_score=scores[1],
                    monetary_score=scores[2],
                    rfm_score=sum(scores),
                    value_tier=value_tier(scores[2]),
                    interval_days=round(interval, 2),
                    churn_risk=risk,
                )
            messages, polarity = engaged.get(cid, (0, None))
            row["engagement"] = engagement(messages, polarity)
            changes += _apply_tier(
                row, tier_for(earned.get(cid, 0), tiers), previous.get(cid), tiers, now
            )
            rows.append(row)
        session.execute(delete(values_t))
        for start in range(0, len(rows), INSERT_CHUNK):
            session.execute(insert(values_t), rows[start : start + INSERT_CHUNK])
    return RecomputeStats(len(rows), len(orders), changes)


def _blank(customer_id: int, now: datetime) -> dict[str, object]:
    return {
        "customer_id": customer_id,
        "orders": 0,
        "first_order_at": None,
        "last_order_at": None,
        "historical_value": 0.0,
        "predicted_value": 0.0,
        "recency_score": 0,
        "frequency_score": 0,
        "monetary_score": 0,
        "rfm_score": 0,
        "value_tier": "none",
        "interval_days": None,
        "churn_risk": None,
        "computed_at": now,
    }


def _apply_tier(
    row: dict[str, object], tier: str, before: object, tiers: tuple[Tier, ...], now: datetime
) -> int:
    """Set the tier columns; 1 if the tier changed since the last recompute."""
    old = getattr(before, "loyalty_tier", BASE_TIER)
    row["loyalty_tier"] = tier
    if tier != old:
        row.update(
            previous_tier=old,
            tier_change="up" if tier_rank(tier, tiers) > tier_rank(old, tiers) else "down",
            tier_changed_at=now,
        )
        return 1
    row.update(
        previous_tier=getattr(before, "previous_tier", None),
        tier_change=getattr(before, "tier_change", None),
        tier_changed_at=getattr(before, "tier_changed_at", None),
    )
    return 0


def value_tier_counts(db: Database) -> list[tuple[str, int, float, float]]:
    """(value tier, customers, total spend, predicted 12-month value), best tier first."""
    order = {"gold": 0, "silver": 1, "bronze": 2, "none": 3}
    with db.session() as session:
        rows = session.execute(
            select(
                values_t.c.value_tier,
                func.count(),
                func.coalesce(func.sum(values_t.c.historical_value), 0.0),
                func.coalesce(func.sum(values_t.c.predicted_value), 0.0),
            ).group_by(values_t.c.value_tier)
        ).all()
    return sorted(
        ((t, int(n), float(s), float(p)) for t, n, s, p in rows), key=lambda r: order.get(r[0], 9)
    )


# --- In words, for staff ----------------------------------------------------------------

_TIER_WORDS = {
    "gold": "top 20% by spend",
    "silver": "the middle 40% by spend",
    "bronze": "the lower 40% by spend",
}


def _ago(days: float) -> str:
    whole = int(days)
    if whole == 0:
        return "today"
    return f"{whole} day{'s' if whole != 1 else ''} ago"


def _risk_word(risk: float) -> str:
    return "low" if risk < 0.3 else "medium" if risk < 0.6 else "high"


def explain_value(db: Database, customer_id: int, now: datetime | None = None) -> list[str]:
    """The stored values of one customer as sentences staff can act on."""
    now = now or utcnow()
    with db.session() as session:
        if (
            session.scalar(
                select(customers_t.c.id).where(
                    customers_t.c.id == customer_id, customers_t.c.erased_at.is_(None)
                )
            )
            is None
        ):
            raise NotFound(f"no customer with id {customer_id}")
        v = session.get(CustomerValue, customer_id)
        currency = session.scalar(
            select(orders_t.c.currency).where(orders_t.c.customer_id == customer_id).limit(1)
        )
        balance = session.scalar(
            select(func.coalesce(func.sum(points_t.c.delta), 0)).where(
                points_t.c.customer_id == customer_id
            )
        )
    if v is None:
        return ["no value computed yet (rapport customers values --recompute)"]
    money = f" {currency}" if currency else ""
    lines: list[str] = []
    if v.orders and v.last_order_at is not None and v.first_order_at is not None:
        lines.append(
            f"value tier {v.value_tier.title()}: {_TIER_WORDS[v.value_tier]}, "
            f"last order {_ago(_days(now - v.last_order_at))}"
        )
        lines.append(
            f"RFM {v.recency_score}-{v.frequency_score}-{v.monetary_score} "
            "(recency, frequency, spend quintiles among this shop's buyers; 5 is best)"
        )
        lines.append(
            f"spent {v.historical_value:,.2f}{money} over {v.orders} order"
            f"{'s' if v.orders != 1 else ''} since {v.first_order_at:%Y-%m-%d}"
        )
        interval = v.interval_days or DEFAULT_INTERVAL_DAYS
        rhythm = (
            "usually orders" if v.orders > 1 else "one order so far; shops' repeat buyers order"
        )
        lines.append(
            f"churn risk {v.churn_risk:.2f} ({_risk_word(v.churn_risk or 0)}): last order "
            f"{_ago(_days(now - v.last_order_at))}, {rhythm} every {interval:.0f} days"
        )
        lines.append(
            f"predicted value next 12 months {v.predicted_value:,.2f}{money} "
            f"(average order {v.historical_value / v.orders:,.2f} × orders expected from "
            "their rhythm × chance still active)"
        )
    else:
        lines.append("value tier None: no orders yet")
    lines.append(
        f"engagement {v.engagement:.2f} (messages in the last {ENGAGEMENT_DAYS} days and their "
        "sentiment)"
    )
    tier = f"loyalty tier {v.loyalty_tier}, {int(balance or 0):,} points"
    if v.tier_change and v.tier_changed_at is not None:
        direction = "up" if v.tier_change == "up" else "down"
        tier += f" ({direction} from {v.previous_tier} on {v.tier_changed_at:%Y-%m-%d})"
    lines.append(tier)
    return lines
