"""The conversations desk: staff take, answer and resolve what customers write.

A conversation is opened by `rapport.crm.interactions.ingest` for a customer's first message and
reopened by a new message within the reopen window after it was resolved
(`DeskRules.reopen_window`); here staff work it:
`take` assigns it, `send_reply` delivers an answer on the channel the
customer used (an email answer carries In-Reply-To, so the customer's mail
program keeps one thread) and records it, `resolve` closes it and, for a
complaint, sends the short satisfaction question of service recovery.

The bot and the CLI both call these functions, so they behave the same; the
callers check the staff member's permission (`rapport.crm.staff.roles.authorise`) and
pass an `Actor`, and every read or change of a customer's data is audited
in the same transaction. A reply that cannot be delivered leaves the
conversation unanswered with `send_error` set, and the caller is told: a
reply is never silently lost and never recorded as sent when it was not.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, func, insert, select, update
from sqlalchemy.orm import Session

from rapport.crm.campaigns.surveys import parse_answer, survey_choices
from rapport.crm.channel import Channel, DeliveryFailure
from rapport.crm.clock import utcnow
from rapport.crm.customers.identity import EMAIL
from rapport.crm.database import Database
from rapport.crm.desk.rules import DeskRules
from rapport.crm.errors import Conflict, InvalidInput, NotFound, RapportError
from rapport.crm.messages import OutboundMessage, Receipt
from rapport.crm.models import (
    AnnouncementMessage,
    Conversation,
    ConversationStatus,
    ConversationSurvey,
    Customer,
    CustomerTag,
    Direction,
    FollowUp,
    Identity,
    Interaction,
    StaffMember,
)
from rapport.crm.staff.audit import Actor, record

MAX_REPLY = 4000
"""Longest staff answer: one Telegram message, a readable email."""
UNRESOLVED = (ConversationStatus.OPEN.value, ConversationStatus.WAITING.value)
CSAT_SCALE = (1, 5)
CSAT_QUESTION = (
    "We have closed your request. How well did we handle it? "
    "Answer with a number from 1 (very dissatisfied) to 5 (very satisfied)."
)
CSAT_CHOICES = survey_choices("csat")
ANSWER_WINDOW = timedelta(days=14)
"""How long after the question a bare number still counts as its answer."""
_RE_PREFIX = re.compile(r"^\s*(re|aw|sv|antw)\s*:\s*", re.I)
log = logging.getLogger(__name__)


class ReplyNotSent(RapportError):
    """The channel refused or could not take the answer; the conversation says so."""


@dataclass(frozen=True, slots=True)
class ConversationView:
    id: int
    customer_id: int
    customer_name: str | None
    channel: str
    status: str
    is_complaint: bool
    assigned_staff_id: int | None
    assigned_name: str | None
    opened_at: datetime
    last_message_at: datetime
    first_response_at: datetime | None
    resolved_at: datetime | None
    send_error: str | None
    follow_up_due: datetime | None = None
    """A complaint's open follow-up task: look at it again by then."""
    reopened_count: int = 0
    """How often the customer reopened it after a resolution (rapport.crm.interactions.ingest)."""


@dataclass(frozen=True, slots=True)
class Outgoing:
    """Where an answer to a conversation goes: the customer's address on its channel."""

    conversation_id: int
    customer_id: int
    channel: str
    external_id: str
    subject: str | None
    reply_to_key: str | None

    def interaction(self, body: str, receipt: Receipt, *, automated: bool) -> Interaction:
        """The outbound history row of something the channel delivered to this address."""
        return Interaction(
            customer_id=self.customer_id,
            conversation_id=self.conversation_id,
            channel=self.channel,
            direction=Direction.OUT,
            body=body,
            subject=self.subject,
            automated=automated,
            message_key=receipt.message_key,
            in_reply_to=None if automated else self.reply_to_key,
            sent_at=receipt.sent_at,
        )


@dataclass(frozen=True, slots=True)
class Resolution:
    conversation_id: int
    survey_sent: bool
    survey_error: str | None


# --- reading -----------------------------------------------------------------------------


