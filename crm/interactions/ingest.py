"""Ingest: every inbound message enters the CRM here, in one transaction.

Flow 1 of DESIGN.md: resolve or create the customer and identity, store the
interaction with its sentiment, attach it to the open conversation, update
last activity, commit. A channel acknowledges a message only after this
returned, and a replay of the same (channel, message_key) stores nothing.

Batches are the normal unit (Telegram's getUpdates hands out up to 100
updates); a single message is a batch of one, so there is one code path.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import Connection, Update, bindparam, case, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from rapport.crm.campaigns.surveys import Reply, attach_replies
from rapport.crm.clock import utcnow
from rapport.crm.customers.identity import clean_display_name, normalise_external_id
from rapport.crm.database import Database
from rapport.crm.desk.complaints import Said, flag_complaints_on_ingest
from rapport.crm.desk.resolution import (
    Candidate,
    SurveyAnswer,
    match_survey_answers,
    store_survey_answers,
)
from rapport.crm.desk.rules import DeskRules, current_rules
from rapport.crm.errors import InvalidMessage
from rapport.crm.interactions.engagement import note_wrote_back
from rapport.crm.messages import InboundMessage, IngestResult
from rapport.crm.models import (
    Conversation,
    ConversationStatus,
    Customer,
    Direction,
    Identity,
    Interaction,
    UtcDateTime,
)
from rapport.crm.privacy.consent import is_stop_request, withdraw_on_request
from rapport.crm.sentiment.scoring import Assessment, SentimentAnalyser, default_analyser

log = logging.getLogger(__name__)

DEFAULT_MAX_CHARS = 100_000
MAX_KEY = 300
MAX_SUBJECT = 500
_RETRIES_ON_RACE = 3
_KEY_FORBIDDEN = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True, slots=True)
class _Checked:
    """A message that passed validation, with everything computed outside the transaction."""

    message: InboundMessage
    external_id: str
    sender: str | None
    subject: str | None
    assessment: Assessment

    @property
    def key(self) -> tuple[str, str]:
        return (self.message.channel, self.message.message_key)


def check(
    message: InboundMessage,
    *,
    analyser: SentimentAnalyser = default_analyser,
    max_chars: int = DEFAULT_MAX_CHARS,
) -> _Checked:
    """Validate one message and score it; raise InvalidMessage, store nothing."""
    external_id = normalise_external_id(message.channel, message.external_id)
    key = message.message_key
    if not key or len(key) > MAX_KEY or _KEY_FORBIDDEN.search(key):
        raise InvalidMessage(f"message key must be 1–{MAX_KEY} printable characters")
    text = message.text
    if "\x00" in text:
        raise InvalidMessage("message text contains NUL characters")
    if len(text) > max_chars:
        raise InvalidMessage(
            f"message text is {len(text):,} characters; the limit is {max_chars:,}"
        )
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidMessage("message text is not valid Unicode (lone surrogates)") from None
    if not text.strip() and not message.attachments:
        raise InvalidMessage("message has no text")
    if message.sent_at.tzinfo is None:
        raise InvalidMessage("message time has no time zone")
    subject = clean_display_name(message.subject)
    return _Checked(
        message=message,
        external_id=external_id,
        sender=clean_display_name(message.sender),
        subject=subject[:MAX_SUBJECT] if subject else None,
        assessment=analyser.assess(text),
    )


def ingest(
    db: Database,
    message: InboundMessage,
    *,
    analyser: SentimentAnalyser = default_analyser,
    max_chars: int = DEFAULT_MAX_CHARS,
    desk: DeskRules | None = None,
) -> IngestResult:
    """Store one inbound message; on a replay return the stored result, `duplicate=True`."""
    return ingest_batch(db, [message], analyser=analyser, max_chars=max_chars, desk=desk)[0]


def ingest_batch(
    db: Database,
    messages: Sequence[InboundMessage],
    *,
    analyser: SentimentAnalyser = default_analyser,
    max_chars: int = DEFAULT_MAX_CHARS,
    desk: DeskRules | None = None,
) -> list[IngestResult]:
    """Store several messages in one transaction, results in the same order.

    Every message is validated before the database is touched, so one bad
    message refuses the whole batch and nothing is stored; adapters that want
    to skip bad messages call `check` on each first. `desk` is the complaint
    rules (rapport.crm.desk.rules; the configured ones by default).
    """
    checked = [check(m, analyser=analyser, max_chars=max_chars) for m in messages]
    if not checked:
        return []
    rules = desk or current_rules()
    for attempt in range(_RETRIES_ON_RACE):
        try:
            with db.transaction() as session:
                results = _store(session, checked, rules)
            break
        except IntegrityError:
            # Another process stored the same identity or message key between
            # our lookups and our insert; the retry finds its rows.
            if attempt == _RETRIES_ON_RACE - 1:
                raise
            log.info("ingest race on a unique key, retrying (attempt %d)", attempt + 2)
    for result in results:
        if not result.duplicate:
            log.info(
                "ingested interaction %d for customer %d%s",
                result.interaction_id,
                result.customer_id,
                " (new customer)" if result.new_customer else "",
            )
    return results


def _store(session: Session, checked: list[_Checked], rules: DeskRules) -> list[IngestResult]:
    """Set-based storage of a validated batch: a handful of statements, not one per row.

    A rating of a resolved complaint (rapport.crm.desk.resolution) joins the conversation
    it rates and does not reopen it; every other customer message joins the
    customer's unresolved conversation, reopens the one resolved within the
    reopen window, or opens one, and may flag it as a complaint.
    """
    conn = session.connection()
    now = utcnow()
    stored = _existing_interactions(conn, checked)
    fresh = _first_occurrences(checked, stored)
    if not fresh:
        return [stored[item.key] for item in checked]

    customer_of = _existing_identities(conn, fresh)
    new_customers = _create_customers(conn, fresh, customer_of)
    ratings = match_survey_answers(
        conn,
        [
            Candidate(
                key=i.key,
                customer_id=customer_of[(i.message.channel, i.external_id)],
                text=i.message.text,
                in_reply_to=i.message.in_reply_to,
            )
            for i in fresh
            if not i.message.automated
        ],
        now,
    )
    # A bare rating only rates; one with words is also read by staff (a new conversation).
    talking = [i for i in fresh if i.key not in ratings or ratings[i.key].comment]
    # A rating, even with words ("5, thanks!"), answers the resolution: it never reopens.
    rating = {customer_of[(i.message.channel, i.external_id)] for i in fresh if i.key in ratings}
    conversation_of = _conversations_for(conn, talking, customer_of, rules, rating)
    interaction_ids = _insert_interactions(conn, fresh, customer_of, conversation_of, ratings)
    _touch_activity(conn, talking, customer_of, conversation_of)
    store_survey_answers(conn, ratings, interaction_ids, now)
    flag_complaints_on_ingest(
        conn,
        [
            Said(
                conversation_of[customer_of[(i.message.channel, i.external_id)]],
                i.message.text,
                i.assessment.polarity,
            )
            for i in talking
            if not i.message.automated
        ],
        rules,
        now,
    )
    note_wrote_back(
        conn,
        [
            (customer_of[(i.message.channel, i.external_id)], i.message.sent_at)
            for i in fresh
            if not i.message.automated
        ],
    )
    attach_replies(
        conn,
        [
            Reply(
                customer_id=customer_of[(i.message.channel, i.external_id)],
                interaction_id=interaction_ids[i.key],
                text=i.message.text,
                in_reply_to=i.message.in_reply_to,
                polarity=i.assessment.polarity,
                sent_at=i.message.sent_at,
            )
            for i in talking
            if not i.message.automated
        ],
        now,
    )
    withdraw_on_request(
        conn,
        {
            (customer_of[(i.message.channel, i.external_id)], i.message.channel)
            for i in fresh
            if not i.message.automated and is_stop_request(i.message.text)
        },
    )

    results: list[IngestResult] = []
    announced_customers: set[int] = set()
    emitted: set[tuple[str, str]] = set()
    for item in checked:
        if item.key in stored:
            results.append(stored[item.key])
            continue
        customer_id = customer_of[(item.message.channel, item.external_id)]
        is_new = customer_id in new_customers and customer_id not in announced_customers
        announced_customers.add(customer_id)
        results.append(
            IngestResult(
                customer_id=customer_id,
                interaction_id=interaction_ids[item.key],
                conversation_id=None
                if item.message.automated
                else _conversation_id(item, customer_id, conversation_of, ratings),
                new_customer=is_new,
                duplicate=item.key in emitted,
                polarity=item.assessment.polarity,
                subjectivity=item.assessment.subjectivity,
                language=item.assessment.language,
            )
        )
        emitted.add(item.key)
    return results


def _conversation_id(
    item: _Checked,
    customer_id: int,
    conversation_of: dict[int, int],
    ratings: dict[tuple[str, str], SurveyAnswer],
) -> int | None:
    rating = ratings.get(item.key)
    if rating is not None and not rating.comment:
        return rating.conversation_id
    return conversation_of.get(customer_id)


def _first_occurrences(
    checked: list[_Checked], stored: dict[tuple[str, str], IngestResult]
) -> list[_Checked]:
    seen: set[tuple[str, str]] = set(stored)
    fresh: list[_Checked] = []
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


def _existing_interactions(
    conn: Connection, checked: list[_Checked]
) -> dict[tuple[str, str], IngestResult]:
    t = Interaction.__table__.c
    found: dict[tuple[str, str], IngestResult] = {}
    for channel, keys in _by_channel(c.key for c in checked).items():
        rows = conn.execute(
            select(
                t.id,
                t.customer_id,
                t.conversation_id,
                t.message_key,
                t.polarity,
                t.subjectivity,
                t.language,
            ).where(t.channel == channel, t.message_key.in_(keys))
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


def _existing_identities(conn: Connection, fresh: list[_Checked]) -> dict[tuple[str, str], int]:
    """(channel, external id) → customer id, for the senders we already know."""
    t = Identity.__table__.c
    found: dict[tuple[str, str], int] = {}
    for channel, ids in _by_channel((c.message.channel, c.external_id) for c in fresh).items():
        rows = conn.execute(
            select(t.external_id, t.customer_id).where(t.channel == channel, t.external_id.in_(ids))
        )
        found.update({(channel, r.external_id): r.customer_id for r in rows})
    return found


def _create_customers(
    conn: Connection, fresh: list[_Checked], customer_of: dict[tuple[str, str], int]
) -> set[int]:
    """Insert a customer and identity for each unknown sender; returns the new ids."""
    first_message: dict[tuple[str, str], _Checked] = {}
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


def _conversations_for(
    conn: Connection,
    fresh: list[_Checked],
    customer_of: dict[tuple[str, str], int],
    rules: DeskRules,
    rating: set[int],
) -> dict[int, int]:
    """customer id → the conversation their messages join.

    The unresolved one; else the customer's latest conversation reopened, when
    it was resolved within the rules' reopen window and is on the same channel
    (an answer goes out on the conversation's channel) and the customer is not
    just rating it (`rating`); else a new one.
    """
    t = Conversation.__table__.c
    talking = {
        customer_of[(i.message.channel, i.external_id)]: i
        for i in reversed(fresh)
        if not i.message.automated
    }
    if not talking:
        return {}
    rows = conn.execute(
        select(t.id, t.customer_id)
        .where(t.customer_id.in_(talking), t.status != ConversationStatus.RESOLVED)
        .order_by(t.id)
    )
    conversation_of = {r.customer_id: r.id for r in rows}
    settled = set(conversation_of) | rating
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
    return conversation_of


def _reopen(conn: Connection, talking: dict[int, _Checked], window: timedelta) -> dict[int, int]:
    """Reopen each customer's latest conversation if it was resolved within `window`.

    Reopening keeps the first response (it happened) and clears the resolution,
    so the resolution time is measured to the final one; `reopened_count` and
    `reopened_at` stay for the report. The conversation stays announced: the
    desk round forwards the reopening message to its assignee (rapport.crm.desk.forwarding).
    """
    if not talking or window <= timedelta(0):
        return {}
    t = Conversation.__table__.c
    latest = (
        select(t.customer_id, func.max(t.id).label("id"))
        .where(t.customer_id.in_(talking))
        .group_by(t.customer_id)
        .subquery()
    )
    rows = conn.execute(
        select(t.id, t.customer_id, t.channel, t.resolved_at).join(latest, latest.c.id == t.id)
    )
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


def _insert_interactions(
    conn: Connection,
    fresh: list[_Checked],
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
                else _conversation_id(item, customer_id, conversation_of, ratings),
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
            }
        )
    table = Interaction.__table__
    ids = (
        conn.execute(insert(table).returning(table.c.id, sort_by_parameter_order=True), rows)
        .scalars()
        .all()
    )
    return {item.key: i for item, i in zip(fresh, ids, strict=True)}


def _touch_activity(
    conn: Connection,
    fresh: list[_Checked],
    customer_of: dict[tuple[str, str], int],
    conversation_of: dict[int, int],
) -> None:
    """Bring customers, identities and conversations forward to their newest message.

    Late arrivals never move anything backwards; a waiting conversation
    reopens; a name is filled in only where none is known.
    """
    newest: dict[int, _Checked] = {}
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
    named = [i for i in newest.values() if i.sender]
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
