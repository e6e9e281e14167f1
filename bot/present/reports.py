"""Report figures as listings: programme figures, acquisition, retention, the desk.

One set of columns per report, used for the terminal table, the Telegram
text, the CSV export and the JSON a script reads, so "response rate" is
`32.3%` on every screen and `32.3` in the `response_rate_pct` column of every
file. Definitions of the figures: docs/reports.md (programmes, retention),
docs/desk.md (the desk).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from rapport.bot.present import times
from rapport.bot.present.listing import Column, Kind, Listing, Style, display
from rapport.crm.desk.report import DeskReport, DeskRow
from rapport.crm.reports.programmes import Period, ProgrammeMetrics
from rapport.crm.reports.retention import ChurnRow, Cohort

SKIPPED_PREFIX = "skipped_"

METRIC_COLUMNS = (
    Column("targeted", "targeted", Kind.COUNT),
    Column("delivered", "delivered", Kind.COUNT),
    Column("failed", "failed", Kind.COUNT),
    Column("bounced", "bounced", Kind.COUNT),
    Column("bounce_rate_pct", "bounce rate", Kind.PCT),
    Column("pending", "pending", Kind.COUNT),
    Column("skipped", "skipped", Kind.COUNT),
    Column("responded", "responded", Kind.COUNT),
    Column("engaged", "engaged", Kind.COUNT),
    Column("response_rate_pct", "response rate", Kind.PCT),
    Column("participation_rate_pct", "participation rate", Kind.PCT),
    Column("survey_answers", "survey answers", Kind.COUNT),
    Column("csat_mean", "CSAT mean (1–5)", Kind.SCORE, scale="5"),
    Column("csat_satisfied_pct", "CSAT satisfied (4–5)", Kind.PCT),
    Column("nps", "NPS (−100 to +100)", Kind.SIGNED),
    Column("cost", "cost", Kind.MONEY),
    Column("cost_per_participant", "cost per participant", Kind.MONEY),
)
"""The programme figures (docs/reports.md), in the order the report shows them."""


def metric_values(m: ProgrammeMetrics) -> dict[str, object]:
    """The figures keyed by `METRIC_COLUMNS`, shares as fractions 0…1."""
    return {
        "targeted": m.targeted,
        "delivered": m.delivered,
        "failed": m.failed,
        "bounced": m.bounced,
        "bounce_rate_pct": m.bounce_rate,
        "pending": m.pending,
        "skipped": sum(m.skipped.values()),
        "responded": m.responded,
        "engaged": m.engaged,
        "response_rate_pct": m.response_rate,
        "participation_rate_pct": m.participation_rate,
        "survey_answers": m.survey_answers,
        "csat_mean": m.csat_mean,
        "csat_satisfied_pct": None if m.csat_satisfied_pct is None else m.csat_satisfied_pct / 100,
        "nps": m.nps,
        "cost": m.cost,
        "cost_per_participant": m.cost_per_participant,
    }


def skip_columns(reasons: Sequence[str]) -> list[Column]:
    return [Column(SKIPPED_PREFIX + r, f"skipped: {r}", Kind.COUNT) for r in reasons]


def metrics_listing(
    items: Sequence[tuple[str, Period, ProgrammeMetrics]],
    zone: ZoneInfo,
    label: str = "period",
    ids: tuple[str, Sequence[int]] | None = None,
) -> Listing:
    """One row per (label, period, figures): the CSV/JSON shape of a report or an export.

    `ids` adds a first column (its key, the ids in item order), e.g. campaign_id.
    """
    reasons = sorted({r for _, _, m in items for r in m.skipped})
    id_columns = [Column(ids[0], "id", needed=True)] if ids else []
    columns = [
        *id_columns,
        Column(label, label, needed=True, name=True),
        Column("start_at", "from", Kind.WHEN),
        Column("end_at", "to", Kind.WHEN),
        *METRIC_COLUMNS,
        *skip_columns(reasons),
    ]
    listing = Listing(columns)
    for n, (name, period, m) in enumerate(items):
        skipped = {SKIPPED_PREFIX + r: m.skipped.get(r, 0) for r in reasons}
        first = {ids[0]: ids[1][n]} if ids else {}
        listing.add(
            **first,
            **{label: name, "start_at": period.start, "end_at": period.end},
            **metric_values(m),
            **skipped,
        )
    listing.notes.append(f"times in {zone.key}; money in the shop's currency")
    return listing


def skipped_words(m: ProgrammeMetrics) -> str:
    """ "no_consent 167, unreachable 3" (reasons as docs/reports.md names them), or "0"."""
    return ", ".join(f"{k} {v:,}" for k, v in sorted(m.skipped.items())) or "0"


def comparison_listing(
    now: ProgrammeMetrics, before: ProgrammeMetrics, period: Period, style: Style, days: int
) -> Listing:
    """The programme report for a person: a figure per row, this period beside the one before."""
    this = f"last {days} days"
    columns = [
        Column("figure", "figure", needed=True, name=True),
        Column("now", this, needed=True),
        Column("before", f"{days} days before", needed=True),
    ]
    listing = Listing(columns)
    a, b = metric_values(now), metric_values(before)
    for column in METRIC_COLUMNS:
        if column.key in ("bounced", "responded", "engaged", "cost"):
            continue  # parts of the rates below; in the CSV, not in the reader's table
        if column.key == "skipped":
            listing.add(figure="skipped", now=skipped_words(now), before=skipped_words(before))
            continue
        listing.add(
            figure=column.header,
            now=display(column, a[column.key], style),
            before=display(column, b[column.key], style),
        )
    listing.title = f"Programme figures, {times.period(period.start, period.end, style.zone)}"
    listing.notes.append(
        f"money in {style.currency}; '—' means no data (nothing to divide by); "
        "definitions: docs/reports.md"
    )
    return listing


def acquisition_listing(
    months: Sequence[str],
    counts: dict[str, dict[str, int]],
    current: str,
    now: datetime,
    zone: ZoneInfo,
) -> Listing:
    """New customers per month (rows) and first channel (columns), the running month marked."""
    channels = sorted({ch for per in counts.values() for ch in per})
    listing = Listing(
        [
            Column("month", "month", needed=True, name=True),
            *(Column(ch, ch, Kind.COUNT, needed=True) for ch in channels),
            Column("total", "total", Kind.COUNT, needed=True),
        ]
    )
    for month in months:
        per = counts.get(month, {})
        listing.add(
            month=times.month_label(month, current, now, zone),
            **{ch: per.get(ch, 0) for ch in channels},
            total=sum(per.values()),
        )
    listing.title = "New customers per month of first contact, by first channel"
    listing.notes.append(f"months in {zone.key}; the running month is partial")
    return listing


def cohort_listing(cohorts: Sequence[Cohort], now: datetime, zone: ZoneInfo) -> Listing:
    """Cohorts (rows) by month since first contact (+0, +1, …); the running month's cells marked."""
    width = max((len(c.active) for c in cohorts), default=1)
    listing = Listing(
        [
            Column("cohort", "cohort", needed=True, name=True),
            Column("customers", "customers", Kind.COUNT, needed=True),
            *(Column(f"m{k}_pct", f"+{k}", Kind.PCT, needed=k < 7) for k in range(width)),
        ]
    )
    for n, c in enumerate(cohorts):
        listing.add(
            cohort=c.month,
            customers=c.size,
            **{f"m{k}_pct": share for k, share in enumerate(c.shares)},
        )
        listing.marks[(n, f"m{len(c.shares) - 1}_pct")] = "*"
    listing.title = "Retention: share of each cohort active n months after first contact"
    today = times.local(now, zone)
    listing.notes.append(
        f"+n: % of the cohort active in its n-th month after first contact; "
        f"* the month still running (to {today.day} {today:%b}), so partial and low; "
        f"months in {zone.key}"
    )
    return listing


