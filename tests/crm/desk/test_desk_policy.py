"""Contact policy in business hours: the clock's edges, breaches, the report, reminders.

Times are given in the shop's zone (Europe/Berlin, Mon–Fri 09:00–17:00) and
every function takes `now`, so the clock is frozen by construction.
"""

from __future__ import annotations

import json
from datetime import UTC, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from rapport.crm.clock import utcnow
from rapport.crm.customers.tags import add_tags
from rapport.crm.database import Database
from rapport.crm.desk.business_hours import BusinessHours, parse_days, parse_time
from rapport.crm.desk.complaints import flag_complaint
from rapport.crm.desk.replies import prepare_reply, record_reply
from rapport.crm.desk.report import desk_report, due_reminders, percentile
from rapport.crm.desk.resolution import record_survey_sent, resolve
from rapport.crm.desk.rules import load_rules, parse_rules
from rapport.crm.errors import ConfigurationError, InvalidInput
from rapport.crm.interactions.ingest import ingest
from rapport.crm.messages import InboundMessage, Receipt
from rapport.crm.models import Conversation, ConversationSurvey
from rapport.crm.reports.programmes import Period
from rapport.crm.settings import load_settings
from rapport.crm.staff.audit import Actor
from rapport.crm.staff.roles import actor_for, add_staff
from tests.support.desk_policy import BERLIN, RULES, _customer_of, _write, local

HOURS = BusinessHours(parse_days(["mon-fri"]), parse_time("09:00"), parse_time("17:00"), BERLIN)


# --- the business-hours clock -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "minutes", "due"),
    [
        ("2026-11-20 16:30", 60, "2026-11-23 09:30"),  # Friday evening → Monday morning
        ("2026-11-20 17:00", 1, "2026-11-23 09:01"),  # at closing: nothing left on Friday
        ("2026-11-21 10:00", 60, "2026-11-23 10:00"),  # Saturday counts from Monday opening
        ("2026-11-23 07:00", 60, "2026-11-23 10:00"),  # before opening
        ("2026-11-23 09:00", 480, "2026-11-23 17:00"),  # a whole day ends at closing
        ("2026-11-23 09:00", 481, "2026-11-24 09:01"),
        ("2026-11-23 16:59", 0, "2026-11-23 16:59"),
    ],
)
def test_deadline_in_business_hours(start: str, minutes: int, due: str) -> None:
    assert HOURS.add(local(start), timedelta(minutes=minutes)) == local(due)


def test_elapsed_counts_only_open_hours_and_follows_daylight_saving() -> None:
    assert HOURS.elapsed(local("2026-11-20 16:30"), local("2026-11-23 09:30")) == timedelta(hours=1)
    assert HOURS.elapsed(local("2026-11-21 08:00"), local("2026-11-22 20:00")) == timedelta()
    assert HOURS.elapsed(local("2026-11-23 10:00"), local("2026-11-23 09:00")) == timedelta()
    # Clocks went back on Sunday 25 October 2026: Friday 16:00 → Monday 10:00 is 2 hours
    # of opening time, though 67 hours of wall time passed.
    friday, monday = local("2026-10-23 16:00"), local("2026-10-26 10:00")
    assert HOURS.elapsed(friday, monday) == timedelta(hours=2)
    assert monday.astimezone(UTC) - friday.astimezone(UTC) == timedelta(hours=67)
    assert HOURS.is_open(local("2026-11-23 09:00")) and not HOURS.is_open(local("2026-11-23 17:00"))


def test_bad_business_hours_and_rules_are_refused_clearly(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="open before they close"):
        BusinessHours(frozenset({0}), parse_time("17:00"), parse_time("09:00"), BERLIN)
    with pytest.raises(InvalidInput, match="unknown day 'funday'"):
        parse_days(["funday"])
    with pytest.raises(InvalidInput, match="first_response_minutes must be more than zero"):
        parse_rules(
            {"policies": [{"segment": "*", "first_response_minutes": 0, "resolution_minutes": 5}]},
            BERLIN,
        )
    with pytest.raises(InvalidInput, match="unknown desk rule"):
        parse_rules({"polices": []}, BERLIN)
    path = tmp_path / "rules.json"
    path.write_text('{"business_hours": {"days": ["mon"], "open": "9", "close": "17:00"}}')
    with pytest.raises(ConfigurationError, match="RAPPORT_DESK_RULES: a time of day is HH:MM"):
        load_rules(load_settings(desk_rules=str(path)))
    path.write_text(json.dumps({"complaint": {"words": {"en": ["awful"]}}}))
    rules = load_rules(load_settings(desk_rules=str(path), timezone="Europe/Berlin"))
    assert rules.complaint_word_in("This is AWFUL.") == "awful"
    assert rules.complaint_word_in("I want a refund") is None  # the file replaced the words


