"""Segments: saved, named rules that pick customers, evaluated in SQL.

A rule is data, not code: JSON a person can write, the CLI can store and the
bot can show back in words. A condition is
``{"field": F, "op": OP, "value": V}``; ``{"all": [...]}``, ``{"any": [...]}``
and ``{"not": {...}}`` combine conditions and nest freely.

Rules become one boolean SQL expression over the `customers` table (derived
values are correlated subqueries or EXISTS), so a campaign can select its
audience with one INSERT … SELECT however many customers there are. Every
condition compiles to an expression that is never NULL, so ``not`` is always
the exact complement and SQLite and PostgreSQL agree.

New fields (RFM scores, value tier, churn risk) are one entry each in
`FIELDS`: the ops they accept, how their value is checked, how they compile
to SQL and how they read in words.
"""

from __future__ import annotations

import json
import math
import operator
import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeAlias

from sqlalchemy import ColumnElement, Select, and_, func, not_, or_, select, true
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from rapport.crm.clock import utcnow
from rapport.crm.customers.identity import CHANNELS
from rapport.crm.customers.profiles import CustomerSummary, customer_summaries
from rapport.crm.customers.tags import normalise_tag
from rapport.crm.database import Database
from rapport.crm.errors import Conflict, InvalidInput, InvalidRule, NotFound
from rapport.crm.models import (
    Campaign,
    Conversation,
    Customer,
    CustomerTag,
    CustomerValue,
    Direction,
    Identity,
    Interaction,
    PointsEntry,
    Segment,
)
from rapport.crm.staff.audit import Actor, record

MAX_RULE_CHARS = 20_000
"""Longest rule text accepted; far above any rule a person writes."""
MAX_DEPTH = 8
"""Deepest nesting of combinators accepted."""
MAX_PARTS = 200
"""Most conditions and combinators in one rule."""
MAX_DAYS = 36_500
MAX_COUNT = 1_000_000_000
MAX_SAMPLE = 100
MAX_NAME = 80

customers = Customer.__table__
tags_t = CustomerTag.__table__
identities_t = Identity.__table__
interactions_t = Interaction.__table__
points_t = PointsEntry.__table__
values_t = CustomerValue.__table__
conversations_t = Conversation.__table__


# --- The rule as data ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Condition:
    """One test on one field, e.g. tag has "vip"."""

    field: str
    op: str
    value: str | int | float | bool


@dataclass(frozen=True, slots=True)
class AllOf:
    """Every part holds; an empty list holds for every customer."""

    rules: tuple[Rule, ...]


@dataclass(frozen=True, slots=True)
class AnyOf:
    """At least one part holds."""

    rules: tuple[Rule, ...]


@dataclass(frozen=True, slots=True)
class Not:
    """The part does not hold."""

    rule: Rule


Rule: TypeAlias = Condition | AllOf | AnyOf | Not

Value = str | int | float | bool


# --- Fields ---------------------------------------------------------------------------


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


