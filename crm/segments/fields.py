"""The fields a segment rule may test: their ops, value checks, SQL and words.

Each field is one `Field`: the ops it accepts, how its value is checked, how
it compiles to SQL and how it reads in words. Every SQL fragment is a boolean
over the `customers` table that is never NULL (derived values are correlated
subqueries or EXISTS), so ``not`` is always the exact complement and SQLite
and PostgreSQL agree. New fields (RFM scores, value tier, churn risk) are one
entry each: here for a customer's profile and activity, in
`rapport.crm.segments.value_fields` for the stored customer value.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, func, not_, or_, select
from sqlalchemy.orm import InstrumentedAttribute

from rapport.crm.customers.identity import CHANNELS
from rapport.crm.customers.tags import normalise_tag
from rapport.crm.errors import InvalidInput, InvalidRule
from rapport.crm.models import (
    Conversation,
    Customer,
    CustomerTag,
    Direction,
    Identity,
    Interaction,
    PointsEntry,
)

MAX_DAYS = 36_500
MAX_COUNT = 1_000_000_000


Value = str | int | float | bool


def _attribute(name: str) -> InstrumentedAttribute[Any]:
    """A customer's mapped column by name: the fields below name their columns as text."""
    attribute: InstrumentedAttribute[Any] = getattr(Customer, name)
    return attribute


@dataclass(frozen=True, slots=True)
class Field:
    """What a rule may say about one field: its ops, its values, its SQL, its words."""

    ops: tuple[str, ...]
    check: Callable[[str, Any], Value]
    """Validate and normalise a value for this field; raise InvalidRule."""
    compile: Callable[[str, Any, datetime], ColumnElement[bool]]
    """A never-NULL boolean over `customers` for (op, value) at time `now`."""
    words: Callable[[str, Any], str]
    """The condition as a phrase that follows "customers …"."""


COMPARE: dict[str, Callable[[Any, Any], ColumnElement[bool]]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}
ORDER_OPS = ("<", "<=", ">", ">=")
NUMBER_OPS = ("<", "<=", ">", ">=", "==")
EQUALITY_OPS = ("==", "!=")
MEMBER_OPS = ("has", "has_not")


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def whole(value: int | float) -> int | float:
    return int(value) if float(value).is_integer() else value


def fmt_number(value: int | float) -> str:
    return str(whole(value))


def _check_tag(field: str, value: Any) -> str:
    try:
        return normalise_tag(value)
    except InvalidInput as exc:
        raise InvalidRule(f"value for {field!r}: {exc}") from None


def _check_channel(field: str, value: Any) -> str:
    if value not in CHANNELS:
        raise InvalidRule(
            f"value for {field!r} must be a channel name ({', '.join(CHANNELS)}), got {value!r}"
        )
    return str(value)


def check_days(field: str, value: Any) -> int | float:
    if not is_number(value) or not 0 <= value <= MAX_DAYS:
        raise InvalidRule(f"value for {field!r} must be a number ≥ 0 (at most {MAX_DAYS})")
    return whole(value)


def check_count(field: str, value: Any) -> int:
    if not is_number(value) or not float(value).is_integer() or not 0 <= value <= MAX_COUNT:
        raise InvalidRule(f"value for {field!r} must be a whole number ≥ 0")
    return int(value)


def _check_points(field: str, value: Any) -> int:
    if not is_number(value) or not float(value).is_integer() or abs(value) > MAX_COUNT:
        raise InvalidRule(f"value for {field!r} must be a whole number")
    return int(value)


def _check_polarity(field: str, value: Any) -> int | float:
    if not is_number(value) or not -1 <= value <= 1:
        raise InvalidRule(f"value for {field!r} must be a number from -1 to 1")
    return whole(value)