def _views(session: Session, where: list) -> list[ConversationView]:  # type: ignore[type-arg]
    rows = session.execute(
        select(Conversation, Customer.display_name, StaffMember.name, FollowUp.due_at)
        .join(Customer, Customer.id == Conversation.customer_id)
        .outerjoin(StaffMember, StaffMember.id == Conversation.assigned_staff_id)
        .outerjoin(
            FollowUp, (FollowUp.conversation_id == Conversation.id) & FollowUp.done_at.is_(None)
        )
        .where(*where)
        .order_by(Conversation.last_message_at, Conversation.id)
    )
    return [
        ConversationView(
            id=c.id,
            customer_id=c.customer_id,
            customer_name=name,
            channel=c.channel,
            status=c.status,
            is_complaint=c.is_complaint,
            assigned_staff_id=c.assigned_staff_id,
            assigned_name=staff,
            opened_at=c.opened_at,
            last_message_at=c.last_message_at,
            first_response_at=c.first_response_at,
            resolved_at=c.resolved_at,
            send_error=c.send_error,
            follow_up_due=due,
            reopened_count=c.reopened_count,
        )
        for c, name, staff, due in rows
    ]


def list_conversations(
    db: Database, actor: Actor, *, include_resolved: bool = False, limit: int = 500
) -> list[ConversationView]:
    """Unresolved conversations, longest waiting first (audited: it names customers)."""
    with db.transaction() as session:
        where = [] if include_resolved else [Conversation.status.in_(UNRESOLVED)]
        views = _views(session, where)[:limit]
        record(session, actor, "conversations.list", detail=f"{len(views)} shown")
        return views


def get_conversation(db: Database, actor: Actor, conversation_id: int) -> ConversationView:
    with db.transaction() as session:
        found = _views(session, [Conversation.id == conversation_id])
        if not found:
            raise NotFound(f"no conversation #{conversation_id}")
        record(session, actor, "conversation.read", customer_id=found[0].customer_id)
        return found[0]


@dataclass(frozen=True, slots=True)
class ThreadMessage:
    """One message of a conversation's thread, as staff read it."""

    direction: str
    automated: bool
    sent_at: datetime
    body: str | None


def conversation_thread(
    db: Database, actor: Actor, conversation_id: int, *, last: int = 15
) -> tuple[ConversationView, list[ThreadMessage]]:
    """The conversation and its latest messages, oldest first (an audited read)."""
    with db.transaction() as session:
        found = _views(session, [Conversation.id == conversation_id])
        if not found:
            raise NotFound(f"no conversation #{conversation_id}")
        rows = session.execute(
            select(
                Interaction.direction, Interaction.automated, Interaction.sent_at, Interaction.body
            )
            .where(Interaction.conversation_id == conversation_id)
            .order_by(Interaction.sent_at.desc(), Interaction.id.desc())
            .limit(last)
        ).all()
        record(
            session,
            actor,
            "conversation.read",
            customer_id=found[0].customer_id,
            detail=f"conversation {conversation_id}",
        )
        return found[0], [ThreadMessage(*row) for row in reversed(rows)]


def _load(session: Session, conversation_id: int) -> Conversation:
    conversation = session.get(Conversation, conversation_id, with_for_update=True)
    if conversation is None:
        raise NotFound(f"no conversation #{conversation_id}")
    return conversation


# --- taking and answering ------------------------------------------------------------------


def take(
    db: Database, actor: Actor, conversation_id: int, *, force: bool = False
) -> ConversationView:
    """Assign the conversation to the actor; someone else's needs `force` (a takeover)."""
    if actor.staff_id is None:
        raise InvalidInput("only a staff member can take a conversation (give --staff)")
    with db.transaction() as session:
        conversation = _load(session, conversation_id)
        if conversation.status == ConversationStatus.RESOLVED:
            raise InvalidInput(f"conversation #{conversation_id} is resolved")
        holder = conversation.assigned_staff_id
        if holder is not None and holder != actor.staff_id and not force:
            name = session.scalar(select(StaffMember.name).where(StaffMember.id == holder))
            raise Conflict(f"conversation #{conversation_id} is taken by {name}")
        conversation.assigned_staff_id = actor.staff_id
        record(
            session,
            actor,
            "conversation.take",
            customer_id=conversation.customer_id,
            detail=f"conversation {conversation_id}",
        )
        session.flush()
        return _views(session, [Conversation.id == conversation_id])[0]


