"""Survey answers and campaign replies, recognised while a message is ingested.

A customer answers a CSAT or NPS question however their channel lets them:
a button (its data is the score), a bare number, "5 - great service", or an
email reply quoting the question. The answer is tied to its delivery either
by the reply reference (In-Reply-To, the Telegram message the button sits
on) or, for a bare score, to the customer's latest unanswered survey. The
first answer counts; later ones are kept as ordinary messages.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, insert, select, update

from rapport.crm.campaigns.definitions import SURVEY_SCALES
from rapport.crm.integrations.events import EventType, emit
from rapport.crm.integrations.payloads import survey_answered
from rapport.crm.models import Campaign, Delivery, DeliveryStatus, SurveyResponse

ANSWER_WINDOW = timedelta(days=14)
"""How long after a survey a bare number still counts as its answer."""

SCALE_WORDS: dict[str, dict[int, str]] = {
    "csat": {
        1: "very dissatisfied",
        2: "dissatisfied",
        3: "neutral",
        4: "satisfied",
        5: "very satisfied",
    },
    "nps": {0: "not at all likely", 10: "extremely likely"},
}
"""What the numbers mean, shown beside them (the standard CSAT and NPS wordings)."""


def survey_choices(kind: str) -> tuple[tuple[str, str], ...]:
    """The scale as (label, data) choices: "1 = very dissatisfied" … "5 = very satisfied".

    The data stays the bare number (a tapped button's answer); email lists the
    labels, and the reply "4" still means 4.
    """
    low, high = SURVEY_SCALES[kind]
    words = SCALE_WORDS.get(kind, {})
    return tuple(
        (f"{n} = {words[n]}" if n in words else str(n), str(n)) for n in range(low, high + 1)
    )


_SCORE = re.compile(r"\s*(\d{1,2})(?:\s*/\s*(?:5|10))?(?=$|[\s\-–—:,.!)])[\s\-–—:,.!)]*(.*)", re.S)


@dataclass(frozen=True, slots=True)
class Reply:
    """An ingested inbound message that may answer a campaign message."""

    customer_id: int
    interaction_id: int
    text: str
    in_reply_to: str | None
    polarity: float | None
    sent_at: datetime


def parse_answer(text: str, scale: tuple[int, int]) -> tuple[int, str | None] | None:
    """(score, comment) when the text starts with a score on the scale, else None."""
    match = _SCORE.match(text)
    if match is None:
        return None
    score = int(match.group(1))
    low, high = scale
    if not low <= score <= high:
        return None
    comment = match.group(2).strip() or None
    return score, comment


def attach_replies(conn: Connection, replies: Sequence[Reply], now: datetime) -> int:
    """Record survey responses and participation for these messages; returns answers stored."""
    if not replies:
        return 0
    referenced = {r.in_reply_to for r in replies if r.in_reply_to}
    by_key: dict[tuple[int, str], tuple[int, str | None]] = {}
    if referenced:
        rows = conn.execute(
            select(Delivery.id, Delivery.customer_id, Delivery.message_key, Campaign.survey_kind)
            .join(Campaign, Campaign.id == Delivery.campaign_id)
            .where(
                Delivery.message_key.in_(referenced), Delivery.status == DeliveryStatus.SENT.value
            )
        )
        by_key = {(r.customer_id, r.message_key): (r.id, r.survey_kind) for r in rows}

    scored_customers = {r.customer_id for r in replies if _SCORE.match(r.text)}
    latest_survey: dict[int, tuple[int, str]] = {}
    if scored_customers:
        rows = conn.execute(
            select(Delivery.id, Delivery.customer_id, Campaign.survey_kind)
            .join(Campaign, Campaign.id == Delivery.campaign_id)
            .where(
                Delivery.customer_id.in_(scored_customers),
                Delivery.status == DeliveryStatus.SENT.value,
                Delivery.responded_at.is_(None),
                Campaign.survey_kind.is_not(None),
                Delivery.sent_at >= now - ANSWER_WINDOW,
            )
            .order_by(Delivery.sent_at, Delivery.id)
        )
        latest_survey = {r.customer_id: (r.id, r.survey_kind) for r in rows}

    answered: set[int] = set()
    events: list[dict[str, object]] = []
    stored = 0
    for reply in replies:
        target = by_key.get((reply.customer_id, reply.in_reply_to or ""))
        if target is None and reply.customer_id in latest_survey:
            candidate = latest_survey[reply.customer_id]
            if parse_answer(reply.text, SURVEY_SCALES[candidate[1]]) is not None:
                target = candidate
        if target is None:
            continue
        delivery_id, survey_kind = target
        conn.execute(
            update(Delivery)
            .where(Delivery.id == delivery_id, Delivery.responded_at.is_(None))
            .values(responded_at=reply.sent_at)
        )
        if not survey_kind or delivery_id in answered:
            continue
        answer = parse_answer(reply.text, SURVEY_SCALES[survey_kind])
        if answer is None or _has_response(conn, delivery_id):
            continue
        score, comment = answer
        conn.execute(
            insert(SurveyResponse).values(
                delivery_id=delivery_id,
                interaction_id=reply.interaction_id,
                score=score,
                comment=comment,
                polarity=reply.polarity if comment else None,
                created_at=now,
            )
        )
        answered.add(delivery_id)
        stored += 1
        events.append(survey_answered(
            customer_id=reply.customer_id, interaction_id=reply.interaction_id, score=score,
            kind=survey_kind, delivery_id=delivery_id, has_comment=comment is not None,
        ))  # fmt: skip
    emit(conn, EventType.SURVEY_ANSWERED, events, now=now)
    return stored


def _has_response(conn: Connection, delivery_id: int) -> bool:
    return (
        conn.scalar(select(SurveyResponse.id).where(SurveyResponse.delivery_id == delivery_id))
        is not None
    )
