"""The desk's inbox as the web console shows it: one row per unresolved conversation.

The bot's `/conversations` lists the same conversations (rapport.crm.desk
.conversations); the inbox adds what a screen has room for: the latest
message and its sentiment, how long the customer has waited, and the next
contact-policy target (first response, then resolution, in business time,
rapport.crm.desk.rules) with whether it is already missed. The read is
audited as the bot's list is ("conversations.list").

Core over the tables' columns in the per-row lookups on purpose: the page is
read on every refresh of every open console, and its statements are built
once, with expanding parameters, rather than per request.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import BindParameter, ColumnElement, bindparam, select
from sqlalchemy.orm import Session

from rapport.crm.clock import as_utc
from rapport.crm.database import Database
from rapport.crm.desk.conversations import UNRESOLVED, ConversationView, conversation_views
from rapport.crm.desk.report import tags_by_customer
from rapport.crm.desk.rules import EVERYONE, DeskRules
from rapport.crm.errors import InvalidInput
from rapport.crm.models import (
    Conversation,
    ConversationStatus,
    CustomerTag,
    Direction,
    Interaction,
)
from rapport.crm.staff.audit import Actor, record


class Show(StrEnum):
    ALL = "all"
    MINE = "mine"
    UNASSIGNED = "unassigned"
    COMPLAINTS = "complaints"
    BREACHING = "breaching"


@dataclass(frozen=True, slots=True)
class InboxRow:
    view: ConversationView
    last_text: str | None
    last_direction: str | None
    polarity: float | None
    """Sentiment of the customer's latest message (-1 … 1), if scored."""
    target: str | None
    """"first response" or "resolution": what the contact policy expects next."""
    due: datetime | None
    waiting: timedelta | None
    """Since the customer's latest message when it is still unanswered."""
    breaching: bool


def unresolved() -> ColumnElement[bool]:
    """`status IN ('open', 'waiting')` with the values written into the SQL, not bound.

    That is the condition of the partial index `ix_conversations_unresolved`
    (last_message_at, id), and planners only use a partial index when they can
    see the query implies its condition: the page then reads its 50 rows in
    order instead of sorting all unresolved conversations (20,000: 5 ms → 0.1 ms).
    """
    values: BindParameter[str] = bindparam(
        "unresolved", list(UNRESOLVED), expanding=True, literal_execute=True
    )
    return Conversation.status.in_(values)


def parse_show(value: str | None) -> Show:
    try:
        return Show(value or Show.ALL)
    except ValueError:
        raise InvalidInput(f"show is one of {', '.join(Show)}") from None