def _check_bool(field: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise InvalidRule(f"value for {field!r} must be true or false, got {value!r}")
    return value


def _tag_sql(op: str, value: str, now: datetime) -> ColumnElement[bool]:
    tagged = (
        select(CustomerTag.customer_id)
        .where(CustomerTag.customer_id == Customer.id, CustomerTag.tag == value)
        .correlate(Customer)
        .exists()
    )
    return tagged if op == "has" else not_(tagged)


def _channel_sql(op: str, value: str, now: datetime) -> ColumnElement[bool]:
    reachable = (
        select(Identity.id)
        .where(
            Identity.customer_id == Customer.id,
            Identity.channel == value,
            Identity.unreachable_at.is_(None),
        )
        .correlate(Customer)
        .exists()
    )
    return reachable if op == "has" else not_(reachable)


def _column_equality(column: str) -> Callable[[str, str, datetime], ColumnElement[bool]]:
    def compile_(op: str, value: str, now: datetime) -> ColumnElement[bool]:
        # COALESCE so a customer with no value is "!=" every channel, never NULL.
        return COMPARE[op](func.coalesce(_attribute(column), ""), value)

    return compile_


def _days_since(column: str) -> Callable[[str, float, datetime], ColumnElement[bool]]:
    """Days since a timestamp, compared via a cutoff so the column's index serves."""

    def compile_(op: str, value: float, now: datetime) -> ColumnElement[bool]:
        col = _attribute(column)
        cutoff = now - timedelta(days=value)
        # "days since t < N" is "t > now - N days"; the comparison turns round.
        flipped = {"<": ">", "<=": ">=", ">": "<", ">=": "<="}[op]
        test = COMPARE[flipped](col, cutoff)
        if op in ("<", "<="):
            return and_(col.is_not(None), test)  # never active: not recent
        return or_(col.is_(None), test)  # never active: inactive for any length

    return compile_


def _inbound_count() -> Any:
    return (
        select(func.count())
        .where(
            Interaction.customer_id == Customer.id,
            Interaction.direction == Direction.IN.value,
        )
        .correlate(Customer)
        .scalar_subquery()
    )


def _interactions_sql(op: str, value: int, now: datetime) -> ColumnElement[bool]:
    return COMPARE[op](_inbound_count(), value)


def _avg_sentiment_sql(op: str, value: float, now: datetime) -> ColumnElement[bool]:
    # EXISTS … GROUP BY … HAVING: no scored inbound message means no row, so no match.
    return (
        select(Interaction.customer_id)
        .where(
            Interaction.customer_id == Customer.id,
            Interaction.direction == Direction.IN.value,
            Interaction.polarity.is_not(None),
        )
        .group_by(Interaction.customer_id)
        .having(COMPARE[op](func.avg(Interaction.polarity), value))
        .correlate(Customer)
        .exists()
    )


def _consent_sql(op: str, value: bool, now: datetime) -> ColumnElement[bool]:
    consent = Customer.marketing_consent.expression
    return consent if value else not_(consent)


def points_balance() -> Any:
    """A customer's points balance as a correlated scalar subquery (0 with no entries)."""
    total = (
        select(func.sum(PointsEntry.delta))
        .where(PointsEntry.customer_id == Customer.id)
        .correlate(Customer)
        .scalar_subquery()
    )
    return func.coalesce(total, 0)


def _points_sql(op: str, value: int, now: datetime) -> ColumnElement[bool]:
    return COMPARE[op](points_balance(), value)


def _conversation_days(*only: Any) -> Callable[[str, float, datetime], ColumnElement[bool]]:
    """Days since the customer's last resolved conversation (of a kind); never counts as ever.

    "< N days" is an EXISTS of a resolution after the cutoff; "> N days" is its
    complement, so a customer with no resolved conversation is inactive for any length,
    as with `last_activity_days`.
    """

    def compile_(op: str, value: float, now: datetime) -> ColumnElement[bool]:
        cutoff = now - timedelta(days=value)
        col = Conversation.resolved_at
        # "< N" and ">= N" are exact complements, as are "<= N" and "> N".
        recent_op = ">" if op in ("<", ">=") else ">="
        recent = (
            select(Conversation.id)
            .where(
                Conversation.customer_id == Customer.id,
                col.is_not(None),
                COMPARE[recent_op](col, cutoff),
                *only,
            )
            .correlate(Customer)
            .exists()
        )
        return recent if op in ("<", "<=") else not_(recent)

    return compile_


def days_phrase(value: float) -> str:
    return f"{fmt_number(value)} day" + ("" if value == 1 else "s")


def comparison_words(
    noun: str, less: str = "fewer than", more: str = "more than"
) -> Callable[[str, Any], str]:
    def words(op: str, value: Any) -> str:
        phrase = {
            "<": less,
            "<=": "at most",
            ">": more,
            ">=": "at least",
            "==": "exactly",
            "!=": "other than",
        }[op]
        return f"with {phrase} {fmt_number(value)} {noun}"

    return words


def _last_activity_words(op: str, value: float) -> str:
    return {
        "<": f"last active less than {days_phrase(value)} ago",
        "<=": f"last active within {days_phrase(value)}",
        ">": f"inactive for more than {days_phrase(value)} (or never active)",
        ">=": f"inactive for at least {days_phrase(value)} (or never active)",
    }[op]


def _first_seen_words(op: str, value: float) -> str:
    return {
        "<": f"first seen less than {days_phrase(value)} ago",
        "<=": f"first seen within {days_phrase(value)}",
        ">": f"first seen more than {days_phrase(value)} ago",
        ">=": f"first seen at least {days_phrase(value)} ago",
    }[op]


def _sentiment_words(op: str, value: float) -> str:
    phrase = {"<": "below", "<=": "at most", ">": "above", ">=": "at least", "==": "exactly"}[op]
    return f"with average sentiment {phrase} {fmt_number(value)}"


def days_words(noun: str) -> Callable[[str, float], str]:
    def words(op: str, value: float) -> str:
        return {
            "<": f"whose {noun} was less than {days_phrase(value)} ago",
            "<=": f"whose {noun} was within {days_phrase(value)}",
            ">": f"whose {noun} was more than {days_phrase(value)} ago (or never)",
            ">=": f"whose {noun} was at least {days_phrase(value)} ago (or never)",
        }[op]

    return words


CUSTOMER_FIELDS: dict[str, Field] = {
    "tag": Field(
        MEMBER_OPS,
        _check_tag,
        _tag_sql,
        lambda op, v: f"tagged {v}" if op == "has" else f"not tagged {v}",
    ),
    "channel": Field(
        MEMBER_OPS,
        _check_channel,
        _channel_sql,
        lambda op, v: f"reachable by {v}" if op == "has" else f"not reachable by {v}",
    ),
    "last_channel": Field(
        EQUALITY_OPS,
        _check_channel,
        _column_equality("last_channel"),
        lambda op, v: f"last seen on {v}" if op == "==" else f"not last seen on {v}",
    ),
    "first_seen_channel": Field(
        EQUALITY_OPS,
        _check_channel,
        _column_equality("first_seen_channel"),
        lambda op, v: f"first seen on {v}" if op == "==" else f"not first seen on {v}",
    ),
    "last_activity_days": Field(
        ORDER_OPS, check_days, _days_since("last_activity_at"), _last_activity_words
    ),
    "first_seen_days": Field(ORDER_OPS, check_days, _days_since("created_at"), _first_seen_words),
    "interactions": Field(
        NUMBER_OPS, check_count, _interactions_sql, comparison_words("inbound messages")
    ),
    "avg_sentiment": Field(NUMBER_OPS, _check_polarity, _avg_sentiment_sql, _sentiment_words),
    "marketing_consent": Field(
        ("==",),
        _check_bool,
        _consent_sql,
        lambda op, v: "who consented to marketing" if v else "without marketing consent",
    ),
    "resolved_days": Field(
        ORDER_OPS,
        check_days,
        _conversation_days(),
        days_words("last resolved conversation"),
    ),
    "complaint_resolved_days": Field(
        ORDER_OPS,
        check_days,
        _conversation_days(Conversation.is_complaint.is_(True)),
        days_words("last resolved complaint"),
    ),
    "points": Field(
        NUMBER_OPS,
        _check_points,
        _points_sql,
        comparison_words("points", less="fewer than"),
    ),
}
