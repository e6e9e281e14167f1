"""Set-based storage of a checked batch: the ingest hot path.

A handful of statements per batch, not one per message: replays found by
(channel, message key), senders by (channel, external id), new customers and
identities and interactions inserted in bulk, activity moved forward with
pre-built UPDATEs. Core statements over the tables on purpose: constructing
ORM statements per message costs more than running them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import (
    Connection,
    Select,
    Update,
    bindparam,
    case,
    func,
    insert,
    or_,
    select,
    update,
)

from rapport.crm.desk.resolution import SurveyAnswer
from rapport.crm.interactions.checking import Checked
from rapport.crm.interactions.routing import conversation_id_for
from rapport.crm.messages import IngestResult
from rapport.crm.models import (
    Conversation,
    ConversationStatus,
    Customer,
    Direction,
    Identity,
    Interaction,
    UtcDateTime,
)


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


def _lookups() -> tuple[Select[Any], Select[Any]]:
    """Built once, with expanding IN parameters: a statement built per message costs
    more than running it (the single-message path is what each SMTP mail pays)."""
    t = Interaction.__table__.c
    replays = select(
        t.id,
        t.customer_id,
        t.conversation_id,
        t.message_key,
        t.polarity,
        t.subjectivity,
        t.language,
    ).where(t.channel == bindparam("channel"), t.message_key.in_(bindparam("keys", expanding=True)))
    i = Identity.__table__.c
    senders = select(i.external_id, i.customer_id, i.display_name).where(
        i.channel == bindparam("channel"), i.external_id.in_(bindparam("ids", expanding=True))
    )
    return replays, senders


_REPLAYS, _SENDERS = _lookups()


def existing_interactions(
    conn: Connection, checked: list[Checked]
) -> dict[tuple[str, str], IngestResult]:
    found: dict[tuple[str, str], IngestResult] = {}
    for channel, keys in _by_channel(c.key for c in checked).items():
        rows = conn.execute(_REPLAYS, {"channel": channel, "keys": sorted(keys)})
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


def existing_identities(
    conn: Connection, fresh: list[Checked], names: dict[tuple[str, str], str | None] | None = None
) -> dict[tuple[str, str], int]:
    """(channel, external id) → customer id, for the senders we already know.

    `names`, if given, receives each known identity's display name, so
    `touch_activity` writes a name only where it changed.
    """
    found: dict[tuple[str, str], int] = {}
    for channel, ids in _by_channel((c.message.channel, c.external_id) for c in fresh).items():
        rows = conn.execute(_SENDERS, {"channel": channel, "ids": sorted(ids)})
        for r in rows:
            found[(channel, r.external_id)] = r.customer_id
            if names is not None:
                names[(channel, r.external_id)] = r.display_name
    return found


def create_customers(
    conn: Connection, fresh: list[Checked], customer_of: dict[tuple[str, str], int]
) -> set[int]:
    """Insert a customer and identity for each unknown sender; returns the new ids."""
    first_message: dict[tuple[str, str], Checked] = {}
    for item in fresh:
        id_key = (item.message.channel, item.external_id)
        if id_key not in customer_of:
            first_message.setdefault(id_key, item)
    if not first_message:
        return set()
    senders = list(first_message.values())
    new_ids = (
        conn.execute(
            insert(Customer.__table__).returning(
                Customer.__table__.c.id, sort_by_parameter_order=True
            ),
            [
                {
                    "display_name": i.sender,
                    "first_seen_channel": i.message.channel,
                    "created_at": i.message.sent_at,
                    "marketing_consent": False,
                }
                for i in senders
            ],
        )
        .scalars()
        .all()
    )
    conn.execute(
        insert(Identity.__table__),
        [
            {
                "customer_id": cid,
                "channel": i.message.channel,
                "external_id": i.external_id,
                "display_name": i.sender,
                "created_at": i.message.sent_at,
            }
            for cid, i in zip(new_ids, senders, strict=True)
        ],
    )
    customer_of.update(
        {(i.message.channel, i.external_id): cid for cid, i in zip(new_ids, senders, strict=True)}
    )
    return set(new_ids)


def insert_interactions(
    conn: Connection,
    fresh: list[Checked],
    customer_of: dict[tuple[str, str], int],
    conversation_of: dict[int, int],
    ratings: dict[tuple[str, str], SurveyAnswer],
) -> dict[tuple[str, str], int]:
    rows = []
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
            }
        )
    table = Interaction.__table__
    ids = (
        conn.execute(insert(table).returning(table.c.id, sort_by_parameter_order=True), rows)
        .scalars()
        .all()
    )
    return {item.key: i for item, i in zip(fresh, ids, strict=True)}


def touch_activity(
    conn: Connection,
    fresh: list[Checked],
    customer_of: dict[tuple[str, str], int],
    conversation_of: dict[int, int],
    names: dict[tuple[str, str], str | None] | None = None,
) -> None:
    """Bring customers, identities and conversations forward to their newest message.

    Late arrivals never move anything backwards; a waiting conversation
    reopens; a name is filled in only where none is known.
    """
    newest: dict[int, Checked] = {}
    for item in fresh:
        if item.message.automated:
            continue
        cid = customer_of[(item.message.channel, item.external_id)]
        if cid not in newest or item.message.sent_at >= newest[cid].message.sent_at:
            newest[cid] = item
    if not newest:
        return
    conn.execute(
        _TOUCH_CUSTOMER,
        [
            {"cid": cid, "at": i.message.sent_at, "channel": i.message.channel, "name": i.sender}
            for cid, i in newest.items()
        ],
    )
    named = [
        i
        for i in newest.values()
        if i.sender and (names is None or names.get((i.message.channel, i.external_id)) != i.sender)
    ]
    if named:
        conn.execute(
            _NAME_IDENTITY,
            [{"ch": i.message.channel, "xid": i.external_id, "name": i.sender} for i in named],
        )
    conn.execute(
        _TOUCH_CONVERSATION,
        [{"vid": conversation_of[cid], "at": i.message.sent_at} for cid, i in newest.items()],
    )


def _touch_statements() -> tuple[Update, Update, Update]:
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
    return touch_customer, name_identity, touch_conversation


_TOUCH_CUSTOMER, _NAME_IDENTITY, _TOUCH_CONVERSATION = _touch_statements()
