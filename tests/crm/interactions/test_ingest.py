"""The ingest service: identity resolution, idempotency, sentiment, bad input."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event, func, select

from rapport.crm.database import Database
from rapport.crm.errors import InvalidMessage
from rapport.crm.interactions.ingest import ingest, ingest_batch
from rapport.crm.messages import InboundMessage
from rapport.crm.models import (
    Conversation,
    ConversationStatus,
    Customer,
    FollowUp,
    Identity,
    Interaction,
)
from rapport.crm.sentiment.scoring import Assessment, default_analyser

T0 = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)


def msg(
    key: str,
    text: str = "Hello, I have a question about my order",
    *,
    channel: str = "email",
    sender_id: str = "alice@example.com",
    sender: str | None = "Alice",
    at: datetime = T0,
) -> InboundMessage:
    return InboundMessage(
        channel=channel,
        external_id=sender_id,
        sender=sender,
        text=text,
        sent_at=at,
        message_key=key,
    )


def count(db: Database, model: type) -> int:
    with db.session() as s:
        return s.scalar(select(func.count()).select_from(model)) or 0


def test_first_message_creates_customer_identity_conversation(db: Database) -> None:
    result = ingest(db, msg("<m1@example.com>"))

    assert result.new_customer and not result.duplicate
    with db.session() as s:
        customer = s.get(Customer, result.customer_id)
        assert customer is not None
        assert customer.display_name == "Alice"
        assert customer.first_seen_channel == "email"
        assert customer.last_activity_at == T0
        identity = s.scalars(select(Identity)).one()
        assert (identity.channel, identity.external_id) == ("email", "alice@example.com")
        interaction = s.get(Interaction, result.interaction_id)
        assert interaction is not None and interaction.body.startswith("Hello")
        assert interaction.conversation_id == result.conversation_id
        conversation = s.get(Conversation, result.conversation_id)
        assert conversation is not None and conversation.status == ConversationStatus.OPEN


def test_returning_customer_is_recognised_by_normalised_address(db: Database) -> None:
    first = ingest(db, msg("k1", sender_id="Alice@Example.COM"))
    later = T0 + timedelta(hours=2)
    second = ingest(db, msg("k2", sender_id=" alice@example.com ", at=later))

    assert second.customer_id == first.customer_id
    assert not second.new_customer
    assert second.conversation_id == first.conversation_id
    assert count(db, Customer) == 1
    with db.session() as s:
        assert s.get(Customer, first.customer_id).last_activity_at == later  # type: ignore[union-attr]


def test_same_external_id_on_other_channel_is_other_customer(db: Database) -> None:
    a = ingest(db, msg("1", channel="telegram", sender_id="4242"))
    b = ingest(db, msg("1", channel="email", sender_id="x@example.com"))
    assert a.customer_id != b.customer_id
    assert count(db, Interaction) == 2


def test_replay_is_a_no_op_returning_the_same_ids(db: Database) -> None:
    first = ingest(db, msg("<same@example.com>", "I love the new store!"))
    replay = ingest(db, msg("<same@example.com>", "I love the new store!"))

    assert replay.duplicate and not replay.new_customer
    assert (replay.customer_id, replay.interaction_id, replay.conversation_id) == (
        first.customer_id,
        first.interaction_id,
        first.conversation_id,
    )
    assert replay.polarity == first.polarity
    assert count(db, Interaction) == 1
    assert count(db, Customer) == 1


def test_duplicates_inside_one_batch_store_once(db: Database) -> None:
    results = ingest_batch(db, [msg("a"), msg("b"), msg("a")])
    assert [r.duplicate for r in results] == [False, False, True]
    assert results[0].interaction_id == results[2].interaction_id
    assert [r.new_customer for r in results] == [True, False, False]
    assert count(db, Interaction) == 2


def test_batch_of_many_senders_resolves_each_once(db: Database) -> None:
    batch = [msg(f"k{i}", sender_id=f"user{i % 7}@example.com") for i in range(50)]
    results = ingest_batch(db, batch)
    assert count(db, Customer) == 7
    assert sum(r.new_customer for r in results) == 7
    assert len({r.conversation_id for r in results}) == 7


def test_a_big_batch_pairs_each_message_with_its_own_rows(db: Database) -> None:
    """A batch's inserts pair each returned id with its row by their order (pipelined
    executions on PostgreSQL, a loop on SQLite): each message gets its own rows."""
    batch = [
        msg(f"big{i}", f"Question number {i} about my order", sender_id=f"u{i}@example.com")
        for i in range(25)
    ]
    results = ingest_batch(db, batch)

    with db.session() as s:
        for message, result in zip(batch, results, strict=True):
            row = s.get(Interaction, result.interaction_id)
            assert row is not None
            assert (row.message_key, row.body) == (message.message_key, message.text)
            assert row.customer_id == result.customer_id
            assert row.conversation_id == result.conversation_id
            identity = s.scalars(
                select(Identity).where(Identity.external_id == message.external_id)
            ).one()
            assert identity.customer_id == result.customer_id
    assert len({r.customer_id for r in results}) == len(batch)


def test_a_batch_finds_its_known_senders_and_replays(db: Database) -> None:
    """The batch lookups (an array of senders and of keys on PostgreSQL, an IN list on
    SQLite) find every known sender and replay, whatever the batch's length."""
    first = ingest_batch(db, [msg(f"f{i}", sender_id=f"user{i}@example.com") for i in range(7)])
    again = [msg(f"s{i}", sender_id=f"user{i % 7}@example.com") for i in range(12)]
    replays = [msg(f"f{i}", sender_id=f"user{i}@example.com") for i in (1, 4, 6)]
    results = ingest_batch(db, again + replays)

    assert not any(r.new_customer for r in results)
    assert [r.customer_id for r in results[:12]] == [first[i % 7].customer_id for i in range(12)]
    assert [r.conversation_id for r in results[:7]] == [r.conversation_id for r in first]
    assert [r.duplicate for r in results] == [False] * 12 + [True] * 3
    assert [r.interaction_id for r in results[12:]] == [first[i].interaction_id for i in (1, 4, 6)]
    assert count(db, Customer) == 7
    assert count(db, Interaction) == 7 + 12