COMPARE: dict[str, Callable[[Any, Any], Any]] = {
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


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _whole(value: int | float) -> int | float:
    return int(value) if float(value).is_integer() else value


def _fmt(value: int | float) -> str:
    return str(_whole(value))


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


def _check_days(field: str, value: Any) -> int | float:
    if not _is_number(value) or not 0 <= value <= MAX_DAYS:
        raise InvalidRule(f"value for {field!r} must be a number ≥ 0 (at most {MAX_DAYS})")
    return _whole(value)


def _check_count(field: str, value: Any) -> int:
    if not _is_number(value) or not float(value).is_integer() or not 0 <= value <= MAX_COUNT:
        raise InvalidRule(f"value for {field!r} must be a whole number ≥ 0")
    return int(value)


def _check_points(field: str, value: Any) -> int:
    if not _is_number(value) or not float(value).is_integer() or abs(value) > MAX_COUNT:
        raise InvalidRule(f"value for {field!r} must be a whole number")
    return int(value)


def _check_polarity(field: str, value: Any) -> int | float:
    if not _is_number(value) or not -1 <= value <= 1:
        raise InvalidRule(f"value for {field!r} must be a number from -1 to 1")
    return _whole(value)


def _check_bool(field: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise InvalidRule(f"value for {field!r} must be true or false, got {value!r}")
    return value


def _tag_sql(op: str, value: str, now: datetime) -> ColumnElement[bool]:
    tagged = (
        select(tags_t.c.customer_id)
        .where(tags_t.c.customer_id == customers.c.id, tags_t.c.tag == value)
        .correlate(customers)
        .exists()
    )
    return tagged if op == "has" else not_(tagged)


def _channel_sql(op: str, value: str, now: datetime) -> ColumnElement[bool]:
    reachable = (
        select(identities_t.c.id)
        .where(
            identities_t.c.customer_id == customers.c.id,
            identities_t.c.channel == value,
            identities_t.c.unreachable_at.is_(None),
        )
        .correlate(customers)
        .exists()
    )
    return reachable if op == "has" else not_(reachable)


def _column_equality(column: str) -> Callable[[str, str, datetime], ColumnElement[bool]]:
    def compile_(op: str, value: str, now: datetime) -> ColumnElement[bool]:
        # COALESCE so a customer with no value is "!=" every channel, never NULL.
        return COMPARE[op](func.coalesce(customers.c[column], ""), value)

    return compile_


def _days_since(column: str) -> Callable[[str, float, datetime], ColumnElement[bool]]:
    """Days since a timestamp, compared via a cutoff so the column's index serves."""

    def compile_(op: str, value: float, now: datetime) -> ColumnElement[bool]:
        col = customers.c[column]
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
            interactions_t.c.customer_id == customers.c.id,
            interactions_t.c.direction == Direction.IN.value,
        )
        .correlate(customers)
        .scalar_subquery()
    )


def _interactions_sql(op: str, value: int, now: datetime) -> ColumnElement[bool]:
    return COMPARE[op](_inbound_count(), value)


def _avg_sentiment_sql(op: str, value: float, now: datetime) -> ColumnElement[bool]:
    # EXISTS … GROUP BY … HAVING: no scored inbound message means no row, so no match.
    return (
        select(interactions_t.c.customer_id)
        .where(
            interactions_t.c.customer_id == customers.c.id,
            interactions_t.c.direction == Direction.IN.value,
            interactions_t.c.polarity.is_not(None),
        )
        .group_by(interactions_t.c.customer_id)
        .having(COMPARE[op](func.avg(interactions_t.c.polarity), value))
        .correlate(customers)
        .exists()
    )


def _consent_sql(op: str, value: bool, now: datetime) -> ColumnElement[bool]:
    consent = customers.c.marketing_consent
    return consent if value else not_(consent)


