"""Segment rules compiled to SQL: one boolean expression over `customers`.

Rules become one boolean SQL expression over the `customers` table, so a
campaign can select its audience with one INSERT … SELECT however many
customers there are. Every condition compiles to an expression that is never
NULL, so ``not`` is always the exact complement and SQLite and PostgreSQL agree.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, Select, and_, not_, or_, select, true

from rapport.crm.models import Customer
from rapport.crm.segments.rules import FIELDS, AllOf, AnyOf, Condition, Not, Rule


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
    """The rule as a boolean over `Customer`'s columns, for ``select(...).where(...)``.

    Erased customers never match, whatever the rule says. `now` fixes what
    "days since" means, so one run of a campaign sees one consistent audience.
    """
    if now.tzinfo is None:
        raise ValueError("rule_condition needs a timezone-aware now")
    return and_(Customer.erased_at.is_(None), _compile(rule, now))


def member_ids(rule: Rule, now: datetime) -> Select[int]:
    """SELECT of the ids of the customers the rule picks at `now`."""
    return select(Customer.id).where(rule_condition(rule, now))