def test_percentile_is_nearest_rank() -> None:
    assert percentile([], 0.5) is None
    assert percentile([10.0], 0.9) == 10.0
    values = [float(v) for v in range(1, 11)]
    assert (percentile(values, 0.5), percentile(values, 0.9)) == (5.0, 9.0)


# --- breaches, the report and reminders on the database ------------------------------------------


def _answer(db: Database, actor: Actor, conversation_id: int, at: str) -> None:
    out = prepare_reply(db, conversation_id)
    receipt = Receipt("email", f"<answer-{conversation_id}-{at[-5:]}@shop>", local(at))
    record_reply(db, actor, out, "Our answer", receipt)


def test_report_per_agent_and_segment_with_breaches(db: Database) -> None:
    ada = actor_for(add_staff(db, Actor("cli:test"), name="Ada", role="agent", email="ada@shop.hk"))
    bob = actor_for(add_staff(db, Actor("cli:test"), name="Bob", role="agent", email="bob@shop.hk"))
    corp = _write(db, "corp", "2026-11-20 16:30")  # corporate: 60 min to answer
    add_tags(db, _customer_of(db, corp), ["corporate"])
    _answer(db, ada, corp, "2026-11-23 09:20")  # 50 business minutes: kept
    slow = _write(db, "ind", "2026-11-20 10:00")  # individual: 240 min
    _answer(db, bob, slow, "2026-11-20 15:00")  # 300 minutes: breached
    # 7 h Friday + 3 h Monday = 600 min, within 1440
    resolve(db, bob, slow, now=local("2026-11-23 12:00"))
    _write(db, "late", "2026-11-23 09:00")  # unanswered

    now = local("2026-11-23 14:00")  # 300 business minutes after `waiting` opened
    report = desk_report(db, RULES, Period(local("2026-11-01 00:00"), now), now)
    overall = report.overall
    assert overall.conversations == 3
    assert overall.first_response_breaches == 2  # the slow answer and the one still waiting
    assert overall.resolution_breaches == 0
    assert (overall.first_response_p50, overall.first_response_p90) == (50.0, 300.0)
    assert overall.resolution_p50 == 600.0
    assert overall.within_policy_pct == pytest.approx(100 / 3)
    by_agent = {row.group: row for row in report.by_agent}
    assert by_agent["Ada"].first_response_breaches == 0
    assert by_agent["Bob"].first_response_breaches == 1
    assert by_agent["(unassigned)"].conversations == 1
    by_segment = {row.group: row for row in report.by_segment}
    assert by_segment["corporate"].conversations == 1
    assert by_segment["corporate"].within_policy_pct == 100.0
    assert by_segment["everyone else"].conversations == 2


def test_reminder_comes_before_the_breach_and_once_per_target(db: Database) -> None:
    ada = actor_for(add_staff(db, Actor("cli:test"), name="Ada", role="agent", telegram_user_id=7))
    corp = _write(db, "corp", "2026-11-20 16:50")  # due Monday 09:50 (10 min Friday + 50)
    add_tags(db, _customer_of(db, corp), ["corporate"])
    assert due_reminders(db, RULES, local("2026-11-20 16:59")) == []
    assert due_reminders(db, RULES, local("2026-11-23 09:34")) == []  # 16 min before
    [reminder] = due_reminders(db, RULES, local("2026-11-23 09:35"))  # 15 min before
    assert (reminder.conversation_id, reminder.what) == (corp, "first response")
    assert reminder.due == local("2026-11-23 09:50") and reminder.staff_telegram_id is None
    assert due_reminders(db, RULES, local("2026-11-23 09:40")) == []  # once
    _answer(db, ada, corp, "2026-11-23 09:45")
    # Resolution is due 480 business minutes after opening: Monday 16:50.
    assert due_reminders(db, RULES, local("2026-11-23 16:34")) == []
    [later] = due_reminders(db, RULES, local("2026-11-23 16:35"))
    assert later.what == "resolution" and later.staff_telegram_id == 7  # Ada answered: hers


# --- automatic first answers ---------------------------------------------------------------------

ANSWERS = parse_rules(
    {
        "auto_answers": {
            "office_hours": {"*": "Thanks! A person answers shortly.", "corporate": "Hello!"},
            "out_of_hours": {"*": "Thanks! We are closed; we answer from {opens}."},
        },
        "faq": [{"keywords": ["opening hours", "open on sunday"], "answer": "Mon–Fri 9–17."}],
    },
    BERLIN,
)


