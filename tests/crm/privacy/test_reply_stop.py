"""A reply that is only a stop word withdraws marketing consent on that channel."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from rapport.crm.database import Database
from rapport.crm.interactions.ingest import ingest, ingest_batch
from rapport.crm.messages import InboundMessage
from rapport.crm.models import ConsentEvent
from rapport.crm.privacy.consent import is_stop_request, marketing_consent, set_marketing_consent
from tests.support.campaign_fixtures import T0
from tests.support.privacy_fixtures import two_channel_customer


@pytest.mark.parametrize(
    ("text", "stop"),
    [
        ("STOP", True),
        ("stop all", True),
        ("  Unsubscribe!  ", True),
        ("Stop.", True),
        ("退訂", True),
        ("Se désabonner", True),
        ("please don't stop the offers", False),
        ("stopping by tomorrow", False),
        ("unsubscribe me from nothing, I love it", False),
    ],
)
def test_only_a_whole_message_of_stop_words_counts(text: str, stop: bool) -> None:
    assert is_stop_request(text) is stop


def _message(channel: str, address: str, text: str, key: str, **extra: object) -> InboundMessage:
    return InboundMessage(channel, address, None, text, T0 + timedelta(hours=1), key, **extra)  # type: ignore[arg-type]


def test_stop_reply_withdraws_on_its_channel_in_the_ingest_transaction(db: Database) -> None:
    two_channel_customer(db, 1)
    set_marketing_consent(db, "email", "p1@example.com", granted=True, source="test")
    set_marketing_consent(db, "telegram", "70001", granted=True, source="test")

    ingest(db, _message("telegram", "70001", "Stop", "tg-1"))
    assert marketing_consent(db, "telegram", "70001") is False
    assert marketing_consent(db, "email", "p1@example.com") is True

    ingest(db, _message("telegram", "70001", "Stop", "tg-1"))  # a replay records nothing more
    ingest_batch(
        db,
        [
            _message("email", "p1@example.com", "stop talking about the weather", "m-1"),
            _message("email", "p1@example.com", "Thanks, see you", "m-2"),
        ],
    )
    assert marketing_consent(db, "email", "p1@example.com") is True
    with db.session() as s:
        sources = s.scalars(
            select(ConsentEvent.source).where(ConsentEvent.granted.is_(False))
        ).all()
    assert sources == ["reply:stop"]


def test_automated_messages_never_opt_anyone_out(db: Database) -> None:
    two_channel_customer(db, 2)
    set_marketing_consent(db, "email", "p2@example.com", granted=True, source="test")
    ingest(db, _message("email", "p2@example.com", "STOP", "auto-1", automated=True))
    assert marketing_consent(db, "email", "p2@example.com") is True