def test_english_text_is_scored(db: Database) -> None:
    happy = ingest(db, msg("p", "Thank you so much, the service was excellent!"))
    angry = ingest(db, msg("n", "This is the worst delivery, I am very angry"))
    assert happy.language == "en" and angry.language == "en"
    assert happy.polarity is not None and happy.polarity > 0.3
    assert angry.polarity is not None and angry.polarity < -0.3


@pytest.mark.parametrize(
    "text",
    ["你好，我想查询我的订单", "El servicio fue excelente", "12345 678"],
)
def test_text_in_a_language_without_a_scorer_is_stored_unscored(db: Database, text: str) -> None:
    result = ingest(db, msg("u", text))
    with db.session() as s:
        row = s.get(Interaction, result.interaction_id)
        assert row is not None and row.body == text
        assert row.polarity is None and row.subjectivity is None


@pytest.mark.parametrize(
    ("message", "error"),
    [
        (msg("e", "   \n\t "), "no text"),
        (msg("e", "x" * 1_000_001), "limit"),
        (msg("e", "abc\x00def"), "NUL"),
        (msg("e", "bad \ud800 surrogate"), "Unicode"),
        (msg("e", sender_id="not-an-address"), "invalid email"),
        (msg("e", sender_id="a@b@c.com"), "invalid email"),
        (msg("e", channel="telegram", sender_id="12ab"), "Telegram chat id"),
        (msg("e", channel="fax"), "unknown channel"),
        (msg(""), "message key"),
        (msg("k\r\nInjected: yes"), "message key"),
        (msg("e", at=datetime(2026, 1, 1)), "time zone"),
    ],
)
def test_bad_input_is_refused_and_stores_nothing(
    db: Database, message: InboundMessage, error: str
) -> None:
    with pytest.raises(InvalidMessage, match=error):
        ingest(db, message)
    assert count(db, Customer) == 0
    assert count(db, Interaction) == 0


def test_one_bad_message_refuses_the_whole_batch(db: Database) -> None:
    with pytest.raises(InvalidMessage):
        ingest_batch(db, [msg("ok1"), msg("bad", sender_id="nope"), msg("ok2")])
    assert count(db, Interaction) == 0


