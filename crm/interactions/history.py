"""A customer's interactions, newest first, a page at a time; every read audited.

The API's `GET /customers/{id}/interactions` and any other caller that pages
through a timeline use this. Paging is by id (`before`), not by offset, so a
page stays right while new messages arrive.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from rapport.crm.database import Database
from rapport.crm.errors import NotFound
from rapport.crm.models import Customer, Interaction
from rapport.crm.staff.audit import Actor, record

MAX_PAGE = 200


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    id: int
    conversation_id: int | None
    channel: str
    direction: str
    subject: str | None
    body: str | None
    sent_at: datetime
    polarity: float | None
    language: str | None
    automated: bool


def customer_interactions(
    db: Database, actor: Actor, customer_id: int, *, limit: int = 50, before: int | None = None
) -> list[TimelineEntry]:
    limit = max(1, min(limit, MAX_PAGE))
    with db.transaction() as session:
        customer = session.get(Customer, customer_id)
        if customer is None or customer.erased_at is not None:
            raise NotFound(f"no customer with id {customer_id}")
        query = select(
            Interaction.id,
            Interaction.conversation_id,
            Interaction.channel,
            Interaction.direction,
            Interaction.subject,
            Interaction.body,
            Interaction.sent_at,
            Interaction.polarity,
            Interaction.language,
            Interaction.automated,
        ).where(Interaction.customer_id == customer_id)
        if before is not None:
            query = query.where(Interaction.id < before)
        rows = session.execute(query.order_by(Interaction.id.desc()).limit(limit)).all()
        record(
            session, actor, "customer.interactions", customer_id=customer_id,
            detail=f"{len(rows)} shown",
        )  # fmt: skip
        return [
            TimelineEntry(
                r.id,
                r.conversation_id,
                r.channel,
                r.direction,
                r.subject,
                r.body,
                r.sent_at,
                r.polarity,
                r.language,
                r.automated,
            )
            for r in rows
        ]
