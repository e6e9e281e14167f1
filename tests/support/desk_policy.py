"""Helpers shared by test modules.

Moved out of test_desk_policy.py, which other test modules imported.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from rapport.crm.database import Database
from rapport.crm.desk.rules import DEFAULT_RULES, parse_rules
from rapport.crm.interactions.ingest import ingest
from rapport.crm.messages import InboundMessage
from rapport.crm.models import Conversation

BERLIN = ZoneInfo("Europe/Berlin")


RULES = parse_rules(DEFAULT_RULES, BERLIN)


def local(text: str) -> datetime:
    """'2026-11-20 16:30' in Berlin (Friday 20 November 2026)."""
    return datetime.fromisoformat(text).replace(tzinfo=BERLIN)


def _write(db: Database, who: str, at: str, text: str = "Hello, a question") -> int:
    result = ingest(
        db,
        InboundMessage(
            channel="email",
            external_id=f"{who}@example.org",
            sender=who.title(),
            text=text,
            sent_at=local(at),
            message_key=f"<{who}-{at.replace(' ', '-')}@example.org>",
            subject="Question",
        ),
        desk=RULES,
    )
    assert result.conversation_id is not None
    return result.conversation_id


def _customer_of(db: Database, conversation_id: int) -> int:
    with db.session() as session:
        found = session.get(Conversation, conversation_id)
        assert found is not None
        return found.customer_id