def clean_reply(text: str) -> str:
    """The answer as it will be sent, or InvalidInput saying what is wrong with it."""
    value = (text or "").strip()
    if not value:
        raise InvalidInput("the answer is empty")
    if "\x00" in value:
        raise InvalidInput("the answer contains NUL characters")
    if len(value) > MAX_REPLY:
        raise InvalidInput(f"the answer is {len(value):,} characters; the limit is {MAX_REPLY:,}")
    return value


def _outgoing(session: Session, conversation: Conversation) -> Outgoing:
    """The customer's address on the conversation's channel and the thread to answer in."""
    external_id = session.scalar(
        select(Identity.external_id)
        .where(
            Identity.customer_id == conversation.customer_id,
            Identity.channel == conversation.channel,
            Identity.unreachable_at.is_(None),
        )
        .order_by(Identity.id.desc())
        .limit(1)
    )
    if external_id is None:
        raise NotFound(
            f"the customer of conversation #{conversation.id} has no reachable "
            f"{conversation.channel} address"
        )
    inbound = Interaction.__table__.c
    last_key = session.scalar(
        select(inbound.message_key)
        .where(
            inbound.conversation_id == conversation.id,
            inbound.direction == Direction.IN.value,
            inbound.channel == conversation.channel,
            inbound.message_key.is_not(None),
        )
        .order_by(inbound.sent_at.desc(), inbound.id.desc())
        .limit(1)
    )
    subject = None
    if conversation.channel == EMAIL:
        first_subject = session.scalar(
            select(inbound.subject)
            .where(inbound.conversation_id == conversation.id, inbound.subject.is_not(None))
            .order_by(inbound.sent_at, inbound.id)
            .limit(1)
        )
        subject = (
            "Re: " + _RE_PREFIX.sub("", first_subject) if first_subject else "Re: your message"
        )
    return Outgoing(
        conversation_id=conversation.id,
        customer_id=conversation.customer_id,
        channel=conversation.channel,
        external_id=external_id,
        subject=subject,
        reply_to_key=last_key,
    )


def prepare_reply(db: Database, conversation_id: int) -> Outgoing:
    with db.session() as session:
        conversation = session.get(Conversation, conversation_id)
        if conversation is None:
            raise NotFound(f"no conversation #{conversation_id}")
        if conversation.status == ConversationStatus.RESOLVED:
            raise InvalidInput(
                f"conversation #{conversation_id} is resolved; "
                "a customer message within the reopen window reopens it"
            )
        return _outgoing(session, conversation)


def record_reply(db: Database, actor: Actor, out: Outgoing, text: str, receipt: Receipt) -> int:
    """Store a delivered staff answer; the first one sets the first response time."""
    with db.transaction() as session:
        conversation = _load(session, out.conversation_id)
        row = out.interaction(text, receipt, automated=False)
        session.add(row)
        if conversation.first_response_at is None:
            conversation.first_response_at = receipt.sent_at
        if conversation.status != ConversationStatus.RESOLVED:
            conversation.status = ConversationStatus.WAITING
        if conversation.assigned_staff_id is None:
            conversation.assigned_staff_id = actor.staff_id
        conversation.send_error = None
        record(
            session,
            actor,
            "conversation.reply",
            customer_id=out.customer_id,
            detail=f"conversation {out.conversation_id}",
        )
        session.flush()
        return row.id


def record_send_failure(db: Database, conversation_id: int, error: str) -> None:
    with db.transaction() as session:
        _load(session, conversation_id).send_error = error[:300]