def points_balance() -> Any:
    """A customer's points balance as a correlated scalar subquery (0 with no entries)."""
    total = (
        select(func.sum(points_t.c.delta))
        .where(points_t.c.customer_id == customers.c.id)
        .correlate(customers)
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
        col = conversations_t.c.resolved_at
        # "< N" and ">= N" are exact complements, as are "<= N" and "> N".
        recent_op = ">" if op in ("<", ">=") else ">="
        recent = (
            select(conversations_t.c.id)
            .where(
                conversations_t.c.customer_id == customers.c.id,
                col.is_not(None),
                COMPARE[recent_op](col, cutoff),
                *only,
            )
            .correlate(customers)
            .exists()
        )
        return recent if op in ("<", "<=") else not_(recent)

    return compile_


def _days(value: float) -> str:
    return f"{_fmt(value)} day" + ("" if value == 1 else "s")


def _comparison_words(
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
        return f"with {phrase} {_fmt(value)} {noun}"

    return words


def _last_activity_words(op: str, value: float) -> str:
    return {
        "<": f"last active less than {_days(value)} ago",
        "<=": f"last active within {_days(value)}",
        ">": f"inactive for more than {_days(value)} (or never active)",
        ">=": f"inactive for at least {_days(value)} (or never active)",
    }[op]


def _first_seen_words(op: str, value: float) -> str:
    return {
        "<": f"first seen less than {_days(value)} ago",
        "<=": f"first seen within {_days(value)}",
        ">": f"first seen more than {_days(value)} ago",
        ">=": f"first seen at least {_days(value)} ago",
    }[op]


def _sentiment_words(op: str, value: float) -> str:
    phrase = {"<": "below", "<=": "at most", ">": "above", ">=": "at least", "==": "exactly"}[op]
    return f"with average sentiment {phrase} {_fmt(value)}"


# --- Customer value fields (rapport.crm.value.scores; as of the last recompute) ----

VALUE_TIERS = ("gold", "silver", "bronze", "none")
TIER_CHANGES = ("up", "down")
_TIER_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,19}$")


def _check_score(field: str, value: Any) -> int:
    top = 15 if field == "rfm_score" else 5
    if not _is_number(value) or not float(value).is_integer() or not 0 <= value <= top:
        raise InvalidRule(f"value for {field!r} must be a whole number from 0 to {top}")
    return int(value)


def _check_share(field: str, value: Any) -> int | float:
    if not _is_number(value) or not 0 <= value <= 1:
        raise InvalidRule(f"value for {field!r} must be a number from 0 to 1")
    return _whole(value)


def _check_money(field: str, value: Any) -> int | float:
    if not _is_number(value) or not 0 <= value <= 1e12:
        raise InvalidRule(f"value for {field!r} must be an amount ≥ 0")
    return _whole(value)


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
        select(values_t.c.customer_id)
        .where(values_t.c.customer_id == customers.c.id, *conditions)
        .correlate(customers)
        .exists()
    )


def _value_compare(column: str) -> Callable[[str, Any, datetime], ColumnElement[bool]]:
    def compile_(op: str, value: Any, now: datetime) -> ColumnElement[bool]:
        col = values_t.c[column]
        return _has_value(col.is_not(None), COMPARE[op](col, value))

    return compile_


def _value_days_since(column: str) -> Callable[[str, float, datetime], ColumnElement[bool]]:
    """Days since a stored timestamp; none stored counts as "for ever" (like last_activity)."""

    def compile_(op: str, value: float, now: datetime) -> ColumnElement[bool]:
        col = values_t.c[column]
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
        shown = value if isinstance(value, str) else _fmt(value)
        return f"with {noun} {phrase} {shown}"

    return words


def _days_words(noun: str) -> Callable[[str, float], str]:
    def words(op: str, value: float) -> str:
        return {
            "<": f"whose {noun} was less than {_days(value)} ago",
            "<=": f"whose {noun} was within {_days(value)}",
            ">": f"whose {noun} was more than {_days(value)} ago (or never)",
            ">=": f"whose {noun} was at least {_days(value)} ago (or never)",
        }[op]

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
    "orders": Field(
        NUMBER_OPS, _check_count, _value_compare("orders"), _comparison_words("orders")
    ),
    "days_since_order": Field(
        ORDER_OPS, _check_days, _value_days_since("last_order_at"), _days_words("last order")
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
        _check_days,
        _value_days_since("tier_changed_at"),
        _days_words("last tier change"),
    ),
}


FIELDS: dict[str, Field] = {
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
        ORDER_OPS, _check_days, _days_since("last_activity_at"), _last_activity_words
    ),
    "first_seen_days": Field(ORDER_OPS, _check_days, _days_since("created_at"), _first_seen_words),
    "interactions": Field(
        NUMBER_OPS, _check_count, _interactions_sql, _comparison_words("inbound messages")
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
        _check_days,
        _conversation_days(),
        _days_words("last resolved conversation"),
    ),
    "complaint_resolved_days": Field(
        ORDER_OPS,
        _check_days,
        _conversation_days(conversations_t.c.is_complaint.is_(True)),
        _days_words("last resolved complaint"),
    ),
    "points": Field(
        NUMBER_OPS,
        _check_points,
        _points_sql,
        _comparison_words("points", less="fewer than"),
    ),
    **VALUE_FIELDS,
}


