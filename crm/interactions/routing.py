"""Which conversation an inbound message joins: the unresolved one, a reopened one, a new one.

A rating of a resolved complaint (rapport.crm.desk.resolution) joins the
conversation it rates and does not reopen it; every other customer message
joins the customer's unresolved conversation, reopens the one resolved
within the reopen window, or opens one.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from sqlalchemy import BindParameter, Connection, Select, bindparam, func, insert, select, update

from rapport.crm.desk.resolution import SurveyAnswer
from rapport.crm.desk.rules import DeskRules
from rapport.crm.integrations.events import EventType, emit
from rapport.crm.integrations.payloads import conversation_created
from rapport.crm.interactions.checking import Checked
from rapport.crm.models import Conversation, ConversationStatus

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


def _lookups() -> tuple[Select[Any], Select[Any]]:
    """Built once: on the single-message path, building a statement costs more than running it."""
    t = Conversation.__table__.c
    customers: BindParameter[Any] = bindparam("cids", expanding=True)
    unresolved = (
        select(t.id, t.customer_id)
        .where(t.customer_id.in_(customers), t.status != ConversationStatus.RESOLVED)
        .order_by(t.id)
    )
    latest = (
        select(t.customer_id, func.max(t.id).label("id"))
        .where(t.customer_id.in_(customers))
        .group_by(t.customer_id)
        .subquery()
    )
    latest_ones = select(t.id, t.customer_id, t.channel, t.resolved_at).join(
        latest, latest.c.id == t.id
    )
    return unresolved, latest_ones


_UNRESOLVED, _LATEST = _lookups()


def conversations_for(
    conn: Connection,
    fresh: list[Checked],
    customer_of: dict[tuple[str, str], int],
    rules: DeskRules,
    rating: set[int],
    new: set[int] | None = None,
) -> dict[int, int]:
    """customer id → the conversation their messages join.

    The unresolved one; else the customer's latest conversation reopened, when
    it was resolved within the rules' reopen window and is on the same channel
    (an answer goes out on the conversation's channel) and the customer is not
    just rating it (`rating`); else a new one. Customers created in this batch
    (`new`) have none yet, so nothing is looked up for them.
    """
    t = Conversation.__table__.c
    talking = {
        customer_of[(i.message.channel, i.external_id)]: i
        for i in reversed(fresh)
        if not i.message.automated
    }
    if not talking:
        return {}
    known = sorted(set(talking) - (new or set()))
    conversation_of: dict[int, int] = {}
    if known:
        rows = conn.execute(_UNRESOLVED, {"cids": known})
        conversation_of = {r.customer_id: r.id for r in rows}
    settled = set(conversation_of) | rating | (new or set())
    after_resolution = {cid: i for cid, i in talking.items() if cid not in settled}
    conversation_of.update(_reopen(conn, after_resolution, rules.reopen_window))
    opening = [cid for cid in talking if cid not in conversation_of]
    if opening:
        new_ids = (
            conn.execute(
                insert(Conversation.__table__).returning(t.id, sort_by_parameter_order=True),
                [
                    {
                        "customer_id": cid,
                        "channel": talking[cid].message.channel,
                        "status": ConversationStatus.OPEN,
                        "is_complaint": False,
                        "opened_at": talking[cid].message.sent_at,
                        "last_message_at": talking[cid].message.sent_at,
                    }
                    for cid in opening
                ],
            )
            .scalars()
            .all()
        )
        conversation_of.update(zip(opening, new_ids, strict=True))
        emit(conn, EventType.CONVERSATION_CREATED, [
            conversation_created(cid, customer, talking[customer].message.channel,
                                 talking[customer].message.sent_at)
            for customer, cid in zip(opening, new_ids, strict=True)
        ])  # fmt: skip
    return conversation_of


def _reopen(conn: Connection, talking: dict[int, Checked], window: timedelta) -> dict[int, int]:
    """Reopen each customer's latest conversation if it was resolved within `window`.

    Reopening keeps the first response (it happened) and clears the resolution,
    so the resolution time is measured to the final one; `reopened_count` and
    `reopened_at` stay for the report. The conversation stays announced: the
    desk round forwards the reopening message to its assignee (rapport.crm.desk.forwarding).
    """
    if not talking or window <= timedelta(0):
        return {}
    t = Conversation.__table__.c
    rows = conn.execute(_LATEST, {"cids": sorted(talking)})
    reopened: dict[int, int] = {}
    for row in rows:
        item = talking[row.customer_id]
        if (
            row.resolved_at is None
            or row.channel != item.message.channel
            or item.message.sent_at - row.resolved_at > window
        ):
            continue
        conn.execute(
            update(Conversation.__table__)
            .where(t.id == row.id, t.status == ConversationStatus.RESOLVED.value)
            .values(
                status=ConversationStatus.OPEN.value,
                resolved_at=None,
                reopened_count=t.reopened_count + 1,
                reopened_at=item.message.sent_at,
            )
        )
        reopened[row.customer_id] = row.id
        log.info("conversation %d reopened by a customer message", row.id)
    return reopened