def test_first_answer_by_faq_office_hours_and_segment() -> None:
    monday = local("2026-11-23 10:00")
    kind, text = ANSWERS.first_answer(set(), "What are your OPENING hours?", monday) or ("", "")
    assert kind == "faq" and text == "Mon–Fri 9–17.\n\nReply 'agent' to reach a person."
    assert ANSWERS.first_answer(set(), "Where is my parcel?", monday) == (
        "office_hours",
        "Thanks! A person answers shortly.",
    )
    assert ANSWERS.first_answer({"corporate"}, "Invoice?", monday) == ("office_hours", "Hello!")
    # Friday evening: the next opening is Monday morning, in the shop's time.
    assert ANSWERS.first_answer({"corporate"}, "Invoice?", local("2026-11-20 18:00")) == (
        "out_of_hours",
        "Thanks! We are closed; we answer from Mon 09:00.",
    )
    assert RULES.first_answer(set(), "opening hours?", monday) is None  # nothing configured
    with pytest.raises(InvalidInput, match="non-empty list of keywords"):
        parse_rules({"faq": [{"keywords": [], "answer": "x"}]}, BERLIN)


def test_only_a_bare_number_rates_without_a_reference(db: Database) -> None:
    """'2 items missing' is a new message for staff; a bare '4' is the rating."""
    admin = Actor("cli:test")
    first = _write(db, "zoe", "2026-11-23 10:00", "Broken on arrival")
    flag_complaint(db, admin, first, RULES)
    out = resolve(db, admin, first)
    assert out is not None
    record_survey_sent(db, out, Receipt("email", "<csat-1@shop>", utcnow()))

    def say(text: str, key: str) -> int | None:
        return ingest(
            db,
            InboundMessage("email", "zoe@example.org", None, text, utcnow(), key),
            desk=RULES,
        ).conversation_id

    # Within the reopen window the words reopen the complaint; they rate nothing.
    assert say("2 items missing from the new parcel", "<z2@example.org>") == first
    with db.session() as session:
        survey = session.scalars(select(ConversationSurvey)).one()
        assert survey.score is None
    assert say("4", "<z3@example.org>") == first
    with db.session() as session:
        survey = session.scalars(select(ConversationSurvey)).one()
        assert survey.score == 4 and survey.comment is None
        reopened = session.get(Conversation, first)
        assert reopened is not None and reopened.status == "open"
        assert reopened.reopened_count == 1  # the rating did not count as a second reopen


def test_a_bare_rating_reopens_nothing(db: Database) -> None:
    admin = Actor("cli:test")
    first = _write(db, "zoe", "2026-11-23 10:00", "Broken on arrival")
    flag_complaint(db, admin, first, RULES)
    out = resolve(db, admin, first)
    assert out is not None
    record_survey_sent(db, out, Receipt("email", "<csat-1@shop>", utcnow()))
    rated = ingest(
        db, InboundMessage("email", "zoe@example.org", None, "4", utcnow(), "<z4@x>"), desk=RULES
    )
    assert rated.conversation_id == first
    with db.session() as session:
        conversation = session.get(Conversation, first)
        assert conversation is not None and conversation.status == "resolved"
        assert conversation.resolved_at is not None and conversation.reopened_count == 0
        assert session.scalars(select(ConversationSurvey.score)).one() == 4


# --- reopening after resolution ------------------------------------------------------------------


def _resolve(db: Database, actor: Actor, conversation_id: int, at: str) -> None:
    resolve(db, actor, conversation_id, now=local(at))


def _get(db: Database, conversation_id: int) -> Conversation:
    with db.session() as session:
        found = session.get(Conversation, conversation_id)
        assert found is not None
        return found


def test_reopen_rule_is_read_and_checked() -> None:
    assert RULES.reopen_window == timedelta(days=7)
    assert parse_rules({"reopen_days": 0}, BERLIN).reopen_window == timedelta()
    assert parse_rules({"reopen_days": 1.5}, BERLIN).reopen_window == timedelta(hours=36)
    with pytest.raises(InvalidInput, match="reopen_days must be zero or more"):
        parse_rules({"reopen_days": -1}, BERLIN)
    with pytest.raises(InvalidInput, match="reopen_days must be a number"):
        parse_rules({"reopen_days": "7"}, BERLIN)


