"""Set-based storage of a checked batch: the ingest hot path.

A handful of statements per batch, not one per message: replays found by
(channel, message key), senders by (channel, external id), new customers and
identities and interactions inserted in bulk, activity moved forward with
pre-built UPDATEs. Core statements over the tables on purpose: constructing
ORM statements per message costs more than running them.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    Connection,
    Select,
    Update,
    bindparam,
    case,
    exists,
    func,
    or_,
    select,
    true,
    update,
)

from rapport.crm.clock import utcnow
from rapport.crm.database import one_of
from rapport.crm.desk.resolution import SurveyAnswer
from rapport.crm.interactions.checking import Checked
from rapport.crm.interactions.engagement import ENGAGEMENT_WINDOW
from rapport.crm.interactions.routing import Joinable, conversation_id_for
from rapport.crm.messages import IngestResult
from rapport.crm.models import (
    Conversation,
    ConversationStatus,
    Customer,
    Delivery,
    DeliveryStatus,
    Direction,
    Identity,
    Interaction,
    UtcDateTime,
    WebhookSubscription,
)
from rapport.crm.prepared import Inserting, Prepared


def first_occurrences(
    checked: list[Checked], stored: dict[tuple[str, str], IngestResult]
) -> list[Checked]:
    seen: set[tuple[str, str]] = set(stored)
    fresh: list[Checked] = []
    for item in checked:
        if item.key not in seen:
            seen.add(item.key)
            fresh.append(item)
    return fresh


def _by_channel(pairs: Iterable[tuple[str, str]]) -> dict[str, set[str]]:
    grouped: dict[str, set[str]] = {}
    for channel, value in pairs:
        grouped.setdefault(channel, set()).add(value)
    return grouped


def _replays(as_array: bool) -> Select[Any]:
    """Built once: a statement built per message costs more than running it (the
    single-message path is what each SMTP mail pays).

    Core, not the ORM: these run for every message, where the ORM's per-statement
    bookkeeping cost more than the database did.
    """
    t = Interaction.__table__.c
    return select(
        t.id,
        t.customer_id,
        t.conversation_id,
        t.message_key,
        t.polarity,
        t.subjectivity,
        t.language,
    ).where(t.channel == bindparam("channel"), one_of(t.message_key, "keys", as_array))


def _senders(as_array: bool) -> Select[Any]:
    """Everything ingest needs to know about the senders, in one statement.

    Per known identity: its customer and name; the conversation the customer's
    next message joins (the newest unresolved one) or else the newest one, which
    it may reopen, with its complaint flag; whether a campaign message was sent
    to the customer since `since` (engagement). Plus, on a row of its own even
    when no sender is known, whether any webhook is subscribed (else nothing is
    emitted and the outbox costs nothing). One round trip instead of six on
    PostgreSQL; one statement instead of six through SQLAlchemy on SQLite.
    """
    i = Identity.__table__.c
    v = Conversation.__table__.c
    d = Delivery.__table__.c
    unresolved = (
        select(func.max(v.id))
        .where(v.customer_id == i.customer_id, v.status != ConversationStatus.RESOLVED.value)
        .scalar_subquery()
    )
    newest = select(func.max(v.id)).where(v.customer_id == i.customer_id).scalar_subquery()
    joins = Conversation.__table__.alias("joins")
    recently_sent = (
        exists()
        .where(
            d.customer_id == i.customer_id,
            d.status == DeliveryStatus.SENT.value,
            d.sent_at > bindparam("since", type_=UtcDateTime()),
        )
        .label("recently_sent")
    )
    known = (
        select(
            i.external_id,
            i.customer_id,
            i.display_name,
            joins.c.id.label("conversation_id"),
            joins.c.status,
            joins.c.channel,
            joins.c.resolved_at,
            joins.c.is_complaint,
            recently_sent,
        )
        .select_from(
            Identity.__table__.outerjoin(joins, joins.c.id == func.coalesce(unresolved, newest))
        )
        .where(i.channel == bindparam("channel"), one_of(i.external_id, "ids", as_array))
        .subquery("known")
    )
    w = WebhookSubscription.__table__.c
    hooks = select(exists().where(w.active.is_(True)).label("hooks")).subquery("hooks")
    return select(hooks.c.hooks, *known.c).select_from(hooks.outerjoin(known, true()))


_REPLAYS = {as_array: _replays(as_array) for as_array in (False, True)}
_SENDERS = {as_array: Prepared(_senders(as_array)) for as_array in (False, True)}
"""Each lookup with an IN list, and with an array for PostgreSQL (`one_of`)."""


def _as_array(conn: Connection, values: Collection[str]) -> bool:
    """Several values on PostgreSQL; one keeps `= value` (its IN list of one), whose
    plan and parameter cost less than an array's (the single-message path)."""
    return len(values) > 1 and conn.dialect.name == "postgresql"