async def send_reply(
    db: Database,
    actor: Actor,
    channels: Mapping[str, Channel],
    conversation_id: int,
    text: str,
) -> Receipt:
    """Deliver a staff answer on the conversation's channel, then record it."""
    body = clean_reply(text)
    out = await asyncio.to_thread(prepare_reply, db, conversation_id)
    channel = channels.get(out.channel)
    if channel is None:
        error = f"no {out.channel} sender is running"
        await asyncio.to_thread(record_send_failure, db, conversation_id, error)
        raise ReplyNotSent(f"the answer to conversation #{conversation_id} was not sent: {error}")
    message = OutboundMessage(text=body, subject=out.subject, reply_to_key=out.reply_to_key)
    try:
        receipt = await channel.send(out.external_id, message)
    except DeliveryFailure as exc:
        await asyncio.to_thread(record_send_failure, db, conversation_id, str(exc))
        raise ReplyNotSent(
            f"the answer to conversation #{conversation_id} was not delivered: {exc}"
        ) from exc
    await asyncio.to_thread(record_reply, db, actor, out, body, receipt)
    return receipt


# --- complaints ------------------------------------------------------------------------------


def flag_complaint(
    db: Database, actor: Actor, conversation_id: int, rules: DeskRules, *, reason: str = "staff"
) -> datetime:
    """Mark a complaint and create its follow-up task; returns the follow-up's due time."""
    with db.transaction() as session:
        conversation = _load(session, conversation_id)
        due = _flag(session.connection(), conversation_id, reason, rules, utcnow())
        record(
            session,
            actor,
            "conversation.complaint",
            customer_id=conversation.customer_id,
            detail=f"conversation {conversation_id}",
        )
        return due


def _flag(
    conn: Connection, conversation_id: int, reason: str, rules: DeskRules, now: datetime
) -> datetime:
    """Flag and follow-up, idempotent: a second flag keeps the first reason and due date."""
    c = Conversation.__table__.c
    conn.execute(
        update(Conversation.__table__)
        .where(c.id == conversation_id, c.is_complaint.is_(False))
        .values(is_complaint=True, complaint_reason=reason[:60])
    )
    f = FollowUp.__table__.c
    due = conn.scalar(select(f.due_at).where(f.conversation_id == conversation_id))
    if due is not None:
        return due
    due = rules.hours.add(now, rules.follow_up)
    conn.execute(
        insert(FollowUp.__table__).values(
            conversation_id=conversation_id, due_at=due, created_at=now
        )
    )
    return due


@dataclass(frozen=True, slots=True)
class Said:
    """A customer message as ingest stored it, for the complaint rules."""

    conversation_id: int
    text: str
    polarity: float | None


def flag_complaints_on_ingest(
    conn: Connection,
    said: Sequence[Said],
    rules: DeskRules,
    now: datetime,
) -> int:
    """Flag conversations whose new messages trip a complaint rule; returns how many."""
    flagged: dict[int, str] = {}
    for item in said:
        if item.conversation_id in flagged:
            continue
        word = rules.complaint_word_in(item.text)
        if word is not None:
            flagged[item.conversation_id] = f"word:{word}"
        elif (
            rules.complain_on_strong_negative
            and item.polarity is not None
            and item.polarity <= rules.strongly_negative
        ):
            flagged[item.conversation_id] = "sentiment"
    c = Conversation.__table__.c
    already = (
        set(conn.scalars(select(c.id).where(c.id.in_(flagged), c.is_complaint.is_(True))))
        if flagged
        else set()
    )
    for conversation_id, reason in flagged.items():
        if conversation_id not in already:
            _flag(conn, conversation_id, reason, rules, now)
    return len(set(flagged) - already)


# --- resolving and the satisfaction question ----------------------------------------------------


