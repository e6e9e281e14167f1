"""Saved segments: named rules stored, listed, counted, previewed and deleted.

A campaign targets a saved segment; a segment a campaign uses cannot be
deleted. Previews show customers' names, so they are audited.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from rapport.crm.clock import utcnow
from rapport.crm.customers.profiles import CustomerSummary, customer_summaries
from rapport.crm.database import Database
from rapport.crm.errors import Conflict, InvalidInput, NotFound, UnknownName
from rapport.crm.models import Campaign, Customer, Segment
from rapport.crm.segments.compilation import rule_condition
from rapport.crm.segments.fields import points_balance
from rapport.crm.segments.rules import Rule, parse_rule, rule_to_json
from rapport.crm.staff.audit import Actor, record

MAX_SAMPLE = 100
MAX_NAME = 80


@dataclass(frozen=True, slots=True)
class SegmentView:
    """A saved segment as callers see it: a snapshot, never a live ORM row."""

    id: int
    name: str
    description: str | None
    rule: str
    """The rule as JSON; `segment_rule` parses it."""
    created_at: datetime

    @classmethod
    def of(cls, segment: Segment) -> SegmentView:
        return cls(segment.id, segment.name, segment.description, segment.rule, segment.created_at)


@dataclass(frozen=True, slots=True)
class SegmentPreview:
    count: int
    sample: list[CustomerSummary]


_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]")


def _clean_name(name: str) -> str:
    value = unicodedata.normalize("NFC", name).strip() if isinstance(name, str) else ""
    if not value or len(value) > MAX_NAME or _CONTROL.search(value):
        raise InvalidInput(f"a segment name is 1–{MAX_NAME} characters of text, got {name!r}")
    if value.isdigit():
        raise InvalidInput(f"a segment name cannot be only digits (ids look like that): {name!r}")
    return value


def _find(session: Session, name_or_id: str | int) -> Segment:
    if isinstance(name_or_id, int) or str(name_or_id).strip().isdigit():
        segment = session.get(Segment, int(name_or_id))
        if segment is None:
            raise NotFound(f"no segment with id {name_or_id}")
        return segment
    name = unicodedata.normalize("NFC", str(name_or_id)).strip()
    segment = session.scalar(select(Segment).where(func.lower(Segment.name) == name.lower()))
    if segment is None:
        raise UnknownName("segment", name, session.scalars(select(Segment.name)))
    return segment


def create_segment(
    db: Database,
    name: str,
    rule: str | Mapping[str, Any] | Rule,
    description: str | None = None,
) -> SegmentView:
    """Save a named rule; the name is unique whatever its case."""
    clean = _clean_name(name)
    parsed = parse_rule(rule)
    text = (description or "").strip() or None
    try:
        with db.transaction() as session:
            taken = session.scalar(
                select(Segment.id).where(func.lower(Segment.name) == clean.lower())
            )
            if taken is not None:
                raise Conflict(f"a segment named {clean!r} already exists")
            segment = Segment(name=clean, description=text, rule=rule_to_json(parsed))
            session.add(segment)
            session.flush()
            return SegmentView.of(segment)
    except IntegrityError:  # a concurrent create of the same name won the race
        raise Conflict(f"a segment named {clean!r} already exists") from None


def list_segments(db: Database) -> list[SegmentView]:
    """All saved segments, by name."""
    with db.session() as session:
        return [SegmentView.of(s) for s in session.scalars(select(Segment).order_by(Segment.name))]


def get_segment(db: Database, name_or_id: str | int) -> SegmentView:
    """One segment by id or by name (case-insensitive); NotFound otherwise."""
    with db.session() as session:
        return SegmentView.of(_find(session, name_or_id))


def segment_rule(segment: SegmentView | Segment) -> Rule:
    """The parsed rule of a stored segment."""
    return parse_rule(segment.rule)


def count_members(db: Database, name_or_id: str | int, now: datetime | None = None) -> int:
    """How many customers the segment picks now; shows no personal data, so not audited."""
    segment = get_segment(db, name_or_id)
    condition = rule_condition(segment_rule(segment), now or utcnow())
    with db.session() as session:
        return session.scalar(select(func.count()).select_from(Customer).where(condition)) or 0


def delete_segment(db: Database, name_or_id: str | int) -> None:
    """Delete a segment no campaign uses; campaigns keep their audience otherwise."""
    with db.transaction() as session:
        segment = _find(session, name_or_id)
        using = select(Campaign.name).where(Campaign.segment_id == segment.id)
        users = list(session.scalars(using.order_by(Campaign.name)))
        if users:
            raise Conflict(
                f"segment {segment.name!r} is used by campaign(s) {', '.join(users)}; "
                "delete or re-target them first"
            )
        session.delete(segment)


def preview(
    db: Database,
    actor: Actor,
    name_or_id: str | int,
    sample: int = 10,
    now: datetime | None = None,
) -> SegmentPreview:
    """How many customers a segment picks and who some of them are; audited (it shows names)."""
    segment = get_segment(db, name_or_id)
    return preview_rule(
        db,
        actor,
        segment_rule(segment),
        sample,
        now,
        label=f"segment {segment.id} {segment.name!r}",
    )


def preview_rule(
    db: Database,
    actor: Actor,
    rule: Rule,
    sample: int = 10,
    now: datetime | None = None,
    *,
    label: str = "unsaved rule",
) -> SegmentPreview:
    """`preview` of a rule not saved yet (the console's rule builder); audited the same."""
    if not 0 <= sample <= MAX_SAMPLE:
        raise InvalidInput(f"sample size must be from 0 to {MAX_SAMPLE}, got {sample}")
    condition = rule_condition(rule, now or utcnow())
    with db.session() as session:
        count = session.scalar(select(func.count()).select_from(Customer).where(condition)) or 0
    shown = customer_summaries(db, [condition], sample) if sample else []
    with db.transaction() as session:
        record(
            session,
            actor,
            "segment.preview",
            detail=f"{label}: {count} match; shown {[c.id for c in shown]}",
        )
    return SegmentPreview(count=count, sample=shown)


def segments_of(db: Database, customer_id: int, now: datetime | None = None) -> list[str]:
    """Names of the segments that pick this customer now, for a profile.

    One query for all of them, a CASE per segment over the customer's row:
    the customer page shows this on every view, and a query per segment was
    a third of the page's reads.
    """
    now = now or utcnow()
    with db.session() as session:
        segments = session.scalars(select(Segment).order_by(Segment.name)).all()
        if not segments:
            return []
        tests = [
            case((rule_condition(segment_rule(segment), now), 1), else_=0) for segment in segments
        ]
        row = session.execute(select(*tests).where(Customer.id == customer_id)).one_or_none()
    if row is None:
        return []
    return [segment.name for segment, hit in zip(segments, row, strict=True) if hit]


def points_of(db: Database, customer_id: int) -> int:
    """A customer's loyalty points balance (the ledger's sum; 0 without entries)."""
    with db.session() as session:
        query = select(points_balance()).where(Customer.id == customer_id)
        return int(session.scalar(query) or 0)
