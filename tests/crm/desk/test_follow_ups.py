"""Complaint follow-ups: due in business hours, reminded once when overdue, done, reported.

Times are the shop's (Europe/Berlin, Mon–Fri 09:00–17:00, follow-up 24
business hours: the default rules); every function takes `now` or reads a
patched clock, so the clock is frozen.
"""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import select

from rapport.crm.customers.tags import add_tags
from rapport.crm.database import Database
from rapport.crm.desk.complaints import flag_complaint
from rapport.crm.desk.conversations import take
from rapport.crm.desk.follow_ups import (
    due_follow_ups,
    first_name,
    list_follow_ups,
    mark_done,
    mark_reminded,
    overdue_by,
)
from rapport.crm.desk.report import desk_report
from rapport.crm.desk.resolution import resolve
from rapport.crm.errors import InvalidInput, NotFound
from rapport.crm.interactions.ingest import ingest
from rapport.crm.messages import InboundMessage
from rapport.crm.models import AuditEvent, FollowUp
from rapport.crm.reports.programmes import Period
from rapport.crm.staff.audit import Actor
from rapport.crm.staff.roles import actor_for, add_staff
from tests.support.desk_policy import RULES, _customer_of, _write, local

CLI = Actor("cli:test")


def _write_as(db: Database, address: str, sender: str, at: str) -> int:
    """A customer with a full name writes by email (the reminder names only the first)."""
    result = ingest(
        db,
        InboundMessage(
            channel="email",
            external_id=address,
            sender=sender,
            text="Hello, a question",
            sent_at=local(at),
            message_key=f"<{address}-{at.replace(' ', '-')}>",
            subject="Question",
        ),
        desk=RULES,
    )
    assert result.conversation_id is not None
    return result.conversation_id


def _flag_at(db: Database, conversation_id: int, at: str) -> datetime:
    return flag_complaint(db, CLI, conversation_id, RULES, now=local(at))


def test_follow_up_is_due_in_business_hours_and_reminded_once(
    db: Database,
) -> None:
    ada = add_staff(db, CLI, name="Ada", role="agent", telegram_user_id=7)
    zoe = _write_as(db, "zoe@example.org", "Zoe Maria Smith", "2026-11-20 16:00")
    # Friday 16:30 + 24 business hours: 0.5 Fri + 8 Mon + 8 Tue + 7.5 Wed → Wednesday 16:30.
    due = _flag_at(db, zoe, "2026-11-20 16:30")
    assert due == local("2026-11-25 16:30")

    assert due_follow_ups(db, local("2026-11-25 16:29")) == []  # a minute early
    [reminder] = due_follow_ups(db, local("2026-11-25 16:30"))  # due is due
    assert (reminder.conversation_id, reminder.due_at) == (zoe, due)
    assert reminder.first_name == "Zoe" and reminder.reason == "staff"
    assert reminder.staff_telegram_id is None  # unassigned: the staff on duty
    # Not marked by being found: a crash before the send loses nothing.
    assert len(due_follow_ups(db, local("2026-11-25 16:31"))) == 1

    take(db, actor_for(ada), zoe)
    [reminder] = due_follow_ups(db, local("2026-11-26 09:30"))
    assert reminder.staff_telegram_id == 7  # Ada's now
    # Wednesday 16:30 → Thursday 09:30 is one business hour, though 17 hours passed.
    assert overdue_by(RULES.hours, due, local("2026-11-26 09:30")) == "by 60 min of business time"
    assert overdue_by(RULES.hours, due, local("2026-11-25 16:30")) == "just now"
    assert overdue_by(RULES.hours, due, local("2026-11-27 09:00")) == "by 8.5 business hours"

    mark_reminded(db, [reminder], local("2026-11-26 09:30"))
    assert due_follow_ups(db, local("2026-11-30 12:00")) == []  # once, across restarts
    with db.session() as session:
        task = session.scalars(select(FollowUp)).one()
    assert task.reminded_at == local("2026-11-26 09:30") and task.done_at is None