def resolve(db: Database, actor: Actor, conversation_id: int) -> Outgoing | None:
    """Close the conversation and its follow-up; returns where to ask for CSAT, if owed."""
    with db.transaction() as session:
        conversation = _load(session, conversation_id)
        if conversation.status == ConversationStatus.RESOLVED:
            raise InvalidInput(f"conversation #{conversation_id} is already resolved")
        now = utcnow()
        conversation.status = ConversationStatus.RESOLVED
        conversation.resolved_at = now
        if conversation.assigned_staff_id is None:
            conversation.assigned_staff_id = actor.staff_id
        f = FollowUp.__table__.c
        session.execute(
            update(FollowUp.__table__)
            .where(f.conversation_id == conversation_id, f.done_at.is_(None))
            .values(done_at=now)
        )
        record(
            session,
            actor,
            "conversation.resolve",
            customer_id=conversation.customer_id,
            detail=f"conversation {conversation_id}",
        )
        asked = session.scalar(
            select(ConversationSurvey.id).where(
                ConversationSurvey.conversation_id == conversation_id
            )
        )
        if not conversation.is_complaint or asked is not None:
            return None
        try:
            return _outgoing(session, conversation)
        except NotFound:
            return None  # resolved all the same; nobody to ask


def record_survey_sent(db: Database, out: Outgoing, receipt: Receipt) -> None:
    with db.transaction() as session:
        session.add(out.interaction(CSAT_QUESTION, receipt, automated=True))
        session.add(
            ConversationSurvey(
                conversation_id=out.conversation_id,
                customer_id=out.customer_id,
                channel=out.channel,
                message_key=receipt.message_key,
                sent_at=receipt.sent_at,
            )
        )


async def send_resolution(
    db: Database, actor: Actor, channels: Mapping[str, Channel], conversation_id: int
) -> Resolution:
    """Resolve, then ask a complaint's customer how it was handled (service recovery)."""
    out = await asyncio.to_thread(resolve, db, actor, conversation_id)
    if out is None:
        return Resolution(conversation_id, survey_sent=False, survey_error=None)
    channel = channels.get(out.channel)
    if channel is None:
        return Resolution(conversation_id, False, f"no {out.channel} sender is running")
    question = OutboundMessage(
        text=CSAT_QUESTION, subject=out.subject, reply_to_key=out.reply_to_key, choices=CSAT_CHOICES
    )
    try:
        receipt = await channel.send(out.external_id, question)
    except DeliveryFailure as exc:
        return Resolution(conversation_id, False, str(exc))
    await asyncio.to_thread(record_survey_sent, db, out, receipt)
    return Resolution(conversation_id, survey_sent=True, survey_error=None)


@dataclass(frozen=True, slots=True)
class Candidate:
    """An inbound message that may answer a resolved complaint's CSAT question."""

    key: tuple[str, str]
    customer_id: int
    text: str
    in_reply_to: str | None


@dataclass(frozen=True, slots=True)
class SurveyAnswer:
    survey_id: int
    conversation_id: int
    score: int
    comment: str | None


def match_survey_answers(
    conn: Connection, candidates: Sequence[Candidate], now: datetime
) -> dict[tuple[str, str], SurveyAnswer]:
    """Which messages answer an open CSAT question: by reply reference, or a bare score.

    A bare score joins the resolved conversation it rates instead of opening
    a new one (ingest decides); a message that only starts with a number
    ("2 items missing") counts only as a reply to the question itself. Only
    one answer per question is matched.
    """
    scored = [(c, parse_answer(c.text, CSAT_SCALE)) for c in candidates]
    scored = [(c, a) for c, a in scored if a is not None]
    if not scored:
        return {}
    s = ConversationSurvey.__table__.c
    rows = conn.execute(
        select(s.id, s.conversation_id, s.customer_id, s.message_key)
        .where(
            s.customer_id.in_({c.customer_id for c, _ in scored}),
            s.answered_at.is_(None),
            s.sent_at >= now - ANSWER_WINDOW,
        )
        .order_by(s.sent_at, s.id)
    ).all()
    by_key = {(r.customer_id, r.message_key): r for r in rows}
    latest = {r.customer_id: r for r in rows}
    found: dict[tuple[str, str], SurveyAnswer] = {}
    used: set[int] = set()
    for candidate, answer in scored:
        assert answer is not None
        row = by_key.get((candidate.customer_id, candidate.in_reply_to or ""))
        if row is None and candidate.in_reply_to is None and answer[1] is None:
            row = latest.get(candidate.customer_id)  # a bare "4", nothing else
        if row is None or row.id in used:
            continue
        used.add(row.id)
        found[candidate.key] = SurveyAnswer(row.id, row.conversation_id, answer[0], answer[1])
    return found