# --- Parsing --------------------------------------------------------------------------


def _reject_constant(name: str) -> Any:
    raise InvalidRule(f"rule contains {name}, which is not a number")


def _where(path: str) -> str:
    return f" (in {path})" if path else ""


class _Budget:
    def __init__(self) -> None:
        self.parts = 0

    def spend(self) -> None:
        self.parts += 1
        if self.parts > MAX_PARTS:
            raise InvalidRule(f"rule has more than {MAX_PARTS} parts")


def _parse_condition(node: Mapping[str, Any], path: str) -> Condition:
    missing = [k for k in ("field", "op", "value") if k not in node]
    if missing:
        raise InvalidRule(f"condition lacks {', '.join(map(repr, missing))}{_where(path)}")
    extra = sorted(str(k) for k in node if k not in ("field", "op", "value"))
    if extra:
        raise InvalidRule(
            f"unexpected key(s) {', '.join(map(repr, extra))} in condition{_where(path)}"
        )
    name, op, value = node["field"], node["op"], node["value"]
    field = FIELDS.get(name) if isinstance(name, str) else None
    if field is None:
        known = ", ".join(sorted(FIELDS))
        raise InvalidRule(f"unknown field {name!r}; known: {known}{_where(path)}")
    if not isinstance(op, str) or op not in field.ops:
        raise InvalidRule(
            f"op {op!r} does not apply to field {name!r} (use {', '.join(field.ops)}){_where(path)}"
        )
    try:
        checked = field.check(name, value)
    except InvalidRule as exc:
        raise InvalidRule(f"{exc}{_where(path)}") from None
    return Condition(name, op, checked)


def _parse(node: Any, depth: int, path: str, budget: _Budget) -> Rule:
    if depth > MAX_DEPTH:
        raise InvalidRule(f"rule nests deeper than {MAX_DEPTH} levels")
    budget.spend()
    if not isinstance(node, Mapping):
        raise InvalidRule(
            'expected a condition {"field": …, "op": …, "value": …} or one of '
            f'{{"all": [...]}}, {{"any": [...]}}, {{"not": {{...}}}}, '
            f"got {type(node).__name__}{_where(path)}"
        )
    if "field" in node:
        return _parse_condition(node, path)
    if len(node) != 1 or next(iter(node)) not in ("all", "any", "not"):
        keys = ", ".join(repr(str(k)) for k in node) or "none"
        raise InvalidRule(
            f"a rule is a condition (field, op, value) or exactly one of 'all', 'any', 'not'; "
            f"got keys {keys}{_where(path)}"
        )
    kind, inner = next(iter(node.items()))
    here = f"{path}.{kind}" if path else kind
    if kind == "not":
        return Not(_parse(inner, depth + 1, here, budget))
    if not isinstance(inner, list):
        raise InvalidRule(f"{kind!r} takes a list of rules{_where(path)}")
    if kind == "any" and not inner:
        raise InvalidRule(f"'any' needs at least one rule{_where(path)}")
    parts = tuple(_parse(r, depth + 1, f"{here}[{i}]", budget) for i, r in enumerate(inner))
    return AllOf(parts) if kind == "all" else AnyOf(parts)


def parse_rule(data: str | bytes | Mapping[str, Any] | Rule) -> Rule:
    """A validated rule from JSON text or decoded JSON; InvalidRule names what is wrong."""
    if isinstance(data, Condition | AllOf | AnyOf | Not):
        return parse_rule(rule_to_data(data))
    if isinstance(data, str | bytes):
        if len(data) > MAX_RULE_CHARS:
            raise InvalidRule(f"rule is longer than {MAX_RULE_CHARS} characters")
        try:
            data = json.loads(data, parse_constant=_reject_constant)
        except RecursionError:
            raise InvalidRule(f"rule nests deeper than {MAX_DEPTH} levels") from None
        except ValueError as exc:
            raise InvalidRule(f"rule is not valid JSON: {exc}") from None
    return _parse(data, 1, "", _Budget())


