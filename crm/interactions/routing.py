"""Which conversation an inbound message joins: the unresolved one, a reopened one, a new one.

A rating of a resolved complaint (rapport.crm.desk.resolution) joins the
conversation it rates and does not reopen it; every other customer message
joins the customer's unresolved conversation, reopens the one resolved
within the reopen window, or opens one.

Core over the conversations' columns on purpose: routing runs for every
inbound message, in statements built once (`_REOPEN`, `_OPEN`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, Update, bindparam, update

from rapport.crm.desk.resolution import SurveyAnswer
from rapport.crm.desk.rules import DeskRules
from rapport.crm.integrations.events import EventType, emit
from rapport.crm.integrations.payloads import conversation_created
from rapport.crm.interactions.checking import Checked
from rapport.crm.models import Conversation, ConversationStatus, UtcDateTime
from rapport.crm.prepared import Inserting

log = logging.getLogger(__name__)


def conversation_id_for(
    item: Checked,
    customer_id: int,
    conversation_of: dict[int, int],
    ratings: dict[tuple[str, str], SurveyAnswer],
) -> int | None:
    rating = ratings.get(item.key)
    if rating is not None and not rating.comment:
        return rating.conversation_id
    return conversation_of.get(customer_id)


@dataclass(frozen=True, slots=True)
class Joinable:
    """A customer's newest unresolved conversation, or else their newest one.

    Found with the sender (rapport.crm.interactions.storage, one statement for both).
    """

    id: int
    status: str
    channel: str
    resolved_at: datetime | None
    is_complaint: bool


def _statements() -> Update:
    """Built once (Core: on the single-message path building a statement costs more
    than running it)."""
    t = Conversation.__table__.c
    return (
        update(Conversation.__table__)
        .where(t.id == bindparam("vid"), t.status == ConversationStatus.RESOLVED.value)
        .values(
            status=ConversationStatus.OPEN.value,
            resolved_at=None,
            reopened_count=t.reopened_count + 1,
            reopened_at=bindparam("at", type_=UtcDateTime()),
        )
    )


_REOPEN = _statements()
_OPEN = Inserting(
    Conversation.__table__,
    ["customer_id", "channel", "status", "is_complaint", "opened_at", "last_message_at",
     "reopened_count"],
    Conversation.__table__.c.id,
)  # fmt: skip


def conversations_for(
    conn: Connection,
    fresh: list[Checked],
    customer_of: dict[tuple[str, str], int],
    rules: DeskRules,
    rating: set[int],
    joins: Mapping[int, Joinable],
    *,
    hooks: bool = True,
) -> tuple[dict[int, int], set[int]]:
    """customer id → the conversation their messages join, and the conversations opened.

    The unresolved one; else the customer's latest conversation reopened, when
    it was resolved within the rules' reopen window and is on the same channel
    (an answer goes out on the conversation's channel) and the customer is not
    just rating it (`rating`); else a new one. `joins` is what the sender
    lookup found for each customer (none for customers created in this batch).
    A new conversation is opened with its newest message's time, so it needs
    no touch afterwards. `hooks`: whether any webhook is subscribed.
    """
    talking = {
        customer_of[(i.message.channel, i.external_id)]: i
        for i in reversed(fresh)
        if not i.message.automated
    }
    if not talking:
        return {}, set()
    conversation_of: dict[int, int] = {}
    after_resolution: dict[int, Checked] = {}
    for cid, item in talking.items():
        found = joins.get(cid)
        if found is None:
            continue
        if found.status != ConversationStatus.RESOLVED:
            conversation_of[cid] = found.id
        elif cid not in rating:
            after_resolution[cid] = item
    conversation_of.update(_reopen(conn, after_resolution, joins, rules.reopen_window))
    opening = [cid for cid in talking if cid not in conversation_of]
    if not opening:
        return conversation_of, set()
    last: dict[int, datetime] = {}
    for i in fresh:
        if not i.message.automated:
            cid = customer_of[(i.message.channel, i.external_id)]
            last[cid] = max(last.get(cid, i.message.sent_at), i.message.sent_at)
    new_ids = _OPEN.ids(
        conn,
        [
            {
                "customer_id": cid,
                "channel": talking[cid].message.channel,
                "status": ConversationStatus.OPEN.value,
                "is_complaint": False,
                "opened_at": talking[cid].message.sent_at,
                "last_message_at": last[cid],
                "reopened_count": 0,
            }
            for cid in opening
        ],
    )
    conversation_of.update(zip(opening, new_ids, strict=True))
    if hooks:
        emit(conn, EventType.CONVERSATION_CREATED, [
            conversation_created(cid, customer, talking[customer].message.channel,
                                 talking[customer].message.sent_at)
            for customer, cid in zip(opening, new_ids, strict=True)
        ])  # fmt: skip
    return conversation_of, set(new_ids)


def _reopen(
    conn: Connection,
    talking: dict[int, Checked],
    joins: Mapping[int, Joinable],
    window: timedelta,
) -> dict[int, int]:
    """Reopen each customer's latest conversation if it was resolved within `window`.

    Reopening keeps the first response (it happened) and clears the resolution,
    so the resolution time is measured to the final one; `reopened_count` and
    `reopened_at` stay for the report. The conversation stays announced: the
    desk round forwards the reopening message to its assignee (rapport.crm.desk.forwarding).
    """
    if not talking or window <= timedelta(0):
        return {}
    reopened: dict[int, int] = {}
    for customer_id, item in talking.items():
        row = joins[customer_id]
        if (
            row.resolved_at is None
            or row.channel != item.message.channel
            or item.message.sent_at - row.resolved_at > window
        ):
            continue
        conn.execute(_REOPEN, {"vid": row.id, "at": item.message.sent_at})
        reopened[customer_id] = row.id
        log.info("conversation %d reopened by a customer message", row.id)
    return reopened
