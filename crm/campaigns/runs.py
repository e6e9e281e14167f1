"""Campaign runs: one firing of a campaign, and its deliveries made in one statement.

A run and all its deliveries are created in a single transaction by one
INSERT … SELECT over the segment's rule, so a crash leaves either no run or
a complete one, and re-firing the same slot finds the run already there.
Customers who cannot be messaged are inserted too, as `skipped` with the
reason, so reports can say why they were left out.
"""

from __future__ import annotations

import logging
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    ColumnElement,
    Insert,
    and_,
    case,
    false,
    func,
    insert,
    literal,
    literal_column,
    select,
    true,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from rapport.crm.campaigns.definitions import LAST_ACTIVE
from rapport.crm.campaigns.planner import outbox_needs_analyze
from rapport.crm.clock import utcnow
from rapport.crm.database import Database
from rapport.crm.errors import NotFound
from rapport.crm.models import (
    Campaign,
    CampaignRun,
    CampaignStatus,
    Consent,
    Customer,
    Delivery,
    DeliveryStatus,
    Identity,
    Segment,
    UtcDateTime,
)
from rapport.crm.privacy.consent import marketing_grant_on
from rapport.crm.segments.compilation import rule_condition
from rapport.crm.segments.rules import parse_rule
from rapport.crm.statistics import analyze_stale

log = logging.getLogger(__name__)

ANALYZE_AFTER = 1_000
"""Queued deliveries from which a run refreshes the outbox's statistics (PostgreSQL)."""

DEFAULT_FREQUENCY_CAP = 3
"""Campaign messages per customer per rolling 7 days, across all campaigns."""

_CAN_MATERIALISE = sqlite3.sqlite_version_info >= (3, 35, 0)
"""`WITH … AS MATERIALIZED` needs SQLite 3.35 (PostgreSQL 12)."""

NO_CONSENT = "no_consent"
UNREACHABLE = "unreachable"
FREQUENCY_CAP = "frequency_cap"
COUNTED = (
    DeliveryStatus.QUEUED,
    DeliveryStatus.CLAIMED,
    DeliveryStatus.SENDING,
    DeliveryStatus.SENT,
)


@dataclass(frozen=True, slots=True)
class RunSummary:
    run_id: int
    created: bool
    queued: int
    skipped: dict[str, int]
    scheduled_for: datetime | None = None
    repeat: int = 0


def start_run(
    db: Database,
    campaign_id: int,
    *,
    scheduled_for: datetime | None = None,
    trigger: str = "schedule",
    channels: tuple[str, ...] | None = None,
    frequency_cap: int = DEFAULT_FREQUENCY_CAP,
    now: datetime | None = None,
    again: bool = False,
    completes: bool = False,
) -> RunSummary:
    """Create the run for this slot with all its deliveries, or find the existing one.

    `scheduled_for` names the slot (default: now, to the minute); `channels`
    are the channels that can send right now (None: all), so nobody is queued
    on a channel this installation does not have. A slot has one run, whoever
    asks and however often (the database's unique key decides a race); only
    `again` (a person running it again on purpose) adds another for the same
    slot. `completes`: this is a one-off campaign's scheduled run, after which
    the campaign is `completed` and never fires again (set in the same
    transaction as the run, so there is no moment where it ran but looks due).
    """
    now = now or utcnow()
    slot = (scheduled_for or now).replace(second=0, microsecond=0)
    try:
        with db.transaction() as session:
            repeat = _next_repeat(session, campaign_id, slot) if again else 0
            named = _named(slot, repeat, now)
            run_id = _make_run(
                session, db.dialect, campaign_id, named, repeat, trigger, channels,
                frequency_cap, now, completes=completes,
            )  # fmt: skip
    except IntegrityError:
        existing = _run_for_slot(db, campaign_id, slot)
        if existing is None:  # the conflict was not the (campaign, slot) key
            raise
        if completes:
            _complete(db, campaign_id)
        log.info("campaign %d slot %s already has run %d", campaign_id, slot, existing)
        return summarise(db, existing, created=False)
    summary = summarise(db, run_id, created=True)
    if db.dialect == "postgresql" and summary.queued >= ANALYZE_AFTER:
        _analyze_outbox(db, summary.queued)
    log.info(
        "campaign %d run %d: %d queued, skipped %s",
        campaign_id,
        run_id,
        summary.queued,
        summary.skipped or "none",
    )
    return summary