def store_survey_answers(
    conn: Connection,
    answers: Mapping[tuple[str, str], SurveyAnswer],
    interaction_ids: Mapping[tuple[str, str], int],
    now: datetime,
) -> int:
    """Record each answer once: a question already answered keeps its first answer."""
    stored = 0
    s = ConversationSurvey.__table__.c
    for key, answer in answers.items():
        done = conn.execute(
            update(ConversationSurvey.__table__)
            .where(s.id == answer.survey_id, s.answered_at.is_(None))
            .values(
                score=answer.score,
                comment=answer.comment,
                interaction_id=interaction_ids[key],
                answered_at=now,
            )
        )
        stored += done.rowcount
    return stored


# --- announcing to staff on duty -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Announcement:
    conversation_id: int
    customer_id: int
    customer_name: str | None
    channel: str
    tags: tuple[str, ...]
    earlier_conversations: int
    is_complaint: bool
    first_message: str | None
    first_message_id: int | None = None


def pending_announcements(db: Database, *, limit: int = 20) -> list[Announcement]:
    """Unresolved conversations staff have not been told of yet, oldest first."""
    with db.session() as session:
        conversations = list(
            session.scalars(
                select(Conversation)
                .where(Conversation.announced_at.is_(None), Conversation.status.in_(UNRESOLVED))
                .order_by(Conversation.id)
                .limit(limit)
            )
        )
        found = []
        for c in conversations:
            customer = session.get(Customer, c.customer_id)
            tags = session.scalars(
                select(CustomerTag.tag).where(CustomerTag.customer_id == c.customer_id)
            ).all()
            earlier = session.scalar(
                select(func.count())
                .select_from(Conversation)
                .where(Conversation.customer_id == c.customer_id, Conversation.id < c.id)
            )
            first = session.execute(
                select(Interaction.id, Interaction.body)
                .where(
                    Interaction.conversation_id == c.id,
                    Interaction.direction == Direction.IN.value,
                )
                .order_by(Interaction.sent_at, Interaction.id)
                .limit(1)
            ).first()
            found.append(
                Announcement(
                    conversation_id=c.id,
                    customer_id=c.customer_id,
                    customer_name=customer.display_name if customer else None,
                    channel=c.channel,
                    tags=tuple(sorted(tags)),
                    earlier_conversations=earlier or 0,
                    is_complaint=c.is_complaint,
                    first_message=first.body if first else None,
                    first_message_id=first.id if first else None,
                )
            )
        return found


def mark_announced(
    db: Database,
    actor: Actor,
    announcements: Sequence[Announcement],
    messages: Sequence[tuple[int, int, int]] = (),
) -> None:
    """Staff were shown these customers' messages: note it, and audit it per customer.

    `messages`: (conversation, chat, message id) of the copies in agents' own
    chats, so a take can be shown on the others (`take_notes`).
    """
    if not announcements:
        return
    now = utcnow()
    with db.transaction() as session:
        for conversation_id, chat_id, message_id in messages:
            session.add(
                AnnouncementMessage(
                    conversation_id=conversation_id, chat_id=chat_id, message_id=message_id
                )
            )
        c = Conversation.__table__.c
        session.execute(
            update(Conversation.__table__)
            .where(c.id.in_([a.conversation_id for a in announcements]), c.announced_at.is_(None))
            .values(announced_at=now)
        )
        for a in announcements:
            session.execute(
                update(Conversation.__table__)
                .where(c.id == a.conversation_id, c.forwarded_through.is_(None))
                .values(forwarded_through=a.first_message_id)
            )
            record(
                session,
                actor,
                "conversation.announce",
                customer_id=a.customer_id,
                detail=f"conversation {a.conversation_id}",
            )


@dataclass(frozen=True, slots=True)
class TakeNote:
    """An agent's copy of an announcement that does not yet show who took the conversation."""

    conversation_id: int
    chat_id: int
    message_id: int
    staff_id: int
    staff_name: str
    own: bool
    """The chat is the taker's own: nothing to edit, only to note."""


