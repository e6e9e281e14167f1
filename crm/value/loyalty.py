"""The loyalty ledger: earn on orders, redeem, expire; the balance is always derived.

`points_entries` is append-only. Every change is a new row (an order's
points, a campaign's award, a redemption, an expiry), so the balance is the
sum of a customer's entries and the history explains it. Expiry is FIFO:
redemptions and earlier expiries use up the oldest points first, so what
expires at the cutoff is what was earned before it and never spent.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case, func, insert, select
from sqlalchemy.orm import Session

from rapport.crm.clock import utcnow
from rapport.crm.database import Database
from rapport.crm.errors import InvalidInput, NotFound
from rapport.crm.models import Customer, PointsEntry

BASE_TIER = "member"
"""The tier of everyone below the lowest threshold."""
MAX_REDEEM = 100_000_000
EXPIRED = "expired"


class InsufficientPoints(InvalidInput):
    """A redemption larger than the balance; nothing was recorded."""


@dataclass(frozen=True, slots=True)
class Tier:
    name: str
    threshold: int
    """Points earned in the last 12 months needed to hold this tier."""


_TIER = re.compile(r"^([a-z][a-z0-9_-]{0,19}):([0-9]{1,9})$")


def parse_tiers(text: str) -> tuple[Tier, ...]:
    """Tiers from "silver:500,gold:2000", lowest first, with the base tier at 0."""
    tiers = [Tier(BASE_TIER, 0)]
    for part in (p.strip().lower() for p in text.split(",")):
        if not part:
            continue
        match = _TIER.match(part)
        if match is None:
            raise ValueError(f"a tier is name:points (e.g. gold:2000), got {part!r}")
        name, threshold = match[1], int(match[2])
        if name in {t.name for t in tiers}:
            raise ValueError(f"tier {name!r} is named twice (or is the base tier)")
        if threshold <= 0:
            raise ValueError(f"tier {name!r} needs a threshold above 0")
        tiers.append(Tier(name, threshold))
    tiers.sort(key=lambda t: t.threshold)
    if len({t.threshold for t in tiers}) != len(tiers):
        raise ValueError("two tiers have the same threshold")
    return tuple(tiers)


def tier_for(earned: int, tiers: tuple[Tier, ...]) -> str:
    """The highest tier whose threshold the points earned reach."""
    name = BASE_TIER
    for tier in tiers:
        if earned >= tier.threshold:
            name = tier.name
    return name


def tier_rank(name: str | None, tiers: tuple[Tier, ...]) -> int:
    """Position of a tier, lowest 0; an unknown (since removed) tier counts as the base."""
    for rank, tier in enumerate(tiers):
        if tier.name == name:
            return rank
    return 0


def points_for(amount_minor: int, per_unit: float) -> int:
    """Points an order earns: whole points, rounded down, per whole currency unit."""
    if amount_minor <= 0 or per_unit <= 0:
        return 0
    return math.floor(amount_minor * per_unit / 100 + 1e-9)


def months_before(moment: datetime, months: int) -> datetime:
    """The same day-of-month `months` earlier (clamped to the month's last day)."""
    year, month = divmod(moment.year * 12 + moment.month - 1 - months, 12)
    month += 1
    days = [31, 29 if _leap(year) else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1]
    return moment.replace(year=year, month=month, day=min(moment.day, days))


def _leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def _balance(session: Session, customer_id: int) -> int:
    total = session.scalar(
        select(func.coalesce(func.sum(PointsEntry.delta), 0)).where(
            PointsEntry.customer_id == customer_id
        )
    )
    return int(total or 0)


def balance(db: Database, customer_id: int) -> int:
    """The customer's points: the sum of their ledger entries."""
    with db.session() as session:
        return _balance(session, customer_id)


def redeem_points(
    db: Database,
    customer_id: int,
    points: int,
    reason: str = "redeemed",
    now: datetime | None = None,
) -> int:
    """Spend points; refuses (InsufficientPoints) to take the balance below zero.

    The customer row is locked first (FOR UPDATE on PostgreSQL; SQLite has one
    writer at a time), so two redemptions at once cannot both pass the check.
    Returns the new balance.
    """
    if isinstance(points, bool) or not isinstance(points, int) or not 0 < points <= MAX_REDEEM:
        raise InvalidInput(f"points to redeem must be a whole number from 1 to {MAX_REDEEM}")
    label = " ".join(reason.split())[:80] or "redeemed"
    with db.transaction() as session:
        locked = session.scalar(
            select(Customer.id)
            .where(Customer.id == customer_id, Customer.erased_at.is_(None))
            .with_for_update()
        )
        if locked is None:
            raise NotFound(f"no customer with id {customer_id}")
        current = _balance(session, customer_id)
        if points > current:
            raise InsufficientPoints(
                f"customer {customer_id} has {current} points; cannot redeem {points}"
            )
        session.execute(
            insert(PointsEntry).values(
                customer_id=customer_id, delta=-points, reason=label, created_at=now or utcnow()
            )
        )
        return current - points


def expire_points(db: Database, months: int, now: datetime | None = None) -> int:
    """Expire points earned before `months` ago and not yet spent; returns points expired.

    Set-based: one grouped query finds, per customer, points earned before the
    cutoff minus everything ever debited (redemptions and earlier expiries);
    what is left over is expired with one entry each. Running it again at the
    same time expires nothing more.
    """
    if months <= 0:
        return 0
    now = now or utcnow()
    cutoff = months_before(now, months)
    old_earned = func.coalesce(
        func.sum(
            case(
                ((PointsEntry.delta > 0) & (PointsEntry.created_at < cutoff), PointsEntry.delta),
                else_=0,
            )
        ),
        0,
    )
    debited = func.coalesce(func.sum(case((PointsEntry.delta < 0, -PointsEntry.delta), else_=0)), 0)
    left = (old_earned - debited).label("left")
    with db.transaction() as session:
        rows = session.execute(
            select(PointsEntry.customer_id, left)
            .group_by(PointsEntry.customer_id)
            .having(old_earned - debited > 0)
        ).all()
        if rows:
            session.execute(
                insert(PointsEntry),
                [
                    {
                        "customer_id": customer_id,
                        "delta": -int(amount),
                        "reason": EXPIRED,
                        "created_at": now,
                    }
                    for customer_id, amount in rows
                ],
            )
    return sum(int(amount) for _, amount in rows)


@dataclass(frozen=True, slots=True)
class Standing:
    """What a customer sees when they ask for their points."""

    balance: int
    tier: str
    next_tier: Tier | None
    earned_this_year: int


def standing(
    db: Database, customer_id: int, tiers: tuple[Tier, ...], now: datetime | None = None
) -> Standing:
    """Balance now and tier from points earned in the last 12 months (live, not cached)."""
    now = now or utcnow()
    since = months_before(now, 12)
    with db.session() as session:
        balance_now = _balance(session, customer_id)
        earned = session.scalar(
            select(func.coalesce(func.sum(PointsEntry.delta), 0)).where(
                PointsEntry.customer_id == customer_id,
                PointsEntry.delta > 0,
                PointsEntry.created_at >= since,
            )
        )
    earned = int(earned or 0)
    higher = [t for t in sorted(tiers, key=lambda t: t.threshold) if t.threshold > earned]
    return Standing(
        balance=balance_now,
        tier=tier_for(earned, tiers),
        next_tier=higher[0] if higher else None,
        earned_this_year=earned,
    )