def _analyze_outbox(db: Database, added: int) -> None:
    """Fresh statistics on `deliveries` after a big run, before dispatchers claim from it.

    The run's rows arrived in one statement, long before autovacuum looks; with
    the statistics of the emptier table the planner sorted every queued
    delivery on each claim instead of reading the claim's index in order
    (hundreds of ms per claim at 100,000 queued). Outside the run's
    transaction, so it holds no lock the dispatchers wait for; skipped when
    the run added too few rows to change the planner's view of a big outbox.
    """
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        if outbox_needs_analyze(conn, added):
            # The columns the claim and the frequency cap plan with: a fraction of
            # the whole table's ANALYZE, which autovacuum does later anyway.
            conn.exec_driver_sql(
                "ANALYZE deliveries (status, next_attempt_at, customer_id, created_at)"
            )


def dry_run(
    db: Database,
    campaign_id: int,
    *,
    channels: tuple[str, ...] | None = None,
    frequency_cap: int = DEFAULT_FREQUENCY_CAP,
    now: datetime | None = None,
) -> RunSummary:
    """What a run now would queue and skip, and why; nothing is written.

    The very statement a real run executes, inside a transaction that is
    rolled back, so the answer cannot drift from what a run would do.
    """
    now = now or utcnow()
    slot = now.replace(second=0, microsecond=0)
    with db.session() as session:
        try:
            repeat = _next_repeat(session, campaign_id, slot)
            run_id = _make_run(
                session, db.dialect, campaign_id, _named(slot, repeat, now), repeat, "dry-run",
                channels,
                frequency_cap, now,
            )  # fmt: skip
            queued, skipped = _counts(session, run_id)
        finally:
            session.rollback()
    return RunSummary(run_id=0, created=False, queued=queued, skipped=skipped, scheduled_for=slot)


def _make_run(
    session: Session,
    dialect: str,
    campaign_id: int,
    slot: datetime,
    repeat: int,
    trigger: str,
    channels: tuple[str, ...] | None,
    frequency_cap: int,
    now: datetime,
    *,
    completes: bool = False,
) -> int:
    """Insert the run and its deliveries in the caller's transaction; the run's id."""
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        raise NotFound(f"no campaign {campaign_id}")
    segment = session.get(Segment, campaign.segment_id)
    assert segment is not None
    if dialect == "postgresql":
        # Fresh statistics keep the planner on hash joins right after a bulk
        # import (stale ones made it loop per customer: minutes, not seconds);
        # only the stale ones are refreshed (rapport.crm.campaigns.planner).
        analyze_stale(session.connection(), ("consents", "customers", "deliveries", "identities"))
    run = CampaignRun(
        campaign_id=campaign_id,
        scheduled_for=slot,
        repeat=repeat,
        started_at=now,
        trigger=trigger,
    )
    session.add(run)
    session.flush()
    statement = _materialise(campaign, segment, run.id, channels, frequency_cap, now)
    session.execute(statement)
    run.materialised_at = utcnow()
    if completes:
        campaign.status = CampaignStatus.COMPLETED
    return run.id


def _named(slot: datetime, repeat: int, now: datetime) -> datetime:
    """What a run is named by: its slot, or for a repeat the instant it was asked for."""
    return slot if repeat == 0 else max(now, slot + timedelta(microseconds=1))


def _next_repeat(session: Session, campaign_id: int, slot: datetime) -> int:
    """0 for a slot without a run; else one more than its runs so far (`run-now --again`)."""
    latest = session.scalar(
        select(func.max(CampaignRun.repeat)).where(
            CampaignRun.campaign_id == campaign_id,
            CampaignRun.scheduled_for >= slot,
            CampaignRun.scheduled_for < slot + timedelta(minutes=1),
        )
    )
    return 0 if latest is None else latest + 1


def _complete(db: Database, campaign_id: int) -> None:
    with db.transaction() as session:
        campaign = session.get(Campaign, campaign_id)
        if campaign is not None and campaign.status == CampaignStatus.ACTIVE:
            campaign.status = CampaignStatus.COMPLETED


def slot_run(db: Database, campaign_id: int, slot: datetime) -> RunSummary | None:
    """The run already made for this minute's slot, if any (the first one)."""
    existing = _run_for_slot(db, campaign_id, slot.replace(second=0, microsecond=0))
    return None if existing is None else summarise(db, existing)


def _run_for_slot(db: Database, campaign_id: int, slot: datetime) -> int | None:
    with db.session() as session:
        return session.scalar(
            select(CampaignRun.id).where(
                CampaignRun.campaign_id == campaign_id, CampaignRun.scheduled_for == slot
            )
        )