def take_notes(
    db: Database, conversation_id: int | None = None, *, limit: int = 100
) -> list[TakeNote]:
    """Announcement copies whose conversation was taken (or taken over) since they were sent.

    Without `conversation_id`, only unresolved conversations are looked at,
    so the desk round's scan stays as small as the open desk.
    """
    a = AnnouncementMessage.__table__.c
    c = Conversation.__table__.c
    where = [
        c.assigned_staff_id.is_not(None),
        (a.noted_staff_id.is_(None)) | (a.noted_staff_id != c.assigned_staff_id),
    ]
    if conversation_id is not None:
        where.append(c.id == conversation_id)
    else:
        where.append(c.status.in_(UNRESOLVED))
    with db.session() as session:
        rows = session.execute(
            select(
                a.conversation_id,
                a.chat_id,
                a.message_id,
                StaffMember.id,
                StaffMember.name,
                StaffMember.telegram_user_id,
            )
            .join(Conversation.__table__, c.id == a.conversation_id)
            .join(StaffMember, StaffMember.id == c.assigned_staff_id)
            .where(*where)
            .order_by(a.conversation_id, a.chat_id)
            .limit(limit)
        ).all()
    return [TakeNote(row[0], row[1], row[2], row[3], row[4], own=row[5] == row[1]) for row in rows]


def mark_take_noted(db: Database, notes: Sequence[TakeNote]) -> None:
    """These copies show their conversation's current taker now."""
    a = AnnouncementMessage.__table__.c
    with db.transaction() as session:
        for note in notes:
            session.execute(
                update(AnnouncementMessage.__table__)
                .where(a.conversation_id == note.conversation_id, a.chat_id == note.chat_id)
                .values(noted_staff_id=note.staff_id)
            )


# --- automatic first answers ----------------------------------------------------------------------

FIRST_ANSWER_WINDOW = timedelta(hours=1)
"""A conversation older than this when the desk round sees it gets no automatic answer."""


@dataclass(frozen=True, slots=True)
class FirstAnswer:
    out: Outgoing
    kind: str
    text: str


def claim_first_answer(
    db: Database, rules: DeskRules, conversation_id: int, now: datetime
) -> FirstAnswer | None:
    """The automatic first answer this conversation is owed, claimed so it goes out once.

    None when it was answered (by a person or automatically) already, or no
    answer is configured for the case. The claim is taken before sending: a
    crash between claim and send loses an automatic greeting, never doubles it.
    """
    with db.transaction() as session:
        conversation = _load(session, conversation_id)
        if (
            conversation.auto_answered_at is not None
            or conversation.first_response_at is not None
            or conversation.status != ConversationStatus.OPEN
        ):
            return None
        tags = set(
            session.scalars(
                select(CustomerTag.tag).where(CustomerTag.customer_id == conversation.customer_id)
            )
        )
        said = session.scalar(
            select(Interaction.body)
            .where(
                Interaction.conversation_id == conversation_id,
                Interaction.direction == Direction.IN.value,
            )
            .order_by(Interaction.sent_at, Interaction.id)
            .limit(1)
        )
        chosen = rules.first_answer(tags, said or "", now)
        if chosen is None:
            return None
        try:
            out = _outgoing(session, conversation)
        except NotFound:
            return None
        conversation.auto_answered_at = now
        return FirstAnswer(out, chosen[0], chosen[1])


def record_first_answer(db: Database, answer: FirstAnswer, receipt: Receipt) -> None:
    """Store it as automated (never a first response); an FAQ answer waits on the customer."""
    with db.transaction() as session:
        session.add(
            Interaction(
                customer_id=answer.out.customer_id,
                conversation_id=answer.out.conversation_id,
                channel=answer.out.channel,
                direction=Direction.OUT,
                body=answer.text,
                subject=answer.out.subject,
                automated=True,
                message_key=receipt.message_key,
                in_reply_to=answer.out.reply_to_key,
                sent_at=receipt.sent_at,
            )
        )
        if answer.kind == "faq":
            c = Conversation.__table__.c
            session.execute(
                update(Conversation.__table__)
                .where(
                    c.id == answer.out.conversation_id,
                    c.status == ConversationStatus.OPEN.value,
                    c.first_response_at.is_(None),
                )
                .values(status=ConversationStatus.WAITING.value)
            )