def test_crlf_in_sender_name_is_neutralised(db: Database) -> None:
    result = ingest(db, msg("n", sender="Eve\r\nBcc: victim@example.com"))
    with db.session() as s:
        name = s.get(Customer, result.customer_id).display_name  # type: ignore[union-attr]
    assert name == "Eve Bcc: victim@example.com"
    assert "\r" not in name and "\n" not in name


def test_odd_unicode_is_kept_verbatim(db: Database) -> None:
    text = "Zero\u200bwidth, RTL \u202eevil\u202c, combining e\u0301, emoji 👩‍👩‍👧"
    result = ingest(db, msg("odd", text))
    with db.session() as s:
        assert s.get(Interaction, result.interaction_id).body == text  # type: ignore[union-attr]


def _resolve_at(db: Database, conversation_id: int | None, at: datetime) -> None:
    with db.transaction() as s:
        conversation = s.get(Conversation, conversation_id)
        assert conversation is not None
        conversation.status, conversation.resolved_at = ConversationStatus.RESOLVED, at


def test_resolved_conversation_reopens_within_the_window_only(db: Database) -> None:
    """Default rules: 7 days. Within them the same conversation opens again, later a new one."""
    first = ingest(db, msg("1"))
    _resolve_at(db, first.conversation_id, T0 + timedelta(hours=1))
    again = ingest(db, msg("2", at=T0 + timedelta(days=1)))
    assert again.conversation_id == first.conversation_id
    with db.session() as s:
        reopened = s.get(Conversation, first.conversation_id)
        assert reopened is not None and reopened.status == ConversationStatus.OPEN
        assert reopened.resolved_at is None and reopened.reopened_count == 1
        assert reopened.reopened_at == T0 + timedelta(days=1)
    _resolve_at(db, first.conversation_id, T0 + timedelta(days=1, hours=1))
    later = ingest(db, msg("3", at=T0 + timedelta(days=8, hours=2)))
    assert later.conversation_id != first.conversation_id
    assert count(db, Conversation) == 2


def test_late_message_does_not_move_activity_backwards(db: Database) -> None:
    ingest(db, msg("new", at=T0 + timedelta(days=1)))
    result = ingest(db, msg("old", at=T0))
    with db.session() as s:
        customer = s.get(Customer, result.customer_id)
        assert customer.last_activity_at == T0 + timedelta(days=1)  # type: ignore[union-attr]


@contextmanager
def statements(db: Database) -> Iterator[list[str]]:
    """The SQL statements SQLite ran for `db` inside the block, as the driver saw them.

    From SQLite's own trace, so the statements run on the raw cursor
    (rapport.crm.prepared) count too; BEGIN and COMMIT do not.
    """
    seen: list[str] = []

    def note(statement: str) -> None:
        if statement.lstrip().split(" ", 1)[0].upper() in {"SELECT", "INSERT", "UPDATE", "DELETE"}:
            seen.append(statement)

    def trace(dbapi_connection: Any, *_args: Any) -> None:
        dbapi_connection.set_trace_callback(note)

    event.listen(db.engine, "checkout", trace)
    try:
        yield seen
    finally:
        event.remove(db.engine, "checkout", trace)


def test_one_message_is_a_handful_of_statements(db: Database) -> None:
    """The single-message path (an SMTP mail) stays cheap: one lookup, inserts, two updates.

    A new sender: the lookup and four INSERTs (customer, identity, conversation,
    interaction), no UPDATE; a known one: the lookup, the interaction and two
    UPDATEs (customer, conversation activity). Counted by SQLite's trace; the
    statements are the same on PostgreSQL, whose driver has no such hook.
    """
    if db.dialect != "sqlite":
        pytest.skip("statements are counted by SQLite's trace callback")
    with statements(db) as first:
        ingest(db, msg("<s1@example.com>"))
    assert len(first) == 5, first
    assert sum(s.lstrip().upper().startswith("UPDATE") for s in first) == 0
    with statements(db) as second:
        ingest(db, msg("<s2@example.com>", at=T0 + timedelta(minutes=1)))
    assert len(second) == 4, second


