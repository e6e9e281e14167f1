"""Building customers with every property a segment rule can test, through the ORM."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select

from rapport.crm.database import Database
from rapport.crm.models import (
    AuditEvent,
    Customer,
    CustomerTag,
    Direction,
    Identity,
    Interaction,
    PointsEntry,
)
from rapport.crm.segments.compilation import rule_condition
from rapport.crm.segments.rules import Rule

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


@dataclass
class Person:
    """One customer as plain data: what the database holds and what the oracle reads."""

    first_seen_channel: str = "email"
    last_channel: str | None = None
    last_activity_hours_ago: int | None = None
    created_hours_ago: int = 24 * 100
    consent: bool = False
    erased: bool = False
    tags: Sequence[str] = ()
    identities: Sequence[tuple[str, bool]] = ()
    """(channel, reachable) pairs."""
    messages: Sequence[tuple[str, float | None]] = ()
    """(direction, polarity) pairs."""
    points: Sequence[int] = ()
    name: str = "Customer"
    id: int = field(default=0, compare=False)


def store(db: Database, people: Iterable[Person]) -> list[Person]:
    """Insert the people; fills in their ids and returns them."""
    people = list(people)
    with db.transaction() as session:
        for n, p in enumerate(people):
            last = (
                None
                if p.last_activity_hours_ago is None
                else NOW - timedelta(hours=p.last_activity_hours_ago)
            )
            customer = Customer(
                display_name=p.name,
                created_at=NOW - timedelta(hours=p.created_hours_ago),
                first_seen_channel=p.first_seen_channel,
                last_channel=p.last_channel,
                last_activity_at=last,
                marketing_consent=p.consent,
                erased_at=NOW - timedelta(days=1) if p.erased else None,
            )
            session.add(customer)
            session.flush()
            p.id = customer.id
            session.add_all(CustomerTag(customer_id=customer.id, tag=t) for t in set(p.tags))
            for k, (channel, reachable) in enumerate(p.identities):
                address = f"c{customer.id}-{n}-{k}@example.com" if channel == "email" else None
                session.add(
                    Identity(
                        customer_id=customer.id,
                        channel=channel,
                        external_id=address or str(customer.id * 1000 + k),
                        unreachable_at=None if reachable else NOW - timedelta(days=2),
                    )
                )
            session.add_all(
                Interaction(
                    customer_id=customer.id,
                    channel=p.first_seen_channel,
                    direction=direction,
                    polarity=polarity,
                    sent_at=NOW - timedelta(days=3),
                )
                for direction, polarity in p.messages
            )
            session.add_all(
                PointsEntry(customer_id=customer.id, delta=d, reason="test") for d in p.points
            )
    return people


def clear(db: Database) -> None:
    with db.transaction() as session:
        for model in (CustomerTag, PointsEntry, Interaction, Identity, AuditEvent, Customer):
            session.execute(delete(model))


def matching(db: Database, rule: Rule, now: datetime = NOW) -> set[int]:
    customers = Customer.__table__
    with db.session() as session:
        return set(session.scalars(select(customers.c.id).where(rule_condition(rule, now))))


def inbound(*polarities: float | None) -> list[tuple[str, float | None]]:
    return [(Direction.IN.value, p) for p in polarities]