def local_slot_taken(db: Database, campaign_id: int, zone: str, slot: datetime) -> bool:
    """Has this campaign already run at the same local wall-clock minute?

    On the night clocks go back, a cron time such as 01:30 happens twice and
    APScheduler fires both; the business meant once.
    """
    local = slot.astimezone(ZoneInfo(zone)).replace(second=0, microsecond=0, tzinfo=None)
    with db.session() as session:
        recent = session.scalars(
            select(CampaignRun.scheduled_for).where(
                CampaignRun.campaign_id == campaign_id,
                CampaignRun.scheduled_for >= slot - timedelta(hours=3),
                CampaignRun.scheduled_for < slot,
            )
        ).all()
    return any(
        r.astimezone(ZoneInfo(zone)).replace(second=0, microsecond=0, tzinfo=None) == local
        for r in recent
    )


def run_ids(db: Database, campaign_id: int) -> list[int]:
    with db.session() as session:
        return list(
            session.scalars(
                select(CampaignRun.id)
                .where(CampaignRun.campaign_id == campaign_id)
                .order_by(CampaignRun.id)
            )
        )


def summarise(db: Database, run_id: int, *, created: bool = False) -> RunSummary:
    with db.session() as session:
        queued, skipped = _counts(session, run_id)
        run = session.get(CampaignRun, run_id)
        slot, repeat = (run.scheduled_for, run.repeat) if run is not None else (None, 0)
    return RunSummary(
        run_id=run_id,
        created=created,
        queued=queued,
        skipped=skipped,
        scheduled_for=slot,
        repeat=repeat,
    )


def _counts(session: Session, run_id: int) -> tuple[int, dict[str, int]]:
    rows = session.execute(
        select(Delivery.status, Delivery.skip_reason, func.count())
        .where(Delivery.run_id == run_id)
        .group_by(Delivery.status, Delivery.skip_reason)
    ).all()
    skipped = {
        reason: n
        for status, reason, n in rows
        if status == DeliveryStatus.SKIPPED and reason is not None  # a skip has a reason
    }
    queued = sum(n for status, _, n in rows if status != DeliveryStatus.SKIPPED)
    return queued, skipped


def run_progress(db: Database, run_id: int) -> tuple[dict[str, int], dict[str, int]]:
    """A run's deliveries by status (claimed and sending count as queued) and its skips
    by reason: what a run view shows while the dispatcher works through it."""
    with db.session() as session:
        rows = session.execute(
            select(Delivery.status, Delivery.skip_reason, func.count())
            .where(Delivery.run_id == run_id)
            .group_by(Delivery.status, Delivery.skip_reason)
        ).all()
    status: dict[str, int] = {"queued": 0, "sent": 0, "failed": 0, "skipped": 0}
    reasons: dict[str, int] = {}
    for state, reason, n in rows:
        shown = "queued" if state in ("queued", "claimed", "sending") else str(state)
        status[shown] = status.get(shown, 0) + n
        if state == DeliveryStatus.SKIPPED:
            reasons[reason or "unknown"] = reasons.get(reason or "unknown", 0) + n
    return status, reasons


@dataclass(frozen=True, slots=True)
class RunOutcome:
    """Where a run's deliveries stand, whichever dispatcher handled them."""

    sent: int
    failed: int
    skipped: int
    """At materialisation and at send time alike (e.g. consent withdrawn meanwhile)."""
    retrying: int
    """Back in the queue after a failed attempt, waiting for their retry time."""
    waiting: int
    """Queued, never tried: held for a customer's recent message, or not reached yet."""
    in_flight: int
    """Claimed by a dispatcher, or handed to the channel: settles within seconds."""


def run_outcome(db: Database, run_id: int) -> RunOutcome:
    """A run by hand reports the run, not only what its own dispatcher sent: when
    `rapport run` is up, its dispatcher may claim the new deliveries first."""
    tried = Delivery.attempts > literal_column("0")  # a literal: GROUP BY matches the column
    with db.session() as session:
        rows = session.execute(
            select(Delivery.status, tried, func.count())
            .where(Delivery.run_id == run_id)
            .group_by(Delivery.status, tried)
        ).all()
    count: dict[tuple[str, bool], int] = {(str(s), bool(tried)): n for s, tried, n in rows}

    def of(*states: DeliveryStatus, tried: bool | None = None) -> int:
        return sum(
            n
            for (state, was_tried), n in count.items()
            if state in states and (tried is None or was_tried == tried)
        )

    return RunOutcome(
        sent=of(DeliveryStatus.SENT),
        failed=of(DeliveryStatus.FAILED),
        skipped=of(DeliveryStatus.SKIPPED),
        retrying=of(DeliveryStatus.QUEUED, tried=True),
        waiting=of(DeliveryStatus.QUEUED, tried=False),
        in_flight=of(DeliveryStatus.CLAIMED, DeliveryStatus.SENDING),
    )