def test_window_zero_never_reopens(db: Database) -> None:
    never = parse_rules({"reopen_days": 0}, BERLIN)
    ada = actor_for(add_staff(db, Actor("cli:test"), name="Ada", role="agent", email="ada@shop.hk"))
    first = _write(db, "ann", "2026-11-16 10:00")
    _resolve(db, ada, first, "2026-11-16 11:00")
    second = ingest(
        db,
        InboundMessage(
            "email", "ann@example.org", "Ann", "One more thing", local("2026-11-16 11:01"), "<a2@x>"
        ),
        desk=never,
    ).conversation_id
    assert second not in (None, first)
    assert _get(db, first).status == "resolved" and _get(db, first).reopened_count == 0


def test_report_with_a_reopen_hand_checked(db: Database) -> None:
    """Everyone else's policy: first response 240, resolution 1440 business minutes.

    A (Ada): Mon 16 10:00, answered 10:30, resolved 11:00, reopened Thu 19 10:00,
    answered 10:15, resolved again 12:00. First response 30 (the first answer);
    resolution to the final one: Mon 420 + Tue 480 + Wed 480 + Thu 180 = 1560 > 1440.
    B (Bob): Mon 16 10:00, answered 11:00, resolved 12:00: 60 and 120.
    C (Bob): Mon 16 09:00, answered 09:10, resolved 09:20: 10 and 20. Its customer
    writes Mon 23 10:00, 7 days 40 minutes after: past the window, D is new.
    D: unassigned, unanswered; its first response is due 14:00, so no breach at 12:00.
    """
    ada = actor_for(add_staff(db, Actor("cli:test"), name="Ada", role="agent", email="ada@shop.hk"))
    bob = actor_for(add_staff(db, Actor("cli:test"), name="Bob", role="agent", email="bob@shop.hk"))
    a = _write(db, "ann", "2026-11-16 10:00")
    _answer(db, ada, a, "2026-11-16 10:30")
    _resolve(db, ada, a, "2026-11-16 11:00")
    b = _write(db, "ben", "2026-11-16 10:00")
    _answer(db, bob, b, "2026-11-16 11:00")
    _resolve(db, bob, b, "2026-11-16 12:00")
    c = _write(db, "cat", "2026-11-16 09:00")
    _answer(db, bob, c, "2026-11-16 09:10")
    _resolve(db, bob, c, "2026-11-16 09:20")

    assert _write(db, "ann", "2026-11-19 10:00", "Still broken, sorry") == a
    reopened = _get(db, a)
    assert (reopened.status, reopened.resolved_at, reopened.reopened_count) == ("open", None, 1)
    assert reopened.reopened_at == local("2026-11-19 10:00")
    assert reopened.first_response_at == local("2026-11-16 10:30")  # stays
    # No new target: the resolution reminder it never had, now overdue (due Thu 10:00), once.
    [reminder] = due_reminders(db, RULES, local("2026-11-19 10:05"))
    assert (reminder.conversation_id, reminder.what) == (a, "resolution")
    assert reminder.due == local("2026-11-19 10:00")
    assert due_reminders(db, RULES, local("2026-11-19 10:06")) == []
    _answer(db, ada, a, "2026-11-19 10:15")
    assert _get(db, a).first_response_at == local("2026-11-16 10:30")
    _resolve(db, ada, a, "2026-11-19 12:00")
    assert _get(db, a).resolved_at == local("2026-11-19 12:00")
    assert _get(db, a).reopened_count == 1

    d = _write(db, "cat", "2026-11-23 10:00")
    assert d not in (a, b, c) and _get(db, c).reopened_count == 0

    now = local("2026-11-23 12:00")
    report = desk_report(db, RULES, Period(local("2026-11-01 00:00"), now), now)
    overall = report.overall
    assert overall.conversations == 4
    assert (overall.first_response_p50, overall.first_response_p90) == (30.0, 60.0)
    assert (overall.resolution_p50, overall.resolution_p90) == (120.0, 1560.0)
    assert (overall.first_response_breaches, overall.resolution_breaches) == (0, 1)
    assert overall.within_policy_pct == 75.0
    assert overall.reopened == 1
    by_agent = {row.group: row for row in report.by_agent}
    assert (by_agent["Ada"].conversations, by_agent["Ada"].reopened) == (1, 1)
    assert by_agent["Ada"].resolution_breaches == 1 and by_agent["Ada"].within_policy_pct == 0.0
    assert (by_agent["Bob"].conversations, by_agent["Bob"].reopened) == (2, 0)
    assert by_agent["Bob"].resolution_p90 == 120.0
    assert (by_agent["(unassigned)"].conversations, by_agent["(unassigned)"].reopened) == (1, 0)
