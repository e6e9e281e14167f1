"""Engagement: whether a customer wrote to us within a week after a campaign message.

Reports count a delivery as engaged when it was answered or when the customer
wrote to us at all within `ENGAGEMENT_WINDOW` after it was sent
(docs/reports.md). Searching each customer's history for every delivery made
the report set cost seconds at 100,000 customers, so the answer is kept on
the delivery instead: ingest marks `deliveries.wrote_back_at` as messages
arrive, and `recompute_wrote_back` rebuilds it from the stored interactions
for rows that did not come through ingest (bulk loads).

Core over `Delivery.__table__` on purpose: the marking runs inside every
ingest transaction, and the recompute over every delivery at once.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    DateTime,
    Interval,
    Select,
    Update,
    bindparam,
    func,
    literal,
    or_,
    select,
    type_coerce,
    update,
)

from rapport.crm.models import Delivery, DeliveryStatus, Direction, Interaction, UtcDateTime

ENGAGEMENT_WINDOW = timedelta(days=7)
"""Any message from the customer within this time after a delivery counts as engagement."""


def note_wrote_back(
    conn: Connection,
    messages: Iterable[tuple[int, datetime]],
    recently_sent: Collection[int] | None = None,
) -> None:
    """Mark the sent deliveries that these inbound (customer id, sent at) messages followed.

    Keeps the earliest such message, so replays and messages arriving out of
    order give the same value as one pass over the history would. Only
    deliveries already sent when the message is stored are marked: a
    delivery is sent before anyone can write back to it.

    `recently_sent`: the customers sent a delivery within the window before
    the earliest of these messages, when the caller already knows them (ingest
    asks with its sender lookup, so a message that follows no campaign costs
    no statement here); else they are looked up.

    Stays in ingest's transaction rather than after the acknowledgement: with
    the lookup folded into the sender's, it costs nothing unless a delivery
    was sent to the customer that week, and then one UPDATE, which is cheaper
    than the repair pass a deferred mark would need after a crash.
    """
    messages = list(messages)
    recent = _recently_sent_to(conn, messages) if recently_sent is None else recently_sent
    rows = [
        {"b_customer": customer, "b_at": at, "b_since": at - ENGAGEMENT_WINDOW}
        for customer, at in messages
        if customer in recent
    ]
    if not rows:
        return
    conn.execute(_MARK_WROTE_BACK, rows)


def _recently_sent_to(conn: Connection, messages: list[tuple[int, datetime]]) -> set[int]:
    """Which of these customers had a delivery sent within the window before their messages.

    One query per batch, so the per-message update below runs only for them
    (most messages do not follow a campaign message, and ingest is per batch).
    """
    if not messages:
        return set()
    since = min(at for _, at in messages) - ENGAGEMENT_WINDOW
    customers = sorted({customer for customer, _ in messages})
    return set(conn.scalars(_RECENTLY_SENT_TO, {"customers": customers, "since": since}))


def _statements() -> tuple[Select[Any], Update]:
    """Built once: ingest runs them for every message (see `_recently_sent_to`)."""
    d = Delivery.__table__.c
    recently = (
        select(d.customer_id)
        .where(
            d.customer_id.in_(bindparam("customers", expanding=True)),
            d.status == DeliveryStatus.SENT.value,
            d.sent_at > bindparam("since", type_=UtcDateTime),
        )
        .distinct()
    )
    at = bindparam("b_at", type_=UtcDateTime)
    mark = (
        update(Delivery.__table__)
        .where(
            d.customer_id == bindparam("b_customer"),
            d.status == DeliveryStatus.SENT.value,
            d.sent_at <= at,
            d.sent_at > bindparam("b_since", type_=UtcDateTime),
            or_(d.wrote_back_at.is_(None), d.wrote_back_at > at),
        )
        .values(wrote_back_at=at)
    )
    return recently, mark


_RECENTLY_SENT_TO, _MARK_WROTE_BACK = _statements()


def recompute_wrote_back(conn: Connection) -> None:
    """Set `wrote_back_at` of every sent delivery from the stored interactions.

    For deliveries and interactions written without ingest; on rows ingest
    wrote it gives the value ingest already set.
    """
    i = Interaction.__table__.c
    d = Delivery.__table__.c
    first_message = (
        select(func.min(i.sent_at))
        .where(
            i.customer_id == d.customer_id,
            i.direction == Direction.IN.value,
            i.automated.is_(False),
            i.sent_at >= d.sent_at,
            i.sent_at < _window_end(conn.dialect.name),
        )
        .scalar_subquery()
    )
    conn.execute(
        update(Delivery.__table__)
        .where(d.status == DeliveryStatus.SENT.value)
        .values(wrote_back_at=first_message)
    )


def _window_end(dialect: str) -> ColumnElement[Any]:
    """`deliveries.sent_at` + the window, comparable with `interactions.sent_at` here."""
    d = Delivery.__table__.c
    if dialect == "sqlite":
        # SQLite stores UTC timestamps as fixed-width 'YYYY-MM-DD HH:MM:SS.ffffff'
        # text, which sorts like time. Adding whole days to the date part and
        # keeping the rest gives the exact bound in the same format.
        return func.date(func.substr(d.sent_at, 1, 10), f"+{ENGAGEMENT_WINDOW.days} days").op("||")(
            func.substr(d.sent_at, 11)
        )
    return type_coerce(d.sent_at, DateTime(timezone=True)) + literal(ENGAGEMENT_WINDOW, Interval())