def still_queued(db: Database, run_id: int) -> int:
    """A run's deliveries not settled yet: held for a customer's recent message, a retry
    waiting its turn, or claimed by a dispatcher now. Whoever runs a campaign by hand
    should hear that these go out later rather than read the sent count as the whole."""
    with db.session() as session:
        return (
            session.scalar(
                select(func.count()).where(
                    Delivery.run_id == run_id,
                    Delivery.status.in_(
                        (DeliveryStatus.QUEUED.value, DeliveryStatus.CLAIMED.value)
                    ),
                )
            )
            or 0
        )


def _materialise(
    campaign: Campaign,
    segment: Segment,
    run_id: int,
    channels: tuple[str, ...] | None,
    frequency_cap: int,
    now: datetime,
) -> Insert:
    """The INSERT … SELECT that turns a segment into this run's deliveries."""
    # One grouped join driven by the segment's customers, not correlated
    # subqueries (a PostgreSQL planner without fresh statistics turned those into
    # a nested scan of identities per customer) and not a grouped subquery over
    # all identities joined back (SQLite then built a temporary index on it).
    # Consent is an outer join on its key, so it is looked up once per identity.
    preferred = (
        Customer.last_channel if campaign.channel == LAST_ACTIVE else literal(campaign.channel)
    )
    usable: list[ColumnElement[bool]] = [
        Identity.customer_id == Customer.id,
        Identity.unreachable_at.is_(None),
    ]
    if channels is not None:
        usable.append(Identity.channel.in_(channels) if channels else false())
    granted = Consent.customer_id.is_not(None)

    def first(*conditions: Any) -> Any:
        return (
            func.min(case((and_(*conditions), Identity.id)))
            if conditions
            else func.min(Identity.id)
        )

    # Consent is per channel: the identity used must be on a channel the customer
    # agreed to marketing on; `reachable` (any usable identity) only explains a skip.
    identity_id: Any = first(Identity.channel == preferred, granted)
    reachable_id: Any = first(Identity.channel == preferred)
    if campaign.channel == LAST_ACTIVE or campaign.fallback:
        identity_id = func.coalesce(identity_id, first(granted))
        reachable_id = func.coalesce(reachable_id, first())
    recent = (
        select(Delivery.customer_id.label("customer_id"), func.count().label("n"))
        .where(
            Delivery.status.in_([s.value for s in COUNTED]),
            Delivery.created_at >= literal(now - timedelta(days=7), UtcDateTime()),
        )
        .group_by(Delivery.customer_id)
        .subquery("recent")
    )
    candidates = (
        select(
            Customer.id.label("customer_id"),
            Customer.marketing_consent.label("consent"),  # grouped by the key: one value
            identity_id.label("identity_id"),
            reachable_id.label("reachable_id"),
            func.coalesce(func.max(recent.c.n), 0).label("recent"),
        )
        .select_from(Customer)
        .outerjoin(Identity, and_(*usable))
        .outerjoin(
            Consent,
            marketing_grant_on(Identity.customer_id.expression, Identity.channel.expression),
        )
        .outerjoin(recent, recent.c.customer_id == Customer.id)
        .where(Customer.erased_at.is_(None), rule_condition(parse_rule(segment.rule), now))
        .group_by(Customer.id)
        .cte("candidates")
    )
    if _CAN_MATERIALISE:
        # SQLite: computed once per customer, not again at each reference in the
        # CASEs below. PostgreSQL computes a CTE referenced once only once anyway;
        # materialised it wrote the 100,000 rows to a temporary file and read them
        # back (13 % of the statement).
        candidates = candidates.prefix_with("MATERIALIZED", dialect="sqlite")
    k = candidates.c
    reason = case(
        (k.consent.is_not(true()), NO_CONSENT),
        (k.identity_id.is_not(None) & (k.recent >= frequency_cap), FREQUENCY_CAP),
        (k.identity_id.is_not(None), None),
        (k.reachable_id.is_(None), UNREACHABLE),
        else_=NO_CONSENT,
    )
    status = case(
        (reason.is_(None), DeliveryStatus.QUEUED.value), else_=DeliveryStatus.SKIPPED.value
    )
    at = literal(now, UtcDateTime())
    rows = select(
        literal(run_id),
        literal(campaign.id),
        k.customer_id,
        func.coalesce(k.identity_id, k.reachable_id),
        status,
        reason,
        literal(0),
        at,
        at,
    )
    return insert(Delivery).from_select(
        [
            "run_id",
            "campaign_id",
            "customer_id",
            "identity_id",
            "status",
            "skip_reason",
            "attempts",
            "next_attempt_at",
            "created_at",
        ],
        rows,
    )
