"""SQL evaluation of random rules agrees with a plain Python reading of the same rules.

The oracle below reads the rule format's meaning straight from its
definition, over the same people the database holds; any difference between
it and the SQL (NULL handling, day boundaries, averages, either database) is
a bug in one of them.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from sqlalchemy import case, select

from rapport.crm.customers.identity import CHANNELS
from rapport.crm.database import Database
from rapport.crm.models import Customer
from rapport.crm.segments.compilation import rule_condition
from rapport.crm.segments.rules import AllOf, AnyOf, Condition, Not, Rule, parse_rule
from tests.support.segment_data import NOW, Person, clear, store

TAGS = ["vip", "new", "corporate"]
POLARITIES = [-1.0, -0.5, -0.25, 0.0, 0.25, 0.5, 1.0]
COMPARISONS = ["<", "<=", ">", ">=", "=="]
ORDERS = ["<", "<=", ">", ">="]

channels = st.sampled_from(CHANNELS)

people = st.lists(
    st.builds(
        Person,
        first_seen_channel=channels,
        last_channel=st.none() | channels,
        last_activity_hours_ago=st.none() | st.integers(0, 60 * 24).map(lambda h: h - h % 12),
        created_hours_ago=st.integers(0, 90 * 24).map(lambda h: h - h % 12),
        consent=st.booleans(),
        erased=st.sampled_from([False, False, False, True]),
        tags=st.lists(st.sampled_from(TAGS), max_size=2),
        identities=st.lists(st.tuples(channels, st.booleans()), max_size=2),
        messages=st.lists(
            st.tuples(st.sampled_from(["in", "out"]), st.none() | st.sampled_from(POLARITIES)),
            max_size=4,
        ),
        points=st.lists(st.integers(-50, 50), max_size=3),
    ),
    min_size=2,
    max_size=8,
)


def condition(field: str, ops: list[str], values: st.SearchStrategy[Any]) -> Any:
    return st.builds(
        lambda op, value: {"field": field, "op": op, "value": value},
        st.sampled_from(ops),
        values,
    )


conditions = st.one_of(
    condition("tag", ["has", "has_not"], st.sampled_from([*TAGS, "VIP"])),
    condition("channel", ["has", "has_not"], channels),
    condition("last_channel", ["==", "!="], channels),
    condition("first_seen_channel", ["==", "!="], channels),
    condition("last_activity_days", ORDERS, st.integers(0, 60)),
    condition("first_seen_days", ORDERS, st.integers(0, 90)),
    condition("interactions", COMPARISONS, st.integers(0, 4)),
    condition("avg_sentiment", COMPARISONS, st.sampled_from([*POLARITIES, 0.125, 0.375])),
    condition("marketing_consent", ["=="], st.booleans()),
    condition("points", COMPARISONS, st.integers(-60, 60)),
)

rules = st.recursive(
    conditions,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3).map(lambda rs: {"all": rs}),
        st.lists(inner, min_size=1, max_size=3).map(lambda rs: {"any": rs}),
        inner.map(lambda r: {"not": r}),
    ),
    max_leaves=6,
)

OPS: dict[str, Any] = {
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
}


def holds(c: Condition, p: Person) -> bool:
    """The rule format's definition, field by field, in plain Python."""
    inbound = [polarity for direction, polarity in p.messages if direction == "in"]
    if c.field == "tag":
        return (c.value in p.tags) == (c.op == "has")
    if c.field == "channel":
        reachable = any(ch == c.value and ok for ch, ok in p.identities)
        return reachable == (c.op == "has")
    if c.field == "last_channel":
        return OPS[c.op](p.last_channel, c.value)
    if c.field == "first_seen_channel":
        return OPS[c.op](p.first_seen_channel, c.value)
    if c.field == "last_activity_days":
        if p.last_activity_hours_ago is None:
            return c.op in (">", ">=")
        return OPS[c.op](timedelta(hours=p.last_activity_hours_ago), timedelta(days=c.value))
    if c.field == "first_seen_days":
        return OPS[c.op](timedelta(hours=p.created_hours_ago), timedelta(days=c.value))
    if c.field == "interactions":
        return OPS[c.op](len(inbound), c.value)
    if c.field == "avg_sentiment":
        scored = [x for x in inbound if x is not None]
        return bool(scored) and OPS[c.op](sum(scored) / len(scored), c.value)
    if c.field == "marketing_consent":
        return p.consent == c.value
    if c.field == "points":
        return OPS[c.op](sum(p.points), c.value)
    raise AssertionError(c.field)


def evaluate(rule: Rule, p: Person) -> bool:
    if isinstance(rule, Condition):
        return holds(rule, p)
    if isinstance(rule, AllOf):
        return all(evaluate(r, p) for r in rule.rules)
    if isinstance(rule, AnyOf):
        return any(evaluate(r, p) for r in rule.rules)
    assert isinstance(rule, Not)
    return not evaluate(rule.rule, p)


def parts(rule: Rule) -> list[Rule]:
    """The rule and every rule inside it, so each part is checked on its own too."""
    if isinstance(rule, AllOf | AnyOf):
        return [rule, *(p for r in rule.rules for p in parts(r))]
    if isinstance(rule, Not):
        return [rule, *parts(rule.rule)]
    return [rule]


@settings(
    max_examples=40,
    deadline=None,
    # Each example writes to a database: skip the costly "explain" phase of a failure.
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink],
    report_multiple_bugs=False,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(population=people, data=st.lists(rules, min_size=1, max_size=4))
def test_sql_agrees_with_python(db: Database, population: list[Person], data: list[Any]) -> None:
    clear(db)
    stored = store(db, population)
    checked = sorted({part for top in map(parse_rule, data) for part in parts(top)}, key=repr)
    checked += [Not(rule) for rule in checked]
    picked = picked_by(db, checked)
    for rule, ids in zip(checked, picked, strict=True):
        expected = {p.id for p in stored if not p.erased and evaluate(rule, p)}
        assert ids == expected, rule


def picked_by(db: Database, rules: list[Rule]) -> list[set[int]]:
    """Who each rule picks, all in one query (one CASE column per rule) to keep examples fast."""
    customers = Customer.__table__
    columns = [case((rule_condition(r, NOW), 1), else_=0) for r in rules]
    with db.session() as session:
        rows = session.execute(select(customers.c.id, *columns)).all()
    return [{row[0] for row in rows if row[i + 1]} for i in range(len(rules))]