def existing_interactions(
    conn: Connection, checked: list[Checked]
) -> dict[tuple[str, str], IngestResult]:
    found: dict[tuple[str, str], IngestResult] = {}
    for channel, keys in _by_channel(c.key for c in checked).items():
        rows = conn.execute(
            _REPLAYS[_as_array(conn, keys)], {"channel": channel, "keys": sorted(keys)}
        )
        for row in rows:
            found[(channel, row.message_key)] = IngestResult(
                customer_id=row.customer_id,
                interaction_id=row.id,
                conversation_id=row.conversation_id,
                new_customer=False,
                duplicate=True,
                polarity=row.polarity,
                subjectivity=row.subjectivity,
                language=row.language,
            )
    return found


@dataclass(slots=True)
class Senders:
    """What `existing_identities` found about a batch's senders (see `_senders`)."""

    customer_of: dict[tuple[str, str], int] = field(default_factory=dict)
    """(channel, external id) → customer id, for the senders already known."""
    names: dict[tuple[str, str], str | None] = field(default_factory=dict)
    """Each known identity's display name, so `touch_activity` writes only a change."""
    joins: dict[int, Joinable] = field(default_factory=dict)
    """customer id → the conversation a message joins or may reopen (routing)."""
    recently_sent: set[int] = field(default_factory=set)
    """Customers sent a campaign message within the engagement window (engagement)."""
    hooks: bool = False
    """Whether any webhook subscription is active (events are emitted only then)."""


def existing_identities(conn: Connection, fresh: list[Checked]) -> Senders:
    """The senders we already know, with their conversations, in one statement per channel."""
    found = Senders()
    if not fresh:
        return found
    since = min(c.message.sent_at for c in fresh) - ENGAGEMENT_WINDOW
    for channel, ids in _by_channel((c.message.channel, c.external_id) for c in fresh).items():
        rows = _SENDERS[_as_array(conn, ids)].rows(
            conn, {"channel": channel, "ids": sorted(ids), "since": since}
        )
        for hooks, xid, cid, name, vid, status, vchannel, resolved_at, complaint, sent in rows:
            found.hooks = found.hooks or bool(hooks)
            if cid is None:  # the hooks row: no sender known
                continue
            found.customer_of[(channel, xid)] = cid
            found.names[(channel, xid)] = name
            if vid is not None:
                found.joins[cid] = Joinable(vid, status, vchannel, resolved_at, bool(complaint))
            if sent:
                found.recently_sent.add(cid)
    return found


def create_customers(
    conn: Connection, fresh: list[Checked], customer_of: dict[tuple[str, str], int]
) -> set[int]:
    """Insert a customer and identity for each unknown sender; returns the new ids.

    Each row is written as `touch_activity` would leave it after this batch
    (last activity and channel of the sender's newest customer message, the
    newest name given), so new customers need no UPDATE after their INSERT.
    A new customer has no survey to rate, so every message that is neither
    automated nor a button counts, as it would for `touch_activity`.
    """
    first_message: dict[tuple[str, str], Checked] = {}
    newest: dict[tuple[str, str], Checked] = {}
    for item in fresh:
        id_key = (item.message.channel, item.external_id)
        if id_key in customer_of:
            continue
        first_message.setdefault(id_key, item)
        m = item.message
        if m.automated or m.button:
            continue
        if id_key not in newest or m.sent_at >= newest[id_key].message.sent_at:
            newest[id_key] = item
    if not first_message:
        return set()
    keys = list(first_message)
    customer_rows, names = [], []
    for key in keys:
        first, last = first_message[key], newest.get(key)
        names.append(last.sender if last is not None and last.sender else first.sender)
        customer_rows.append(
            {
                "display_name": first.sender or (last.sender if last is not None else None),
                "first_seen_channel": first.message.channel,
                "last_channel": None if last is None else last.message.channel,
                "last_activity_at": None if last is None else last.message.sent_at,
                "created_at": first.message.sent_at,
                "marketing_consent": False,
            }
        )
    new_ids = _NEW_CUSTOMER.ids(conn, customer_rows)
    _NEW_IDENTITY.ids(
        conn,
        [
            {
                "customer_id": cid,
                "channel": key[0],
                "external_id": key[1],
                "display_name": name,
                "created_at": first_message[key].message.sent_at,
                "soft_bounces": 0,
            }
            for cid, key, name in zip(new_ids, keys, names, strict=True)
        ],
    )
    customer_of.update(zip(keys, new_ids, strict=True))
    return set(new_ids)


def insert_interactions(
    conn: Connection,
    fresh: list[Checked],
    customer_of: dict[tuple[str, str], int],
    conversation_of: dict[int, int],
    ratings: dict[tuple[str, str], SurveyAnswer],
) -> dict[tuple[str, str], int]:
    rows = []
    recorded_at = utcnow()
    for item in fresh:
        customer_id = customer_of[(item.message.channel, item.external_id)]
        m = item.message
        rows.append(
            {
                "customer_id": customer_id,
                "conversation_id": None
                if m.automated
                else conversation_id_for(item, customer_id, conversation_of, ratings),
                "channel": m.channel,
                "direction": Direction.IN.value,
                "body": m.text,
                "subject": item.subject,
                "language": item.assessment.language,
                "polarity": item.assessment.polarity,
                "subjectivity": item.assessment.subjectivity,
                "automated": m.automated,
                "message_key": m.message_key,
                "in_reply_to": m.in_reply_to,
                "sent_at": m.sent_at,
                "claimed_sent_at": m.claimed_sent_at,
                "recorded_at": recorded_at,
            }
        )
    ids = _NEW_INTERACTION.ids(conn, rows)
    return {item.key: i for item, i in zip(fresh, ids, strict=True)}


