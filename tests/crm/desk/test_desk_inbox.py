"""The inbox the console shows (crm/desk/inbox.py): filters, latest message, targets.

The breaching filter decides with one cut-off instant per policy
(`latest_start`) instead of business-hours arithmetic per conversation; a
property test holds it to the arithmetic.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import event, update

from rapport.crm.customers.tags import add_tags
from rapport.crm.database import Database
from rapport.crm.desk.complaints import flag_complaint
from rapport.crm.desk.conversations import take
from rapport.crm.desk.inbox import Show, inbox, latest_start
from rapport.crm.desk.replies import prepare_reply, record_reply
from rapport.crm.desk.resolution import resolve
from rapport.crm.desk.rules import DEFAULT_RULES, parse_rules
from rapport.crm.interactions.ingest import ingest
from rapport.crm.messages import InboundMessage, Receipt
from rapport.crm.models import Conversation
from rapport.crm.staff.audit import Actor
from rapport.crm.staff.roles import actor_for, add_staff

RULES = parse_rules(DEFAULT_RULES, ZoneInfo("Europe/Berlin"))
MONDAY = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)  # 10:00 in Berlin
OPS = Actor("cli:test")


def write(db: Database, n: int, text: str, at: datetime) -> int:
    result = ingest(
        db,
        InboundMessage(
            "email", f"c{n}@example.org", f"C{n}", text, at, f"<{n}-{at.timestamp()}@x>"
        ),
    )
    assert result.interaction_id is not None
    return n


def conversation_of(db: Database, n: int) -> int:
    with db.session() as s:
        found = s.query(Conversation.id).order_by(Conversation.id).all()
    return found[n - 1][0]


def test_filters_latest_message_and_waiting(db: Database) -> None:
    ada = add_staff(db, OPS, name="Ada", role="agent", telegram_user_id=1)
    write(db, 1, "Hello, a question about sizes", MONDAY)
    write(db, 2, "This is terrible, it broke", MONDAY + timedelta(minutes=1))
    write(db, 3, "Thanks!", MONDAY + timedelta(minutes=2))
    one, two, three = (conversation_of(db, n) for n in (1, 2, 3))
    take(db, actor_for(ada), one)
    flag_complaint(db, actor_for(ada), two, RULES)
    out = prepare_reply(db, one)
    record_reply(
        db,
        actor_for(ada),
        out,
        "Size M fits",
        Receipt("email", "<r1@x>", MONDAY + timedelta(minutes=5)),
    )
    resolve(db, actor_for(ada), three)
    now = MONDAY + timedelta(minutes=10)

    everything = inbox(db, actor_for(ada), RULES, now=now)
    assert [r.view.id for r in everything] == [one, two]  # oldest customer message first
    by_id = {r.view.id: r for r in everything}
    assert by_id[one].last_text == "Size M fits" and by_id[one].last_direction == "out"
    assert by_id[one].waiting is None and by_id[one].polarity is None  # answered: their move
    assert by_id[two].waiting == timedelta(minutes=9) and (by_id[two].polarity or 0) < 0
    assert by_id[two].target == "first response" and not by_id[two].breaching
    assert by_id[one].target == "resolution"

    def shown(show: Show, at: datetime = now) -> list[int]:
        return [r.view.id for r in inbox(db, actor_for(ada), RULES, show=show, now=at)]

    assert shown(Show.MINE) == [one] and shown(Show.UNASSIGNED) == [two]
    assert shown(Show.COMPLAINTS) == [two] and shown(Show.BREACHING) == []
    late = inbox(db, actor_for(ada), RULES, show=Show.BREACHING, now=now + timedelta(days=3))
    assert [r.view.id for r in late] == [one, two] and all(r.breaching for r in late)


def test_breaching_is_exactly_the_per_conversation_arithmetic(db: Database) -> None:
    rng = random.Random(5)
    for n in range(1, 41):
        write(db, n, "Where is my parcel?", MONDAY + timedelta(minutes=n))
        if n % 4 == 0:
            add_tags(db, _customer(db, n), ["corporate"])
    with db.transaction() as s:  # spread the openings over two weeks of calendar
        for n in range(1, 41):
            opened = MONDAY - timedelta(minutes=rng.randint(0, 14 * 24 * 60))
            s.execute(
                update(Conversation)
                .where(Conversation.id == conversation_of(db, n))
                .values(opened_at=opened)
            )
    ops = Actor("cli:test")
    for hours in (0, 3, 20, 70, 200):
        now = MONDAY + timedelta(hours=hours)
        every = inbox(db, ops, RULES, now=now, limit=1000)
        expected = [r.view.id for r in every if r.breaching]
        assert [
            r.view.id for r in inbox(db, ops, RULES, show=Show.BREACHING, now=now, limit=1000)
        ] == expected


def _customer(db: Database, n: int) -> int:
    with db.session() as s:
        return s.get(Conversation, conversation_of(db, n)).customer_id  # type: ignore[union-attr]


@settings(max_examples=60, deadline=None)
@given(
    start=st.integers(min_value=0, max_value=30 * 24 * 60),
    minutes=st.integers(min_value=1, max_value=3 * 24 * 60),
)
def test_latest_start_is_the_last_start_due_by_now(start: int, minutes: int) -> None:
    now = MONDAY + timedelta(minutes=start)
    duration = timedelta(minutes=minutes)
    cut = latest_start(RULES, duration, now)
    assert RULES.hours.add(cut, duration) <= now
    assert RULES.hours.add(cut + timedelta(seconds=1), duration) > now  # and no later one


def test_the_page_is_read_through_the_unresolved_index(db: Database) -> None:
    """The inbox's SQL names the statuses of `ix_conversations_unresolved` (migration 0020),
    so the planner can read a page in order instead of sorting every unresolved one."""
    for n in range(1, 6):
        write(db, n, "Where is my parcel?", MONDAY + timedelta(minutes=n))
    ran: list[tuple[str, object]] = []

    def keep(conn: object, cursor: object, sql: str, params: object, *_: object) -> None:
        if "ORDER BY conversations.last_message_at" in sql and "LIMIT" in sql:
            ran.append((sql, params))

    event.listen(db.engine, "before_cursor_execute", keep)
    try:
        assert len(inbox(db, OPS, RULES, now=MONDAY, limit=3)) == 3
    finally:
        event.remove(db.engine, "before_cursor_execute", keep)
    ((sql, params),) = ran
    with db.engine.connect() as conn:
        if db.dialect == "postgresql":  # a five-row table: make the planner show what it can use
            conn.exec_driver_sql("SET enable_seqscan = off")
            plan = [r[0] for r in conn.exec_driver_sql("EXPLAIN " + sql, params)]  # type: ignore[arg-type]
        else:
            plan = [r[3] for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql, params)]  # type: ignore[arg-type]
    assert any("ix_conversations_unresolved" in line for line in plan), plan
