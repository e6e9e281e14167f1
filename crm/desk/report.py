"""Is the contact policy kept? Response and resolution times, breaches, reminders.

Every conversation falls under the policy of its customer's segment
(rapport.crm.desk.rules: the first policy whose tag the customer has, else "*").
Its clocks run in business hours only, from the customer's first message:

- first response time: until the first answer a person sent (the bot's
  automatic answers never count); resolution time: until it was resolved.
- a breach: the time exceeded the target, or the conversation is still
  without an answer (or unresolved) and the target has already passed. A
  conversation an FAQ answer put in "waiting" is the customer's move: its
  first-response clock is not late while it waits.
- percentiles (p50, p90) are nearest-rank over the conversations that have
  the time, in business minutes.
- service recovery: complaints, and the mean of their customers' CSAT
  answers (1–5) to "how well did we handle it".
- reopened: conversations a customer message reopened after resolution
  (rapport.crm.interactions.ingest). A reopen clears the resolution, so the resolution time runs
  from the first message to the final resolution and the first response
  stays; a reopened conversation is counted once, in the period it was
  opened, and belongs to its assigned agent like every other figure.
- follow-ups overdue: complaints whose follow-up task is open and past its
  due date now; follow-ups done late: tasks marked done (by resolving the
  conversation or by /followup_done) after their due date. Both count the
  conversations opened in the period, like every other figure.

Definitions are repeated for readers in docs/desk.md.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from rapport.crm.database import Database
from rapport.crm.desk.rules import EVERYONE, DeskRules, Policy
from rapport.crm.models import (
    Conversation,
    ConversationStatus,
    ConversationSurvey,
    CustomerTag,
    FollowUp,
    StaffMember,
)
from rapport.crm.reports.programmes import Period

UNASSIGNED = "(unassigned)"


@dataclass(frozen=True, slots=True)
class Timing:
    """One conversation measured against its policy (times in business minutes)."""

    conversation_id: int
    segment: str
    agent: str
    first_response: float | None
    resolution: float | None
    first_response_breached: bool
    resolution_breached: bool
    first_response_due: datetime
    resolution_due: datetime
    is_complaint: bool = False
    recovery_score: int | None = None
    """The complaint's CSAT answer (1–5), if the customer gave one."""
    reopened: bool = False
    """A customer message reopened it after a resolution (at least once)."""
    follow_up_overdue: bool = False
    """Its follow-up task is open and past due now."""
    follow_up_done_late: bool = False
    """Its follow-up task was done after its due date."""


@dataclass(frozen=True, slots=True)
class DeskRow:
    group: str
    conversations: int
    first_response_p50: float | None
    first_response_p90: float | None
    resolution_p50: float | None
    resolution_p90: float | None
    first_response_breaches: int
    resolution_breaches: int
    within_policy_pct: float | None
    """Share of conversations with neither breach."""
    complaints: int = 0
    recovery_answers: int = 0
    recovery_csat_mean: float | None = None
    reopened: int = 0
    """Conversations reopened after a resolution: a resolution that did not hold."""
    follow_ups_overdue: int = 0
    """Complaint follow-ups open and past due now."""
    follow_ups_done_late: int = 0
    """Complaint follow-ups done after their due date."""


@dataclass(frozen=True, slots=True)
class DeskReport:
    period: Period
    overall: DeskRow
    by_agent: list[DeskRow]
    by_segment: list[DeskRow]


def _minutes(value: timedelta) -> float:
    return value.total_seconds() / 60


def measure(
    rules: DeskRules,
    policy: Policy,
    opened_at: datetime,
    first_response_at: datetime | None,
    resolved_at: datetime | None,
    now: datetime,
    waiting_on_customer: bool = False,
) -> tuple[float | None, float | None, bool, bool, datetime, datetime]:
    """(first response, resolution, breached first, breached resolution, both due times)."""
    hours = rules.hours
    first_due = hours.add(opened_at, policy.first_response)
    resolve_due = hours.add(opened_at, policy.resolution)
    first = _minutes(hours.elapsed(opened_at, first_response_at)) if first_response_at else None
    resolution = _minutes(hours.elapsed(opened_at, resolved_at)) if resolved_at else None
    limit_first, limit_resolve = _minutes(policy.first_response), _minutes(policy.resolution)
    if first is not None:
        first_breached = first > limit_first
    else:  # unanswered: late once due, unless resolved or waiting on the customer (FAQ)
        first_breached = resolved_at is None and not waiting_on_customer and now > first_due
    resolve_breached = resolution > limit_resolve if resolution is not None else now > resolve_due
    return first, resolution, first_breached, resolve_breached, first_due, resolve_due