def churn_listing(
    rows: Sequence[ChurnRow], current: str, now: datetime, zone: ZoneInfo, dormancy_days: int
) -> Listing:
    listing = Listing(
        [
            Column("month", "month", needed=True, name=True),
            Column("new", "new", Kind.COUNT, needed=True),
            Column("active", "active", Kind.COUNT, needed=True),
            Column("churned", "churned", Kind.COUNT, needed=True),
            Column("reactivated", "reactivated", Kind.COUNT, needed=True),
        ]
    )
    for r in rows:
        listing.add(
            month=times.month_label(r.month, current, now, zone),
            new=r.new,
            active=r.active,
            churned=r.churned,
            reactivated=r.reactivated,
        )
    listing.title = "Customers per month: new, active, churned, reactivated"
    listing.notes.append(
        f"churned: crossed {dormancy_days} days without writing or ordering in the month; "
        "a partial month counts only its days so far"
    )
    return listing


_BUSINESS = "business hours; p50 = median, p90 = 9 in 10 within"

DESK_COLUMNS = (
    Column("group", "group", needed=True, name=True),
    Column("conversations", "conv.", Kind.COUNT, needed=True, legend="conversations"),
    Column(
        "first_response_p50_min",
        "reply p50",
        Kind.MINUTES,
        needed=True,
        legend=f"time to the first answer ({_BUSINESS})",
        long="first response p50",
    ),
    Column(
        "first_response_p90_min", "reply p90", Kind.MINUTES, needed=True, long="first response p90"
    ),
    Column(
        "resolution_p50_min",
        "solved p50",
        Kind.MINUTES,
        needed=True,
        legend="time to resolution",
        long="resolution p50",
    ),
    Column("resolution_p90_min", "solved p90", Kind.MINUTES, long="resolution p90"),
    Column(
        "within_policy_pct",
        "in policy",
        Kind.PCT,
        needed=True,
        legend="neither target missed",
        long="within policy",
    ),
    Column("first_response_breaches", "late replies", Kind.COUNT, long="first responses late"),
    Column("resolution_breaches", "late solved", Kind.COUNT, long="resolutions late"),
    Column("complaints", "complaints", Kind.COUNT),
    Column(
        "recovery_csat_mean",
        "recovery CSAT",
        Kind.SCORE,
        scale="5",
        legend="satisfaction after a complaint, 1–5",
    ),
    Column("recovery_answers", "answers", Kind.COUNT, long="recovery answers"),
    Column("reopened", "reopened", Kind.COUNT),
    Column("follow_ups_overdue", "follow-ups overdue", Kind.COUNT),
    Column("follow_ups_done_late", "follow-ups late", Kind.COUNT, long="follow-ups done late"),
)