async def send_first_answer(
    db: Database,
    rules: DeskRules,
    channels: Mapping[str, Channel],
    conversation_id: int,
    now: datetime,
) -> FirstAnswer | None:
    """Send the automatic first answer if one is owed and its channel is running."""
    answer = await asyncio.to_thread(claim_first_answer, db, rules, conversation_id, now)
    if answer is None:
        return None
    channel = channels.get(answer.out.channel)
    if channel is None:
        return None
    message = OutboundMessage(
        text=answer.text, subject=answer.out.subject, reply_to_key=answer.out.reply_to_key
    )
    try:
        receipt = await channel.send(answer.out.external_id, message)
    except DeliveryFailure as exc:
        log.info("automatic first answer to conversation %d not sent: %s", conversation_id, exc)
        return None
    await asyncio.to_thread(record_first_answer, db, answer, receipt)
    return answer


def awaiting_first_answer(db: Database, channels: Sequence[str], now: datetime) -> list[int]:
    """Recent open conversations on these channels that no answer reached yet."""
    with db.session() as session:
        return list(
            session.scalars(
                select(Conversation.id)
                .where(
                    Conversation.status == ConversationStatus.OPEN.value,
                    Conversation.auto_answered_at.is_(None),
                    Conversation.first_response_at.is_(None),
                    Conversation.channel.in_(channels),
                    Conversation.opened_at >= now - FIRST_ANSWER_WINDOW,
                )
                .order_by(Conversation.id)
            )
        )


# --- forwarding later customer messages to staff ----------------------------------------------


@dataclass(frozen=True, slots=True)
class Forward:
    """A customer's later message in an announced conversation, for the staff who work it."""

    conversation_id: int
    customer_id: int
    customer_name: str | None
    staff_telegram_id: int | None
    """The assigned staff member's chat; None: the staff on duty."""
    interaction_id: int
    body: str | None
    reopened: bool = False
    """This message reopened the resolved conversation: staff see it again, and why."""


def messages_to_forward(db: Database, *, limit: int = 50) -> list[Forward]:
    """Customer messages newer than what staff were shown, oldest first."""
    i = Interaction.__table__.c
    c = Conversation.__table__.c
    with db.session() as session:
        rows = session.execute(
            select(
                c.id,
                c.customer_id,
                Customer.display_name,
                StaffMember.telegram_user_id,
                i.id,
                i.body,
                # ingest stores the reopening message's time as reopened_at
                c.reopened_at.is_not(None) & (c.reopened_at == i.sent_at),
            )
            .join(Conversation.__table__, c.id == i.conversation_id)
            .join(Customer, Customer.id == c.customer_id)
            .outerjoin(StaffMember, StaffMember.id == c.assigned_staff_id)
            .where(
                c.announced_at.is_not(None),
                c.status.in_(UNRESOLVED),
                i.direction == Direction.IN.value,
                i.automated.is_(False),
                i.id > func.coalesce(c.forwarded_through, 0),
            )
            .order_by(i.id)
            .limit(limit)
        ).all()
    return [Forward(*row[:-1], reopened=bool(row[-1])) for row in rows]


def mark_forwarded(db: Database, actor: Actor, forwards: Sequence[Forward]) -> None:
    """Staff were shown these messages: move each conversation's mark on, audited."""
    if not forwards:
        return
    c = Conversation.__table__.c
    with db.transaction() as session:
        for f in forwards:
            session.execute(
                update(Conversation.__table__)
                .where(
                    c.id == f.conversation_id,
                    func.coalesce(c.forwarded_through, 0) < f.interaction_id,
                )
                .values(forwarded_through=f.interaction_id)
            )
            record(
                session,
                actor,
                "conversation.forward",
                customer_id=f.customer_id,
                detail=f"conversation {f.conversation_id}",
            )
