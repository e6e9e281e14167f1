"""Segment fields over a customer's stored value (rapport.crm.value.scores).

They read the `customer_values` row as of the last recompute: a customer
whose value was never computed matches none of them.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, or_, select

from rapport.crm.errors import InvalidRule
from rapport.crm.models import Customer, CustomerValue
from rapport.crm.segments.fields import (
    COMPARE,
    EQUALITY_OPS,
    NUMBER_OPS,
    ORDER_OPS,
    Field,
    check_count,
    check_days,
    comparison_words,
    days_words,
    fmt_number,
    is_number,
    whole,
)

VALUE_TIERS = ("gold", "silver", "bronze", "none")
TIER_CHANGES = ("up", "down")
_TIER_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,19}$")


def _check_score(field: str, value: Any) -> int:
    top = 15 if field == "rfm_score" else 5
    if not is_number(value) or not float(value).is_integer() or not 0 <= value <= top:
        raise InvalidRule(f"value for {field!r} must be a whole number from 0 to {top}")
    return int(value)


def _check_share(field: str, value: Any) -> int | float:
    if not is_number(value) or not 0 <= value <= 1:
        raise InvalidRule(f"value for {field!r} must be a number from 0 to 1")
    return whole(value)


def _check_money(field: str, value: Any) -> int | float:
    if not is_number(value) or not 0 <= value <= 1e12:
        raise InvalidRule(f"value for {field!r} must be an amount ≥ 0")
    return whole(value)


def _check_choice(choices: tuple[str, ...]) -> Callable[[str, Any], str]:
    def check(field: str, value: Any) -> str:
        text = value.strip().lower() if isinstance(value, str) else None
        if text not in choices:
            raise InvalidRule(f"value for {field!r} must be one of {', '.join(choices)}")
        return text

    return check


def _check_tier_name(field: str, value: Any) -> str:
    text = value.strip().lower() if isinstance(value, str) else ""
    if not _TIER_NAME.match(text):
        raise InvalidRule(f"value for {field!r} must be a tier name such as member, silver, gold")
    return text


def _has_value(*conditions: ColumnElement[bool]) -> ColumnElement[bool]:
    """EXISTS over the customer's value row: no row (never computed) never matches."""
    return (
        select(CustomerValue.customer_id)
        .where(CustomerValue.customer_id == Customer.id, *conditions)
        .correlate(Customer)
        .exists()
    )


def _value_compare(column: str) -> Callable[[str, Any, datetime], ColumnElement[bool]]:
    def compile_(op: str, value: Any, now: datetime) -> ColumnElement[bool]:
        col = getattr(CustomerValue, column)
        return _has_value(col.is_not(None), COMPARE[op](col, value))

    return compile_


def _value_days_since(column: str) -> Callable[[str, float, datetime], ColumnElement[bool]]:
    """Days since a stored timestamp; none stored counts as "for ever" (like last_activity)."""

    def compile_(op: str, value: float, now: datetime) -> ColumnElement[bool]:
        col = getattr(CustomerValue, column)
        cutoff = now - timedelta(days=value)
        flipped = {"<": ">", "<=": ">=", ">": "<", ">=": "<="}[op]
        if op in ("<", "<="):
            return _has_value(col.is_not(None), COMPARE[flipped](col, cutoff))
        return _has_value(or_(col.is_(None), COMPARE[flipped](col, cutoff)))

    return compile_


def _value_words(noun: str) -> Callable[[str, Any], str]:
    def words(op: str, value: Any) -> str:
        phrase = {"<": "below", "<=": "at most", ">": "above", ">=": "at least", "==": "exactly",
                  "!=": "other than"}[op]  # fmt: skip
        shown = value if isinstance(value, str) else fmt_number(value)
        return f"with {noun} {phrase} {shown}"

    return words


def _is_words(noun: str) -> Callable[[str, Any], str]:
    return lambda op, v: f"whose {noun} is {v}" if op == "==" else f"whose {noun} is not {v}"


VALUE_FIELDS: dict[str, Field] = {
    **{
        name: Field(NUMBER_OPS, _check_score, _value_compare(name), _value_words(words))
        for name, words in (
            ("rfm_score", "RFM score"),
            ("recency_score", "recency score"),
            ("frequency_score", "frequency score"),
            ("monetary_score", "monetary score"),
        )
    },
    "value_tier": Field(
        EQUALITY_OPS,
        _check_choice(VALUE_TIERS),
        _value_compare("value_tier"),
        _is_words("value tier"),
    ),
    "churn_risk": Field(
        NUMBER_OPS, _check_share, _value_compare("churn_risk"), _value_words("churn risk")
    ),
    "engagement": Field(
        NUMBER_OPS, _check_share, _value_compare("engagement"), _value_words("engagement")
    ),
    "historical_value": Field(
        NUMBER_OPS,
        _check_money,
        _value_compare("historical_value"),
        _value_words("total spend"),
    ),
    "predicted_value": Field(
        NUMBER_OPS,
        _check_money,
        _value_compare("predicted_value"),
        _value_words("predicted 12-month value"),
    ),
    "orders": Field(NUMBER_OPS, check_count, _value_compare("orders"), comparison_words("orders")),
    "days_since_order": Field(
        ORDER_OPS, check_days, _value_days_since("last_order_at"), days_words("last order")
    ),
    "tier": Field(
        EQUALITY_OPS, _check_tier_name, _value_compare("loyalty_tier"), _is_words("loyalty tier")
    ),
    "tier_change": Field(
        EQUALITY_OPS,
        _check_choice(TIER_CHANGES),
        _value_compare("tier_change"),
        lambda op, v: (
            f"whose last tier change was {v}"
            if op == "=="
            else f"whose last tier change was not {v}"
        ),
    ),
    "tier_changed_days": Field(
        ORDER_OPS,
        check_days,
        _value_days_since("tier_changed_at"),
        days_words("last tier change"),
    ),
}