def desk_listing(report: DeskReport, zone: ZoneInfo) -> Listing:
    """The contact-policy report: everyone, each agent, each segment (docs/desk.md)."""
    listing = Listing(DESK_COLUMNS)

    def add(label: str, r: DeskRow) -> None:
        listing.add(
            group=label,
            conversations=r.conversations,
            first_response_p50_min=r.first_response_p50,
            first_response_p90_min=r.first_response_p90,
            resolution_p50_min=r.resolution_p50,
            resolution_p90_min=r.resolution_p90,
            within_policy_pct=None if r.within_policy_pct is None else r.within_policy_pct / 100,
            first_response_breaches=r.first_response_breaches,
            resolution_breaches=r.resolution_breaches,
            complaints=r.complaints,
            recovery_csat_mean=r.recovery_csat_mean,
            recovery_answers=r.recovery_answers,
            reopened=r.reopened,
            follow_ups_overdue=r.follow_ups_overdue,
            follow_ups_done_late=r.follow_ups_done_late,
        )

    add("all", report.overall)
    for r in report.by_agent:
        add(f"agent {r.group}", r)
    for r in report.by_segment:
        add(f"segment {r.group}", r)
    p = report.period
    listing.title = f"Contact policy, conversations opened {times.period(p.start, p.end, zone)}"
    return listing