def test_a_new_customer_is_inserted_as_its_whole_batch_leaves_it(db: Database) -> None:
    """No touch after the insert: the rows already carry the batch's newest message."""
    later = T0 + timedelta(minutes=5)
    auto = replace(msg("auto", "Out of office", at=T0 + timedelta(hours=1)), automated=True)
    results = ingest_batch(
        db,
        [
            msg("1", sender=None, at=T0 + timedelta(minutes=1)),
            msg("2", channel="email", sender="Alice Smith", at=later),
            msg("3", sender="Al", at=T0),  # late: moves nothing backwards
            auto,  # automated: not activity
        ],
    )
    assert [r.new_customer for r in results] == [True, False, False, False]
    with db.session() as s:
        customer = s.get(Customer, results[0].customer_id)
        assert customer is not None
        assert (customer.display_name, customer.last_activity_at) == ("Alice Smith", later)
        assert customer.last_channel == "email"
        assert s.scalars(select(Identity.display_name)).one() == "Alice Smith"
        conversation = s.get(Conversation, results[0].conversation_id)
        assert conversation is not None
        assert conversation.opened_at == T0 + timedelta(minutes=1)
        assert conversation.last_message_at == later


def test_a_replay_of_one_message_is_found_after_its_insert_is_refused(db: Database) -> None:
    """One message skips the replay lookup; the unique key refuses a replay, nothing stays."""
    first = ingest(db, msg("<r@example.com>", "Where is my parcel?"))
    again = ingest(db, msg("<r@example.com>", "Where is my parcel?", sender="Alice B"))
    assert again.duplicate and again.interaction_id == first.interaction_id
    assert (again.customer_id, again.conversation_id) == (first.customer_id, first.conversation_id)
    assert count(db, Interaction) == 1
    with db.session() as s:
        assert s.scalars(select(Identity.display_name)).one() == "Alice"  # rolled back


def test_complaints_in_one_batch_are_flagged_once_each_with_one_follow_up(db: Database) -> None:
    """Set-based flagging: every tripped conversation flagged, one follow-up each, first kept."""
    ingest(db, msg("old", "Hello there", sender_id="bob@example.com"))  # known, not flagged
    first = ingest_batch(
        db,
        [
            msg("a1", "This is a complaint: the parcel is broken", sender_id="ann@example.com"),
            msg("b1", "I want to complain, the order is wrong", sender_id="bob@example.com"),
            msg("c1", "Thanks, all good", sender_id="cy@example.com"),
        ],
    )
    ingest_batch(db, [msg("a2", "Still a complaint, terrible", sender_id="ann@example.com")])
    with db.session() as s:
        flagged = dict(
            s.execute(select(Conversation.id, Conversation.complaint_reason).where(
                Conversation.is_complaint.is_(True)
            )).all()
        )  # fmt: skip
        follow_ups = s.scalars(select(FollowUp.conversation_id)).all()
    assert set(flagged) == {first[0].conversation_id, first[1].conversation_id}
    assert all(reason and reason.startswith("word:") for reason in flagged.values())
    assert sorted(follow_ups) == sorted(flagged)


class _Counting:
    """The default analyser, counting what it is asked to score."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def assess(self, text: str) -> Assessment:
        self.asked.append(text)
        return default_analyser.assess(text)


def test_a_batch_scores_each_distinct_text_once_with_the_same_scores(db: Database) -> None:
    texts = ["thanks", "The app is broken again", "thanks", "thanks", "The app is broken again"]
    counting = _Counting()
    results = ingest_batch(
        db,
        [msg(f"<r{n}@example.com>", t, at=T0 + timedelta(seconds=n)) for n, t in enumerate(texts)],
        analyser=counting,
    )
    assert sorted(counting.asked) == sorted(set(texts))
    expected = [default_analyser.assess(t) for t in texts]
    assert [(r.polarity, r.subjectivity, r.language) for r in results] == [
        (e.polarity, e.subjectivity, e.language) for e in expected
    ]
    with db.session() as s:
        stored = s.scalars(select(Interaction.polarity).order_by(Interaction.id)).all()
    assert stored == [e.polarity for e in expected]
