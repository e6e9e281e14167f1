"""Segment fields over conversations: last resolved conversation and last resolved complaint."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from rapport.crm.database import Database
from rapport.crm.models import Conversation, ConversationStatus
from rapport.crm.segments.rules import AllOf, Not, describe, parse_rule
from tests.support.segment_data import NOW, Person, matching, store


def cond(field: str, op: str, value: Any) -> dict[str, Any]:
    return {"field": field, "op": op, "value": value}


def conversation(db: Database, customer_id: int, resolved_hours_ago: int | None, complaint: bool):
    with db.transaction() as session:
        session.add(
            Conversation(
                customer_id=customer_id,
                channel="email",
                status=ConversationStatus.OPEN
                if resolved_hours_ago is None
                else ConversationStatus.RESOLVED,
                is_complaint=complaint,
                opened_at=NOW - timedelta(days=20),
                last_message_at=NOW - timedelta(days=20),
                resolved_at=None
                if resolved_hours_ago is None
                else NOW - timedelta(hours=resolved_hours_ago),
            )
        )


def pick(db: Database, data: dict[str, Any]) -> set[int]:
    rule = parse_rule(data)
    picked = matching(db, rule)
    assert matching(db, Not(rule)) == matching(db, AllOf(())) - picked
    return picked


def test_resolved_and_complaint_days(db: Database) -> None:
    today, last_week, complaint, open_only, never = (
        p.id for p in store(db, [Person() for _ in range(5)])
    )
    conversation(db, today, 5, complaint=False)
    conversation(db, last_week, 24 * 7 + 1, complaint=False)
    conversation(db, complaint, 24 * 3 + 2, complaint=True)
    conversation(db, open_only, None, complaint=True)

    assert pick(db, cond("resolved_days", "<", 1)) == {today}
    assert pick(db, cond("resolved_days", "<=", 7)) == {today, complaint}
    assert pick(db, cond("resolved_days", ">", 7)) == {last_week, open_only, never}
    assert pick(db, cond("resolved_days", ">=", 1)) == {last_week, complaint, open_only, never}
    # the complaint recovery window: resolved between 3 and 4 days ago
    window = {"all": [cond("complaint_resolved_days", "<", 4),
                      cond("complaint_resolved_days", ">=", 3)]}  # fmt: skip
    assert pick(db, window) == {complaint}
    assert pick(db, cond("complaint_resolved_days", "<", 3)) == set()


def test_words() -> None:
    assert describe(parse_rule(cond("resolved_days", "<", 1))) == (
        "customers whose last resolved conversation was less than 1 day ago"
    )
    assert "last resolved complaint" in describe(
        parse_rule(cond("complaint_resolved_days", ">=", 3))
    )