def touch_activity(
    conn: Connection,
    fresh: list[Checked],
    customer_of: dict[tuple[str, str], int],
    conversation_of: dict[int, int],
    names: dict[tuple[str, str], str | None] | None = None,
    *,
    created: Collection[int] = (),
    opened: Collection[int] = (),
) -> None:
    """Bring customers, identities and conversations forward to their newest message.

    Late arrivals never move anything backwards; a waiting conversation
    reopens; a name is filled in only where none is known. Customers
    `created` and conversations `opened` in this batch were inserted with
    these values already, so nothing is updated for them.
    """
    newest: dict[int, Checked] = {}
    for item in fresh:
        if item.message.automated:
            continue
        cid = customer_of[(item.message.channel, item.external_id)]
        if cid not in newest or item.message.sent_at >= newest[cid].message.sent_at:
            newest[cid] = item
    known = [(cid, i) for cid, i in newest.items() if cid not in created]
    touched = [
        {"cid": c, "at": i.message.sent_at, "channel": i.message.channel, "name": i.sender}
        for c, i in known
    ]
    _run(conn, _TOUCH_CUSTOMER, touched)
    named = [
        i
        for cid, i in known
        if i.sender and (names is None or names.get((i.message.channel, i.external_id)) != i.sender)
    ]
    if named:
        conn.execute(
            _NAME_IDENTITY,
            [{"ch": i.message.channel, "xid": i.external_id, "name": i.sender} for i in named],
        )
    moved = [
        {"vid": conversation_of[cid], "at": i.message.sent_at}
        for cid, i in newest.items()
        if conversation_of[cid] not in opened
    ]
    _run(conn, _TOUCH_CONVERSATION, moved)


def _run(conn: Connection, statement: Prepared, params: list[dict[str, Any]]) -> None:
    """On the driver's cursor (see `prepared`): one set of parameters, or an executemany."""
    if len(params) == 1:
        statement.execute(conn, params[0])
    elif params:
        statement.execute_many(conn, params)


def _touch_statements() -> tuple[Prepared, Update, Prepared]:
    """Built once: constructing SQLAlchemy statements per message costs more than running them."""
    c = Customer.__table__.c
    at = bindparam("at", type_=UtcDateTime())
    is_newer = or_(c.last_activity_at.is_(None), c.last_activity_at <= at)
    touch_customer = (
        update(Customer.__table__)
        .where(c.id == bindparam("cid"))
        .values(
            last_activity_at=case((is_newer, at), else_=c.last_activity_at),
            last_channel=case((is_newer, bindparam("channel")), else_=c.last_channel),
            display_name=func.coalesce(c.display_name, bindparam("name")),
        )
    )
    ident = Identity.__table__.c
    name_identity = (
        update(Identity.__table__)
        .where(ident.channel == bindparam("ch"), ident.external_id == bindparam("xid"))
        .values(display_name=bindparam("name"))
    )
    v = Conversation.__table__.c
    touch_conversation = (
        update(Conversation.__table__)
        .where(v.id == bindparam("vid"))
        .values(
            status=ConversationStatus.OPEN.value,
            last_message_at=case((v.last_message_at < at, at), else_=v.last_message_at),
        )
    )
    return Prepared(touch_customer), name_identity, Prepared(touch_conversation)


_TOUCH_CUSTOMER, _NAME_IDENTITY, _TOUCH_CONVERSATION = _touch_statements()

# Core INSERTs built once (see `_lookups`), RETURNING the ids in parameter order;
# one row goes straight to the driver's cursor (rapport.crm.prepared).
_CUSTOMER_COLUMNS = [
    "display_name", "first_seen_channel", "last_channel", "last_activity_at", "created_at",
    "marketing_consent",
]  # fmt: skip
_IDENTITY_COLUMNS = [
    "customer_id", "channel", "external_id", "display_name", "created_at", "soft_bounces",
]  # fmt: skip
_INTERACTION_COLUMNS = [
    "customer_id", "conversation_id", "channel", "direction", "body", "subject", "language",
    "polarity", "subjectivity", "automated", "message_key", "in_reply_to", "sent_at",
    "claimed_sent_at", "recorded_at",
]  # fmt: skip
_NEW_CUSTOMER = Inserting(Customer.__table__, _CUSTOMER_COLUMNS, Customer.__table__.c.id)
_NEW_IDENTITY = Inserting(Identity.__table__, _IDENTITY_COLUMNS, Identity.__table__.c.id)
_NEW_INTERACTION = Inserting(
    Interaction.__table__, _INTERACTION_COLUMNS, Interaction.__table__.c.id
)
