"""Segment rules as data: parsed, validated, written back and described in words.

A rule is data, not code: JSON a person can write, the CLI can store and the
bot can show back in words. A condition is
``{"field": F, "op": OP, "value": V}``; ``{"all": [...]}``, ``{"any": [...]}``
and ``{"not": {...}}`` combine conditions and nest freely. The fields a
condition may name are `FIELDS` (rapport.crm.segments.fields and .value_fields);
`rapport.crm.segments.compilation` turns a rule into SQL.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeAlias

from rapport.crm.errors import InvalidRule
from rapport.crm.segments.fields import CUSTOMER_FIELDS, Field
from rapport.crm.segments.value_fields import VALUE_FIELDS

MAX_RULE_CHARS = 20_000
"""Longest rule text accepted; far above any rule a person writes."""
MAX_DEPTH = 8
"""Deepest nesting of combinators accepted."""
MAX_PARTS = 200
"""Most conditions and combinators in one rule."""

FIELDS: dict[str, Field] = {**CUSTOMER_FIELDS, **VALUE_FIELDS}
"""Every field a condition may name."""


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


# --- Words ----------------------------------------------------------------------------


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
