"""Segment rules: every field and op in SQL on both databases, words, refusals, services."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
from sqlalchemy import func, insert, literal, select

from rapport.crm.database import Database
from rapport.crm.errors import Conflict, InvalidInput, InvalidRule, NotFound
from rapport.crm.models import AuditEvent, Campaign, CustomerTag, Segment
from rapport.crm.segments.compilation import member_ids, rule_condition
from rapport.crm.segments.rules import AllOf, Condition, Not, describe, parse_rule, rule_to_json
from rapport.crm.segments.saved import (
    SegmentView,
    count_members,
    create_segment,
    delete_segment,
    get_segment,
    list_segments,
    preview,
    segments_of,
)
from rapport.crm.staff.audit import Actor
from tests.support.segment_data import NOW, Person, inbound, matching, store


def cond(field: str, op: str, value: Any) -> dict[str, Any]:
    return {"field": field, "op": op, "value": value}


def pick(db: Database, data: dict[str, Any]) -> set[int]:
    """Who the rule picks, checking on the way that "not" picks exactly the others."""
    rule = parse_rule(data)
    picked = matching(db, rule)
    everyone = matching(db, AllOf(()))
    assert matching(db, Not(rule)) == everyone - picked
    return picked


def test_tag_has_and_has_not(db: Database) -> None:
    vip, plain, both = store(
        db, [Person(tags=["vip"]), Person(), Person(tags=["vip", "corporate"])]
    )
    assert pick(db, cond("tag", "has", " VIP ")) == {vip.id, both.id}
    assert pick(db, cond("tag", "has_not", "vip")) == {plain.id}
    assert pick(db, cond("tag", "has", "corporate")) == {both.id}


def test_channel_counts_only_reachable_identities(db: Database) -> None:
    mail, gone, tele, none = store(
        db,
        [
            Person(identities=[("email", True)]),
            Person(identities=[("email", False), ("telegram", True)]),
            Person(identities=[("telegram", True)]),
            Person(),
        ],
    )
    assert pick(db, cond("channel", "has", "email")) == {mail.id}
    assert pick(db, cond("channel", "has_not", "email")) == {gone.id, tele.id, none.id}
    assert pick(db, cond("channel", "has", "telegram")) == {gone.id, tele.id}


def test_last_and_first_seen_channel(db: Database) -> None:
    a, b, c = store(
        db,
        [
            Person(first_seen_channel="email", last_channel="telegram"),
            Person(first_seen_channel="telegram", last_channel="email"),
            Person(first_seen_channel="email", last_channel=None),
        ],
    )
    assert pick(db, cond("last_channel", "==", "telegram")) == {a.id}
    # Never active on any channel is "not last seen on email" too.
    assert pick(db, cond("last_channel", "!=", "email")) == {a.id, c.id}
    assert pick(db, cond("first_seen_channel", "==", "email")) == {a.id, c.id}
    assert pick(db, cond("first_seen_channel", "!=", "email")) == {b.id}


def test_last_activity_days_with_boundaries_and_never_active(db: Database) -> None:
    day, month, older, never = store(
        db,
        [
            Person(last_activity_hours_ago=24),
            Person(last_activity_hours_ago=30 * 24),
            Person(last_activity_hours_ago=31 * 24),
            Person(last_activity_hours_ago=None),
        ],
    )
    assert pick(db, cond("last_activity_days", "<", 30)) == {day.id}
    assert pick(db, cond("last_activity_days", "<=", 30)) == {day.id, month.id}
    assert pick(db, cond("last_activity_days", ">", 30)) == {older.id, never.id}
    assert pick(db, cond("last_activity_days", ">=", 30)) == {month.id, older.id, never.id}
    assert pick(db, cond("last_activity_days", "<=", 0.5)) == set()


def test_first_seen_days(db: Database) -> None:
    new, old = store(db, [Person(created_hours_ago=2 * 24), Person(created_hours_ago=400 * 24)])
    assert pick(db, cond("first_seen_days", "<", 7)) == {new.id}
    assert pick(db, cond("first_seen_days", ">=", 365)) == {old.id}
    assert pick(db, cond("first_seen_days", "<=", 2)) == {new.id}
    assert pick(db, cond("first_seen_days", ">", 2)) == {old.id}


def test_interactions_count_inbound_only(db: Database) -> None:
    quiet, chatty, spoken_to = store(
        db,
        [
            Person(),
            Person(messages=inbound(None, 0.5, None)),
            Person(messages=[("out", None), ("out", None), ("in", None)]),
        ],
    )
    assert pick(db, cond("interactions", "==", 0)) == {quiet.id}
    assert pick(db, cond("interactions", ">=", 1)) == {chatty.id, spoken_to.id}
    assert pick(db, cond("interactions", ">", 2)) == {chatty.id}
    assert pick(db, cond("interactions", "<", 2)) == {quiet.id, spoken_to.id}
    assert pick(db, cond("interactions", "<=", 3)) == {quiet.id, chatty.id, spoken_to.id}


def test_avg_sentiment_ignores_unscored_and_outbound(db: Database) -> None:
    happy, sad, unscored, nothing = store(
        db,
        [
            Person(messages=[*inbound(0.5, 0.25, None), ("out", -1.0)]),
            Person(messages=inbound(-0.5)),
            Person(messages=inbound(None, None)),
            Person(),
        ],
    )
    assert pick(db, cond("avg_sentiment", ">", 0)) == {happy.id}
    assert pick(db, cond("avg_sentiment", "==", 0.375)) == {happy.id}
    assert pick(db, cond("avg_sentiment", "<=", -0.5)) == {sad.id}
    assert pick(db, cond("avg_sentiment", ">=", -1)) == {happy.id, sad.id}
    # Without a score there is nothing to compare: only "not" picks them.
    assert pick(db, {"not": cond("avg_sentiment", ">=", -1)}) == {unscored.id, nothing.id}


def test_marketing_consent(db: Database) -> None:
    yes, no = store(db, [Person(consent=True), Person(consent=False)])
    assert pick(db, cond("marketing_consent", "==", True)) == {yes.id}
    assert pick(db, cond("marketing_consent", "==", False)) == {no.id}


def test_points_balance_is_the_ledger_sum(db: Database) -> None:
    rich, spent, none = store(db, [Person(points=[50, 70]), Person(points=[100, -100]), Person()])
    assert pick(db, cond("points", ">", 100)) == {rich.id}
    assert pick(db, cond("points", "==", 0)) == {spent.id, none.id}
    assert pick(db, cond("points", "<", 1)) == {spent.id, none.id}
    assert pick(db, cond("points", ">=", 120)) == {rich.id}
    assert pick(db, cond("points", "<=", 119)) == {spent.id, none.id}


def test_combinators_nest_and_erased_customers_never_match(db: Database) -> None:
    a, b, c, _erased = store(
        db,
        [
            Person(tags=["vip"], consent=True),
            Person(tags=["vip"], points=[500]),
            Person(consent=True),
            Person(tags=["vip"], consent=True, erased=True),
        ],
    )
    vip = cond("tag", "has", "vip")
    consent = cond("marketing_consent", "==", True)
    rich = cond("points", ">=", 100)
    assert pick(db, {"all": [vip, consent]}) == {a.id}
    assert pick(db, {"any": [vip, consent]}) == {a.id, b.id, c.id}
    assert pick(db, {"all": [vip, {"not": consent}]}) == {b.id}
    assert pick(db, {"not": {"any": [vip, consent]}}) == set()
    assert pick(db, {"any": [{"all": [vip, rich]}, {"all": [{"not": vip}, consent]}]}) == {
        b.id,
        c.id,
    }
    assert pick(db, {"all": []}) == {a.id, b.id, c.id}


def test_rule_condition_serves_an_insert_select(db: Database) -> None:
    """The way a campaign materialises its audience: one INSERT … SELECT."""
    a, _b = store(db, [Person(consent=True), Person()])
    rule = parse_rule(cond("marketing_consent", "==", True))
    ids = member_ids(rule, NOW).subquery()
    with db.transaction() as session:
        session.execute(
            insert(CustomerTag).from_select(
                ["customer_id", "tag"], select(ids.c.id, literal("picked"))
            )
        )
    with db.session() as session:
        assert session.scalars(select(CustomerTag.customer_id)).all() == [a.id]


@pytest.mark.parametrize(
    ("rule", "words"),
    [
        (
            {"all": [cond("tag", "has", "VIP"), cond("last_activity_days", "<=", 30)]},
            "customers tagged vip and last active within 30 days",
        ),
        ({"all": []}, "all customers"),
        (
            {"any": [cond("channel", "has", "telegram"), {"not": cond("tag", "has", "x")}]},
            "customers reachable by telegram or not tagged x",
        ),
        (
            {
                "all": [
                    cond("marketing_consent", "==", True),
                    {"any": [cond("points", ">", 100), cond("interactions", ">=", 5)]},
                ]
            },
            "customers who consented to marketing and "
            "(with more than 100 points or with at least 5 inbound messages)",
        ),
        (
            cond("last_activity_days", ">", 1),
            "customers inactive for more than 1 day (or never active)",
        ),
        (cond("avg_sentiment", "<", -0.25), "customers with average sentiment below -0.25"),
        (cond("first_seen_days", "<", 7), "customers first seen less than 7 days ago"),
        (cond("last_channel", "!=", "email"), "customers not last seen on email"),
    ],
)
def test_rules_read_in_words(rule: dict[str, Any], words: str) -> None:
    assert describe(parse_rule(rule)) == words


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        (cond("tagz", "has", "vip"), "unknown field 'tagz'; known: avg_sentiment, channel"),
        (cond("tag", ">", "vip"), "op '>' does not apply to field 'tag'"),
        (
            cond("last_activity_days", "<", -1),
            "value for 'last_activity_days' must be a number ≥ 0",
        ),
        (cond("last_activity_days", "<", "30"), "value for 'last_activity_days' must be a number"),
        (cond("interactions", ">", 1.5), "value for 'interactions' must be a whole number"),
        (cond("avg_sentiment", ">", 2), "value for 'avg_sentiment' must be a number from -1 to 1"),
        (cond("marketing_consent", "==", "yes"), "must be true or false"),
        (cond("channel", "has", "sms"), "must be a channel name (email, telegram)"),
        (cond("tag", "has", "two words"), "invalid tag 'two words'"),
        (cond("points", ">", True), "value for 'points' must be a whole number"),
        ({"all": [cond("tag", "has", "a"), cond("tag", "is", "b")]}, "(in all[1])"),
        ({"field": "tag", "op": "has"}, "condition lacks 'value'"),
        ({**cond("tag", "has", "a"), "extra": 1}, "unexpected key(s) 'extra'"),
        ({"all": [], "any": []}, "exactly one of 'all', 'any', 'not'"),
        ({"any": []}, "'any' needs at least one rule"),
        ({"all": {"field": "tag"}}, "'all' takes a list of rules"),
        ([1, 2], "expected a condition"),
        ("{not json", "rule is not valid JSON"),
        ('{"field": "points", "op": ">", "value": Infinity}', "Infinity, which is not a number"),
        ("[" * 3000 + "]" * 3000, "nests deeper than 8 levels"),
        ("x" * 30_000, "longer than 20000 characters"),
        ({"all": [cond("tag", "has", "a")] * 201}, "more than 200 parts"),
    ],
)
def test_bad_rules_are_refused_with_clear_errors(rule: Any, message: str) -> None:
    with pytest.raises(InvalidRule) as caught:
        parse_rule(rule)
    assert message in str(caught.value)


def test_deep_nesting_is_refused() -> None:
    rule: dict[str, Any] = cond("tag", "has", "a")
    for _ in range(8):
        rule = {"not": rule}
    with pytest.raises(InvalidRule, match="nests deeper than 8 levels"):
        parse_rule(rule)
    parse_rule(rule["not"])  # seven "not"s and the condition: eight levels, fine


def test_rules_round_trip_through_their_json() -> None:
    rule = parse_rule({"all": [cond("tag", "has", "VIP"), {"not": cond("points", "<", 10.0)}]})
    assert rule == parse_rule(rule_to_json(rule))
    assert json.loads(rule_to_json(rule))["all"][0]["value"] == "vip"
    assert parse_rule(rule) == rule
    assert isinstance(rule, AllOf) and rule.rules[0] == Condition("tag", "has", "vip")


def count_rows(db: Database, model: type) -> int:
    with db.session() as s:
        return s.scalar(select(func.count()).select_from(model)) or 0


def test_saved_segments_are_frozen_views_not_orm_rows(db: Database) -> None:
    made = create_segment(db, "VIPs", cond("tag", "has", "vip"))
    for seen in (made, get_segment(db, "vips"), list_segments(db)[0]):
        assert isinstance(seen, SegmentView) and not isinstance(seen, Segment)
        with pytest.raises(dataclasses.FrozenInstanceError):
            seen.name = "changed"
    assert get_segment(db, made.id) == made


def test_saved_segments_create_get_list_delete(db: Database) -> None:
    store(db, [Person(tags=["vip"]), Person()])
    made = create_segment(db, "  VIPs ", cond("tag", "has", "vip"), description="our best")
    assert made.name == "VIPs" and made.description == "our best"
    create_segment(db, "Everyone", '{"all": []}')
    assert get_segment(db, "vips").id == made.id
    assert get_segment(db, str(made.id)).name == "VIPs"
    assert get_segment(db, made.id).rule == '{"field":"tag","op":"has","value":"vip"}'
    assert [s.name for s in list_segments(db)] == ["Everyone", "VIPs"]
    assert count_members(db, "VIPs", now=NOW) == 1
    assert count_members(db, "everyone", now=NOW) == 2

    delete_segment(db, "vips")
    with pytest.raises(NotFound, match="no segment 'VIPs'"):
        get_segment(db, "VIPs")
    with pytest.raises(NotFound, match="no segment with id 999"):
        delete_segment(db, 999)


def test_duplicate_names_and_bad_input_store_nothing(db: Database) -> None:
    create_segment(db, "vips", cond("tag", "has", "vip"))
    with pytest.raises(Conflict, match="a segment named 'VIPS' already exists"):
        create_segment(db, "VIPS", cond("tag", "has", "vip"))
    with pytest.raises(InvalidRule, match="unknown field 'tagz'"):
        create_segment(db, "other", cond("tagz", "has", "vip"))
    with pytest.raises(InvalidInput, match="only digits"):
        create_segment(db, "42", cond("tag", "has", "vip"))
    with pytest.raises(InvalidInput, match="segment name"):
        create_segment(db, " ", cond("tag", "has", "vip"))
    assert count_rows(db, Segment) == 1


def test_a_segment_in_use_is_not_deleted(db: Database) -> None:
    segment = create_segment(db, "vips", cond("tag", "has", "vip"))
    with db.transaction() as session:
        session.add(
            Campaign(name="Spring thanks", kind="loyalty", segment_id=segment.id, template="Hi")
        )
    with pytest.raises(Conflict, match="used by campaign\\(s\\) Spring thanks"):
        delete_segment(db, "vips")
    assert count_rows(db, Segment) == 1


def test_preview_counts_samples_and_is_audited(db: Database) -> None:
    people = store(
        db,
        [Person(name=f"Vip {i}", tags=["vip"], last_activity_hours_ago=i) for i in range(5)]
        + [Person(name="Plain")],
    )
    create_segment(db, "vips", cond("tag", "has", "vip"))
    actor = Actor(label="cli:ann")
    shown = preview(db, actor, "vips", sample=3, now=NOW)
    assert shown.count == 5
    assert [c.display_name for c in shown.sample] == ["Vip 0", "Vip 1", "Vip 2"]
    with db.session() as s:
        event = s.scalars(select(AuditEvent)).one()
    assert (event.actor, event.action) == ("cli:ann", "segment.preview")
    assert "5 match" in (event.detail or "")
    assert str(people[0].id) in (event.detail or "")
    assert "Vip" not in (event.detail or "")

    with pytest.raises(InvalidInput, match="sample size"):
        preview(db, actor, "vips", sample=1000)
    with pytest.raises(NotFound):
        preview(db, actor, "nobody")
    assert count_rows(db, AuditEvent) == 1


def test_rule_condition_needs_an_aware_now() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        rule_condition(parse_rule({"all": []}), NOW.replace(tzinfo=None))


def test_segments_of_names_every_segment_that_picks_the_customer(db: Database) -> None:
    """One query for all segments (the customer page): each still decides on its own."""
    vip, plain = store(db, [Person(tags=["vip"]), Person()])
    assert segments_of(db, vip.id, now=NOW) == []
    create_segment(db, "VIPs", cond("tag", "has", "vip"))
    create_segment(db, "Others", cond("tag", "has_not", "vip"))
    create_segment(db, "Everyone", {"all": []})
    create_segment(db, "Corporate", cond("tag", "has", "corporate"))
    assert segments_of(db, vip.id, now=NOW) == ["Everyone", "VIPs"]
    assert segments_of(db, plain.id, now=NOW) == ["Everyone", "Others"]
    assert segments_of(db, 10**6, now=NOW) == []