def _latest(session: Session, ids: list[int]) -> dict[int, tuple[str | None, str, float | None]]:
    """Each conversation's latest message: (body, direction, its sentiment).

    Core and a correlated `LIMIT 1` per conversation: each reads one entry of
    `ix_interactions_conversation_sent` (migration 0020), where a window
    function over the page's conversations sorted all of their messages.
    """
    if not ids:
        return {}
    i = Interaction.__table__.c
    newer = Interaction.__table__.alias("newer")
    c = Conversation.__table__.c
    newest = (
        select(newer.c.id)
        .where(newer.c.conversation_id == c.id)
        .order_by(newer.c.sent_at.desc(), newer.c.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    rows = session.execute(
        select(i.conversation_id, i.body, i.direction, i.polarity).where(
            i.id.in_(select(newest).where(c.id.in_(ids)))
        )
    ).all()
    return {r.conversation_id: (r.body, r.direction, r.polarity) for r in rows}


def _row(
    view: ConversationView,
    latest: tuple[str | None, str, float | None] | None,
    tags: set[str],
    rules: DeskRules,
    now: datetime,
) -> InboxRow:
    body, direction, polarity = latest if latest is not None else (None, None, None)
    policy = rules.policy_for(tags)
    target = due = None
    if policy is not None:
        if view.first_response_at is None and view.status == ConversationStatus.OPEN:
            target, due = "first response", rules.hours.add(view.opened_at, policy.first_response)
        else:
            target, due = "resolution", rules.hours.add(view.opened_at, policy.resolution)
    waiting = now - view.last_message_at if direction == Direction.IN.value else None
    return InboxRow(
        view=view,
        last_text=body,
        last_direction=direction,
        polarity=polarity if direction == Direction.IN.value else None,
        target=target,
        due=due,
        waiting=waiting,
        breaching=due is not None and now >= due,
    )


def latest_start(rules: DeskRules, duration: timedelta, now: datetime) -> datetime:
    """The latest opening instant whose target `duration` (business time) is due by `now`.

    Deadlines grow with the start (`BusinessHours.add` is monotonic), so a
    conversation breaches exactly when it opened at or before this instant:
    one search per policy instead of business-hours arithmetic per conversation.
    """
    span = max(duration, timedelta(hours=1))
    low = now - span
    while rules.hours.add(low, duration) > now:  # step back until a start is due
        span *= 2
        low = now - span
    high = now
    while high - low > timedelta(seconds=1):
        middle = low + (high - low) / 2
        if rules.hours.add(middle, duration) <= now:
            low = middle
        else:
            high = middle
    return low


def _breaching(session: Session, rules: DeskRules, now: datetime, limit: int) -> list[int]:
    """Ids of the first `limit` unresolved conversations past their next target, longest
    waiting first: one light scan of the unresolved ones and their customers' tags."""
    c = Conversation.__table__.c
    rows = session.execute(
        select(c.id, c.customer_id, c.status, c.opened_at, c.first_response_at.is_(None))
        .where(unresolved())
        .order_by(c.last_message_at, c.id)
        .execution_options(yield_per=500)  # most pages fill long before the end
    )
    tags: dict[int, set[str]] = {}
    # Only the tags a policy names decide (policy_for): read those, by the tag index, for
    # customers with an unresolved conversation, not every tag of all of them.
    named = sorted({p.segment for p in rules.policies if p.segment != EVERYONE})
    if named:
        t = CustomerTag.__table__.c
        waiting = select(c.id).where(c.customer_id == t.customer_id, unresolved()).exists()
        for customer_id, tag in session.execute(
            select(t.customer_id, t.tag).where(t.tag.in_(named), waiting)
        ):
            tags.setdefault(customer_id, set()).add(tag)
    cutoffs: dict[tuple[int, bool], datetime] = {}
    found: list[int] = []
    for conversation_id, customer_id, status, opened_at, unanswered in rows:
        policy = rules.policy_for(tags.get(customer_id, set()))
        if policy is None:
            continue
        first = bool(unanswered) and status == ConversationStatus.OPEN
        key = (rules.policies.index(policy), first)
        if key not in cutoffs:
            duration = policy.first_response if first else policy.resolution
            cutoffs[key] = latest_start(rules, duration, now)
        if as_utc(opened_at) <= cutoffs[key]:
            found.append(conversation_id)
            if len(found) == limit:
                break
    rows.close()
    return found


def inbox(
    db: Database,
    actor: Actor,
    rules: DeskRules,
    *,
    show: Show = Show.ALL,
    now: datetime,
    limit: int = 100,
) -> list[InboxRow]:
    """Unresolved conversations, longest waiting first, as `show` filters them (audited)."""
    where: list[ColumnElement[bool]] = [unresolved()]
    if show == Show.MINE:
        where.append(Conversation.assigned_staff_id == actor.staff_id)
    elif show == Show.UNASSIGNED:
        where.append(Conversation.assigned_staff_id.is_(None))
    elif show == Show.COMPLAINTS:
        where.append(Conversation.is_complaint.is_(True))
    with db.transaction() as session:
        if show == Show.BREACHING:  # decided in Python (business hours, each one's policy)
            where.append(Conversation.id.in_(_breaching(session, rules, now, limit)))
        views = conversation_views(session, where, limit=limit)
        tags = tags_by_customer(session, {v.customer_id for v in views})
        latest = _latest(session, [v.id for v in views])
        rows = [
            _row(v, latest.get(v.id), tags.get(v.customer_id, set()), rules, now) for v in views
        ]
        record(session, actor, "conversations.list", detail=f"{len(rows)} shown")
        return rows