def timings(db: Database, rules: DeskRules, period: Period, now: datetime) -> list[Timing]:
    """The conversations opened in the period, each measured against its policy."""
    with db.session() as session:
        rows = session.execute(
            select(
                Conversation,
                StaffMember.name,
                ConversationSurvey.score,
                FollowUp.due_at,
                FollowUp.done_at,
            )
            .outerjoin(StaffMember, StaffMember.id == Conversation.assigned_staff_id)
            .outerjoin(ConversationSurvey, ConversationSurvey.conversation_id == Conversation.id)
            .outerjoin(FollowUp, FollowUp.conversation_id == Conversation.id)
            .where(Conversation.opened_at >= period.start, Conversation.opened_at < period.end)
            .order_by(Conversation.id)
        ).all()
        tags = tags_by_customer(session, {row[0].customer_id for row in rows})
    found = []
    for conversation, agent, score, follow_due, follow_done in rows:
        policy = rules.policy_for(tags.get(conversation.customer_id, set()))
        if policy is None:
            continue
        first, resolution, late_first, late_resolve, first_due, resolve_due = measure(
            rules,
            policy,
            conversation.opened_at,
            conversation.first_response_at,
            conversation.resolved_at,
            now,
            conversation.status == ConversationStatus.WAITING,
        )
        found.append(
            Timing(
                conversation_id=conversation.id,
                segment="everyone else" if policy.segment == EVERYONE else policy.segment,
                agent=agent or UNASSIGNED,
                first_response=first,
                resolution=resolution,
                first_response_breached=late_first,
                resolution_breached=late_resolve,
                first_response_due=first_due,
                resolution_due=resolve_due,
                is_complaint=conversation.is_complaint,
                recovery_score=score,
                reopened=conversation.reopened_count > 0,
                follow_up_overdue=follow_due is not None
                and follow_done is None
                and follow_due <= now,
                follow_up_done_late=follow_due is not None
                and follow_done is not None
                and follow_done > follow_due,
            )
        )
    return found


def tags_by_customer(session: Session, customer_ids: set[int]) -> dict[int, set[str]]:
    if not customer_ids:
        return {}
    found: dict[int, set[str]] = {}
    rows = session.execute(
        select(CustomerTag.customer_id, CustomerTag.tag).where(
            CustomerTag.customer_id.in_(customer_ids)
        )
    )
    for customer_id, tag in rows:
        found.setdefault(customer_id, set()).add(tag)
    return found


def percentile(values: Sequence[float], share: float) -> float | None:
    """Nearest-rank percentile: the smallest value with at least `share` of values at or below."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(share * len(ordered)))
    return ordered[rank - 1]


def summarise(group: str, items: Iterable[Timing]) -> DeskRow:
    items = list(items)
    firsts = [t.first_response for t in items if t.first_response is not None]
    resolutions = [t.resolution for t in items if t.resolution is not None]
    kept = sum(1 for t in items if not t.first_response_breached and not t.resolution_breached)
    scores = [t.recovery_score for t in items if t.recovery_score is not None]
    return DeskRow(
        group=group,
        conversations=len(items),
        first_response_p50=percentile(firsts, 0.5),
        first_response_p90=percentile(firsts, 0.9),
        resolution_p50=percentile(resolutions, 0.5),
        resolution_p90=percentile(resolutions, 0.9),
        first_response_breaches=sum(t.first_response_breached for t in items),
        resolution_breaches=sum(t.resolution_breached for t in items),
        within_policy_pct=100.0 * kept / len(items) if items else None,
        complaints=sum(t.is_complaint for t in items),
        recovery_answers=len(scores),
        recovery_csat_mean=sum(scores) / len(scores) if scores else None,
        reopened=sum(t.reopened for t in items),
        follow_ups_overdue=sum(t.follow_up_overdue for t in items),
        follow_ups_done_late=sum(t.follow_up_done_late for t in items),
    )


def desk_report(db: Database, rules: DeskRules, period: Period, now: datetime) -> DeskReport:
    measured = timings(db, rules, period, now)
    agents = sorted({t.agent for t in measured})
    segments = sorted({t.segment for t in measured})
    return DeskReport(
        period=period,
        overall=summarise("all", measured),
        by_agent=[summarise(a, (t for t in measured if t.agent == a)) for a in agents],
        by_segment=[summarise(s, (t for t in measured if t.segment == s)) for s in segments],
    )


# --- reminders before a breach ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Reminder:
    conversation_id: int
    staff_telegram_id: int | None
    """The assigned agent's chat; None: tell the staff on duty."""
    what: str
    """"first response" or "resolution"."""
    due: datetime


def due_reminders(db: Database, rules: DeskRules, now: datetime) -> list[Reminder]:
    """Unresolved conversations whose next target falls due within the reminder lead time.

    A conversation is reminded once per target (`reminded_at`: before the
    first answer it was for the first response, after it for resolution); the
    reminder is marked in the same transaction that finds it.
    """
    found: list[Reminder] = []
    with db.transaction() as session:
        rows = session.execute(
            select(Conversation, StaffMember.telegram_user_id)
            .outerjoin(
                StaffMember,
                (StaffMember.id == Conversation.assigned_staff_id) & StaffMember.active.is_(True),
            )
            .where(Conversation.status != ConversationStatus.RESOLVED.value)
            .order_by(Conversation.id)
        ).all()
        tags = tags_by_customer(session, {c.customer_id for c, _ in rows})
        for conversation, telegram_id in rows:
            policy = rules.policy_for(tags.get(conversation.customer_id, set()))
            answered = conversation.first_response_at
            reminded = conversation.reminded_at
            if policy is None or (
                reminded is not None and (answered is None or reminded >= answered)
            ):
                continue  # reminded of this target already
            if answered is None and conversation.status == ConversationStatus.WAITING:
                continue  # an automatic FAQ answer: the customer's move
            if conversation.first_response_at is None:
                what, due = (
                    "first response",
                    rules.hours.add(conversation.opened_at, policy.first_response),
                )
            else:
                what, due = "resolution", rules.hours.add(conversation.opened_at, policy.resolution)
            if now < due - rules.remind_before:
                continue
            found.append(Reminder(conversation.id, telegram_id, what, due))
        if found:
            session.execute(
                update(Conversation)
                .where(Conversation.id.in_([r.conversation_id for r in found]))
                .values(reminded_at=now)
            )
    return found