def rule_to_data(rule: Rule) -> dict[str, Any]:
    """The rule as plain JSON data, the form `parse_rule` reads."""
    match rule:
        case Condition(field, op, value):
            return {"field": field, "op": op, "value": value}
        case AllOf(parts):
            return {"all": [rule_to_data(r) for r in parts]}
        case AnyOf(parts):
            return {"any": [rule_to_data(r) for r in parts]}
        case Not(inner):
            return {"not": rule_to_data(inner)}
    raise TypeError(f"not a rule: {rule!r}")


def rule_to_json(rule: Rule) -> str:
    """The canonical JSON text stored in `segments.rule`."""
    return json.dumps(rule_to_data(rule), ensure_ascii=False, separators=(",", ":"))


# --- SQL and words --------------------------------------------------------------------


def _compile(rule: Rule, now: datetime) -> ColumnElement[bool]:
    match rule:
        case Condition(field, op, value):
            return FIELDS[field].compile(op, value, now)
        case AllOf(parts):
            return and_(true(), *(_compile(r, now) for r in parts))
        case AnyOf(parts):
            return or_(*(_compile(r, now) for r in parts))
        case Not(inner):
            return not_(_compile(inner, now))
    raise TypeError(f"not a rule: {rule!r}")


def rule_condition(rule: Rule, now: datetime) -> ColumnElement[bool]:
    """The rule as a boolean over `Customer.__table__`, for ``select(...).where(...)``.

    Erased customers never match, whatever the rule says. `now` fixes what
    "days since" means, so one run of a campaign sees one consistent audience.
    """
    if now.tzinfo is None:
        raise ValueError("rule_condition needs a timezone-aware now")
    return and_(customers.c.erased_at.is_(None), _compile(rule, now))


def member_ids(rule: Rule, now: datetime) -> Select[tuple[int]]:
    """SELECT of the ids of the customers the rule picks at `now`."""
    return select(customers.c.id).where(rule_condition(rule, now))


def _words(rule: Rule, nested: bool) -> str:
    match rule:
        case Condition(field, op, value):
            return FIELDS[field].words(op, value)
        case AllOf(parts) | AnyOf(parts):
            if not parts:
                return "(any customer)"
            joiner = " and " if isinstance(rule, AllOf) else " or "
            text = joiner.join(_words(r, nested=True) for r in parts)
            return f"({text})" if nested and len(parts) > 1 else text
        case Not(inner):
            return f"not {_words(inner, nested=True)}"
    raise TypeError(f"not a rule: {rule!r}")


def describe(rule: Rule) -> str:
    """The rule in words, e.g. "customers tagged vip and last active within 30 days"."""
    if isinstance(rule, AllOf) and not rule.rules:
        return "all customers"
    return f"customers {_words(rule, nested=False)}"


# --- Saved segments -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SegmentPreview:
    count: int
    sample: list[CustomerSummary]


_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]")


def _clean_name(name: str) -> str:
    value = unicodedata.normalize("NFC", name).strip() if isinstance(name, str) else ""
    if not value or len(value) > MAX_NAME or _CONTROL.search(value):
        raise InvalidInput(f"a segment name is 1–{MAX_NAME} characters of text, got {name!r}")
    if value.isdigit():
        raise InvalidInput(f"a segment name cannot be only digits (ids look like that): {name!r}")
    return value


def _find(session: Session, name_or_id: str | int) -> Segment:
    if isinstance(name_or_id, int) or str(name_or_id).strip().isdigit():
        segment = session.get(Segment, int(name_or_id))
        if segment is None:
            raise NotFound(f"no segment with id {name_or_id}")
        return segment
    name = unicodedata.normalize("NFC", str(name_or_id)).strip()
    segment = session.scalar(select(Segment).where(func.lower(Segment.name) == name.lower()))
    if segment is None:
        raise NotFound(f"no segment named {name!r}")
    return segment


