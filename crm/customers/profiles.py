"""Looking customers up: the read side staff use, every read audited."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, func, or_, select

from rapport.crm.customers.identity import EMAIL
from rapport.crm.customers.merge import merged_into
from rapport.crm.database import Database
from rapport.crm.errors import NotFound
from rapport.crm.models import (
    Consent,
    Conversation,
    ConversationStatus,
    Customer,
    Identity,
    Interaction,
)
from rapport.crm.staff.audit import Actor, record


@dataclass(frozen=True, slots=True)
class CustomerSummary:
    id: int
    display_name: str | None
    first_seen_channel: str
    last_channel: str | None
    last_activity_at: datetime | None
    interactions: int
    contact: str | None = None
    """Their main address: the email, else the Telegram chat, so staff see whom they look at."""
    consent: tuple[str, ...] = ()
    """Channels they agreed to marketing on."""


@dataclass(frozen=True, slots=True)
class InteractionView:
    id: int
    channel: str
    direction: str
    sent_at: datetime
    body: str | None
    polarity: float | None


@dataclass(frozen=True, slots=True)
class CustomerProfile:
    summary: CustomerSummary
    created_at: datetime
    marketing_consent: bool
    identities: list[tuple[str, str]]
    open_conversation_id: int | None
    average_polarity: float | None
    recent: list[InteractionView]


def customer_summaries(
    db: Database, where: Sequence[ColumnElement[bool]], limit: int
) -> list[CustomerSummary]:
    """Customers matching `where`, most recently active first; shared by lookups and previews."""
    counts = (
        select(Interaction.customer_id, func.count().label("n"))
        .group_by(Interaction.customer_id)
        .subquery()
    )
    query = (
        select(Customer, func.coalesce(counts.c.n, 0))
        .outerjoin(counts, counts.c.customer_id == Customer.id)
        .where(Customer.erased_at.is_(None), *where)
        .order_by(Customer.last_activity_at.desc().nulls_last(), Customer.id)
        .limit(limit)
    )
    with db.session() as session:
        found = list(session.execute(query))
        ids = [c.id for c, _ in found]
        contacts: dict[int, str] = {}
        for cid, channel, external in session.execute(
            select(Identity.customer_id, Identity.channel, Identity.external_id)
            .where(Identity.customer_id.in_(ids))
            .order_by(Identity.customer_id, Identity.channel, Identity.id)
        ):
            # ordered by channel name: "email" comes first, the address staff know best
            contacts.setdefault(cid, external if channel == EMAIL else f"{channel}:{external}")
        consents: dict[int, list[str]] = {}
        for cid, channel in session.execute(
            select(Consent.customer_id, Consent.channel)
            .where(Consent.customer_id.in_(ids), Consent.granted.is_(True))
            .order_by(Consent.channel)
        ):
            consents.setdefault(cid, []).append(channel)
        return [
            CustomerSummary(
                id=c.id,
                display_name=c.display_name,
                first_seen_channel=c.first_seen_channel,
                last_channel=c.last_channel,
                last_activity_at=c.last_activity_at,
                interactions=n,
                contact=contacts.get(c.id),
                consent=tuple(consents.get(c.id, ())),
            )
            for c, n in found
        ]


def list_customers(
    db: Database, actor: Actor, *, search: str | None = None, limit: int = 50
) -> list[CustomerSummary]:
    """Most recently active customers first, optionally matching a name or address."""
    where = []
    if search:
        pattern = f"%{search.strip().lower()}%"
        has_identity = select(Identity.id).where(
            Identity.customer_id == Customer.id, func.lower(Identity.external_id).like(pattern)
        )
        where.append(or_(func.lower(Customer.display_name).like(pattern), has_identity.exists()))
    found = customer_summaries(db, where, limit)
    with db.transaction() as session:
        record(session, actor, "customers.list", detail=f"{len(found)} shown")
    return found


def customer_profile(
    db: Database, actor: Actor, customer_id: int, *, recent: int = 10
) -> CustomerProfile:
    """Everything staff see about one customer; audited as a read of personal data."""
    with db.transaction() as session:
        customer = session.get(Customer, customer_id)
        if customer is None or customer.erased_at is not None:
            kept = merged_into(session, customer_id)
            if kept is not None:
                raise NotFound(f"customer {customer_id} was merged into customer {kept}")
            raise NotFound(f"no customer with id {customer_id}")
        identities = [
            (i.channel, i.external_id)
            for i in session.scalars(
                select(Identity).where(Identity.customer_id == customer_id).order_by(Identity.id)
            )
        ]
        rows = session.scalars(
            select(Interaction)
            .where(Interaction.customer_id == customer_id)
            .order_by(Interaction.sent_at.desc(), Interaction.id.desc())
            .limit(recent)
        ).all()
        total, average = session.execute(
            select(func.count(), func.avg(Interaction.polarity)).where(
                Interaction.customer_id == customer_id
            )
        ).one()
        open_id = session.scalar(
            select(Conversation.id)
            .where(
                Conversation.customer_id == customer_id,
                Conversation.status != ConversationStatus.RESOLVED,
            )
            .order_by(Conversation.id.desc())
            .limit(1)
        )
        record(session, actor, "customer.show", customer_id=customer_id)
        return CustomerProfile(
            summary=CustomerSummary(
                id=customer.id,
                display_name=customer.display_name,
                first_seen_channel=customer.first_seen_channel,
                last_channel=customer.last_channel,
                last_activity_at=customer.last_activity_at,
                interactions=total,
            ),
            created_at=customer.created_at,
            marketing_consent=customer.marketing_consent,
            identities=identities,
            open_conversation_id=open_id,
            average_polarity=None if average is None else float(average),
            recent=[
                InteractionView(r.id, r.channel, r.direction, r.sent_at, r.body, r.polarity)
                for r in rows
            ],
        )