def test_done_follow_up_is_never_reminded_and_listing_puts_overdue_first(
    db: Database,
) -> None:
    early = _write(db, "ann", "2026-11-23 09:00")
    late = _write(db, "ben", "2026-11-23 09:00")
    done = _write(db, "cy", "2026-11-23 09:00")
    plain = _write(db, "dan", "2026-11-23 09:00")  # no complaint, no task
    _flag_at(db, late, "2026-11-23 12:00")  # due Thursday 12:00
    _flag_at(db, early, "2026-11-23 10:00")  # due Thursday 10:00
    _flag_at(db, done, "2026-11-23 09:00")  # due Wednesday 17:00

    view = mark_done(db, CLI, done, now=local("2026-11-24 10:00"))
    assert view.done_at == local("2026-11-24 10:00") and view.status == "open"
    with pytest.raises(InvalidInput, match="already done"):
        mark_done(db, CLI, done)
    with pytest.raises(NotFound, match="has no follow-up task"):
        mark_done(db, CLI, plain)
    with pytest.raises(NotFound, match="no conversation #999"):
        mark_done(db, CLI, 999)
    with db.session() as session:
        audited = session.scalars(
            select(AuditEvent.detail).where(AuditEvent.action == "followup.done")
        ).all()
    assert audited == [f"conversation {done}"]

    now = local("2026-11-26 11:00")  # between the two open tasks' due times
    assert [r.conversation_id for r in due_follow_ups(db, now)] == [early]
    views = list_follow_ups(db, CLI)
    assert [v.conversation_id for v in views] == [early, late]
    assert [v.overdue(now) for v in views] == [True, False]
    everything = list_follow_ups(db, CLI, include_done=True)
    assert [v.conversation_id for v in everything] == [early, late, done]  # done last


def test_first_name_only() -> None:
    assert first_name("Zoe Maria Smith") == "Zoe"
    assert first_name("  ") is None and first_name(None) is None


def test_report_counts_follow_ups_overdue_and_done_late_hand_checked(
    db: Database,
) -> None:
    ada = actor_for(add_staff(db, CLI, name="Ada", role="agent", email="ada@shop.hk"))
    bob = actor_for(add_staff(db, CLI, name="Bob", role="agent", email="bob@shop.hk"))
    # A: corporate, Ada's, flagged Monday 09:00 → due Wednesday 17:00 (three whole business
    # days end at closing, not on Thursday's opening); still open: overdue.
    a = _write(db, "corp", "2026-11-23 09:00")
    add_tags(db, _customer_of(db, a), ["corporate"])
    take(db, ada, a)
    _flag_at(db, a, "2026-11-23 09:00")
    # B: Bob's, due Wednesday 17:00, resolved Thursday 10:00: done late.
    b = _write(db, "bea", "2026-11-23 09:00")
    take(db, bob, b)
    _flag_at(db, b, "2026-11-23 09:00")
    # C: Bob's, due Wednesday 17:00, marked done Tuesday: on time.
    c = _write(db, "cal", "2026-11-23 09:00")
    take(db, bob, c)
    _flag_at(db, c, "2026-11-23 09:00")
    # D: Bob's, flagged Wednesday 12:00 → due Monday 30 Nov 12:00: open, not yet due.
    d = _write(db, "dee", "2026-11-23 09:00")
    take(db, bob, d)
    _flag_at(db, d, "2026-11-25 12:00")
    # E: no complaint at all.
    _write(db, "eve", "2026-11-23 09:00")
    mark_done(db, bob, c, now=local("2026-11-24 10:00"))
    resolve(db, bob, b, now=local("2026-11-26 10:00"))

    now = local("2026-11-26 12:00")
    report = desk_report(db, RULES, Period(local("2026-11-01 00:00"), now), now)
    counts = {
        row.group: (row.follow_ups_overdue, row.follow_ups_done_late)
        for row in [report.overall, *report.by_agent, *report.by_segment]
    }
    assert counts == {
        "all": (1, 1),  # A overdue; B done late; C on time; D not due; E none
        "Ada": (1, 0),
        "Bob": (0, 1),
        "(unassigned)": (0, 0),
        "corporate": (1, 0),
        "everyone else": (0, 1),
    }
    # The overdue edge: A is not overdue a minute before its due time, and is at it.
    for at, overdue in (("2026-11-25 16:59", 0), ("2026-11-25 17:00", 1)):
        then = local(at)
        row = desk_report(db, RULES, Period(local("2026-11-01 00:00"), then), then).overall
        assert row.follow_ups_overdue == overdue