def create_segment(
    db: Database,
    name: str,
    rule: str | Mapping[str, Any] | Rule,
    description: str | None = None,
) -> Segment:
    """Save a named rule; the name is unique whatever its case."""
    clean = _clean_name(name)
    parsed = parse_rule(rule)
    text = (description or "").strip() or None
    try:
        with db.transaction() as session:
            taken = session.scalar(
                select(Segment.id).where(func.lower(Segment.name) == clean.lower())
            )
            if taken is not None:
                raise Conflict(f"a segment named {clean!r} already exists")
            segment = Segment(name=clean, description=text, rule=rule_to_json(parsed))
            session.add(segment)
            session.flush()
            return segment
    except IntegrityError:  # a concurrent create of the same name won the race
        raise Conflict(f"a segment named {clean!r} already exists") from None


def list_segments(db: Database) -> list[Segment]:
    """All saved segments, by name."""
    with db.session() as session:
        return list(session.scalars(select(Segment).order_by(Segment.name)))


def get_segment(db: Database, name_or_id: str | int) -> Segment:
    """One segment by id or by name (case-insensitive); NotFound otherwise."""
    with db.session() as session:
        return _find(session, name_or_id)


def segment_rule(segment: Segment) -> Rule:
    """The parsed rule of a stored segment."""
    return parse_rule(segment.rule)


def count_members(db: Database, name_or_id: str | int, now: datetime | None = None) -> int:
    """How many customers the segment picks now; shows no personal data, so not audited."""
    segment = get_segment(db, name_or_id)
    condition = rule_condition(segment_rule(segment), now or utcnow())
    with db.session() as session:
        return session.scalar(select(func.count()).select_from(customers).where(condition)) or 0


def delete_segment(db: Database, name_or_id: str | int) -> None:
    """Delete a segment no campaign uses; campaigns keep their audience otherwise."""
    with db.transaction() as session:
        segment = _find(session, name_or_id)
        using = select(Campaign.name).where(Campaign.segment_id == segment.id)
        users = list(session.scalars(using.order_by(Campaign.name)))
        if users:
            raise Conflict(
                f"segment {segment.name!r} is used by campaign(s) {', '.join(users)}; "
                "delete or re-target them first"
            )
        session.delete(segment)


def preview(
    db: Database,
    actor: Actor,
    name_or_id: str | int,
    sample: int = 10,
    now: datetime | None = None,
) -> SegmentPreview:
    """How many customers a segment picks and who some of them are; audited (it shows names)."""
    if not 0 <= sample <= MAX_SAMPLE:
        raise InvalidInput(f"sample size must be from 0 to {MAX_SAMPLE}, got {sample}")
    segment = get_segment(db, name_or_id)
    condition = rule_condition(segment_rule(segment), now or utcnow())
    with db.session() as session:
        count = session.scalar(select(func.count()).select_from(customers).where(condition)) or 0
    shown = customer_summaries(db, [condition], sample) if sample else []
    with db.transaction() as session:
        record(
            session,
            actor,
            "segment.preview",
            detail=(
                f"segment {segment.id} {segment.name!r}: {count} match; "
                f"shown {[c.id for c in shown]}"
            ),
        )
    return SegmentPreview(count=count, sample=shown)


def segments_of(db: Database, customer_id: int, now: datetime | None = None) -> list[str]:
    """Names of the segments that pick this customer now, for a profile (one query each)."""
    now = now or utcnow()
    found: list[str] = []
    with db.session() as session:
        for segment in session.scalars(select(Segment).order_by(Segment.name)):
            picked = select(customers.c.id).where(
                customers.c.id == customer_id, rule_condition(segment_rule(segment), now)
            )
            if session.scalar(picked) is not None:
                found.append(segment.name)
    return found


def points_of(db: Database, customer_id: int) -> int:
    """A customer's loyalty points balance (the ledger's sum; 0 without entries)."""
    with db.session() as session:
        query = select(points_balance()).where(customers.c.id == customer_id)
        return int(session.scalar(query) or 0)
