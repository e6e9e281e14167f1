"""Report charts as PNG (matplotlib, headless): what staff look at on a phone.

The figures come from `rapport.crm.reports.programmes` (same definitions as the
text reports); this module only draws, and draws honestly:

- days are the business's days (RAPPORT_TIMEZONE), named on the axis;
- a day without data is a gap, never a line drawn across it;
- an axis is scaled to the data, and the label says the scale it is part of
  ("CSAT mean, scale 1–5");
- labels are plain words ("share of positive messages"), bars carry their value;
- positive and negative messages use the settings' thresholds
  (RAPPORT_SENTIMENT_POSITIVE_THRESHOLD / _NEGATIVE_THRESHOLD);
- the period's last day, still running, is marked "so far".

It uses matplotlib's object API (`Figure`, no pyplot), so no global state is
shared between charts drawn in threads, and no display is ever needed. A
chart with nothing to draw is refused with a clear `NothingToChart` rather
than sent as an empty frame.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import matplotlib

matplotlib.use("Agg")

from matplotlib.axes import Axes
from matplotlib.dates import AutoDateLocator, DateFormatter, DayLocator, date2num
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator, PercentFormatter

from rapport.bot.present import numbers
from rapport.bot.present.times import local
from rapport.crm.database import Database
from rapport.crm.errors import RapportError, UnknownChoice
from rapport.crm.reports.programmes import Period, ProgrammeMetrics, metrics_per_campaign
from rapport.crm.reports.series import (
    SatisfactionPoint,
    SentimentPoint,
    satisfaction_by_day,
    sentiment_by_day,
)
from rapport.crm.settings import Settings

CHARTS = {
    "participation": "participation and response rate per campaign, as bars with their values",
    "satisfaction": "CSAT mean and NPS per day and segment (days without answers left empty)",
    "sentiment": "share of positive and negative customer messages per day, with the counts",
}
SIZE = (10, 6)
DPI = 110
MAX_LABEL = 24
SHORT_SPAN_DAYS = 16
BAR_DAYS = 0.6
PARTIAL_COLOUR = "#f2e6c9"


class NothingToChart(RapportError):
    """The period has no data for this chart."""


@dataclass(frozen=True, slots=True)
class ChartFrame:
    """Where a chart sits in time: the business's zone, the days shown, whether the last is partial.

    `days` are the local calendar days the period touches; `partial` is the
    day still running at the period's end (None when the period ends at a
    day's start), shaded and labelled "so far"; `cut` is the first day when
    the period starts after its midnight (it holds only that day's end).
    """

    zone: ZoneInfo
    days: list[date]
    partial: date | None
    cut: date | None = None

    @classmethod
    def of(cls, period: Period, zone: ZoneInfo) -> ChartFrame:
        start, end = local(period.start, zone), local(period.end, zone)
        first, last = start.date(), (end - timedelta(microseconds=1)).date()
        days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
        ends_midnight = end == end.replace(hour=0, minute=0, second=0, microsecond=0)
        starts_midnight = start == start.replace(hour=0, minute=0, second=0, microsecond=0)
        return cls(
            zone, days, None if ends_midnight else end.date(), None if starts_midnight else first
        )


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


def _short(label: str) -> str:
    return label if len(label) <= MAX_LABEL else label[: MAX_LABEL - 1] + "…"


def _dates(axis: Axes, frame: ChartFrame) -> None:
    """A day axis over the frame's days (day ticks, "02 Dec"), the zone and year in the label."""
    first, last = frame.days[0] - timedelta(days=1), frame.days[-1] + timedelta(days=1)
    axis.set_xlim(first, last)  # type: ignore[arg-type]
    span = (last - first).days
    if span <= SHORT_SPAN_DAYS:
        axis.xaxis.set_major_locator(DayLocator(interval=1 if span <= SHORT_SPAN_DAYS // 2 else 2))
    else:
        axis.xaxis.set_major_locator(AutoDateLocator(minticks=3, maxticks=8))
    axis.xaxis.set_major_formatter(DateFormatter("%d %b"))
    years = sorted({d.year for d in frame.days})
    year = "–".join(str(y) for y in (years[0], years[-1])) if len(years) > 1 else str(years[0])
    axis.set_xlabel(f"day ({frame.zone.key}), {year}")


def _mark_partial(axes: Sequence[Axes], frame: ChartFrame) -> None:
    """Shade the partial days (the one still running, a first day cut short) and say so."""
    for day, words, align in (
        (frame.partial, "today,\nso far ", "right"),
        (frame.cut, " part\n of day", "left"),
    ):
        if day is None:
            continue
        middle = datetime(day.year, day.month, day.day)
        for axis in axes:
            axis.axvspan(
                date2num(middle - timedelta(hours=12)),
                date2num(middle + timedelta(hours=12)),
                color=PARTIAL_COLOUR,
                zorder=0,
            )
        axes[0].annotate(
            words,
            (date2num(middle), 0.99),
            xycoords=("data", "axes fraction"),
            ha=align,
            va="top",
            fontsize=8,
            color="dimgrey",
        )


def _scaled(values: Sequence[float], low: float, high: float, pad: float) -> tuple[float, float]:
    """Axis limits around the data (with a margin), inside the measure's own scale."""
    lo, hi = min(values) - pad, max(values) + pad
    return round(max(low, lo), 1), round(min(high, hi), 1)


def participation_chart(items: Sequence[tuple[str, ProgrammeMetrics]], period_label: str) -> bytes:
    """Grouped bars: participation and response rate (%) per campaign, each bar with its value."""
    shown = [(name, m) for name, m in items if m.delivered]
    if not shown:
        raise NothingToChart(f"no campaign delivered anything in {period_label}")
    figure = Figure(figsize=SIZE, layout="constrained")
    axis = figure.add_subplot()
    positions = range(len(shown))
    width = 0.38
    series = [
        ("participation rate", [m.participation_rate or 0 for _, m in shown], -width / 2),
        ("response rate", [m.response_rate or 0 for _, m in shown], width / 2),
    ]
    for label, shares, offset in series:
        bars = axis.bar(
            [p + offset for p in positions], [100 * s for s in shares], width, label=label
        )
        axis.bar_label(bars, labels=[numbers.pct(s) for s in shares], fontsize=8, padding=2)
    axis.set_xticks(
        list(positions),
        [f"{_short(name)}\n{numbers.count(m.delivered)} delivered" for name, m in shown],
    )
    if len(shown) > 5:
        axis.tick_params(axis="x", labelrotation=30)
    axis.set_ylim(0, 110)
    axis.yaxis.set_major_formatter(PercentFormatter())
    axis.set_ylabel("share of delivered messages")
    axis.set_xlabel("campaign")
    axis.set_title(f"Participation per campaign, {period_label}")
    axis.legend(loc="upper right")
    axis.grid(axis="y", alpha=0.3)
    return _png(figure)


# A satisfaction panel: y label, its points, the measure, its scale, axis padding.
_Panel = tuple[
    str,
    list[SatisfactionPoint],
    Callable[[SatisfactionPoint], float | None],
    tuple[float, float],
    float,
]


def satisfaction_chart(
    points: Sequence[SatisfactionPoint], period_label: str, frame: ChartFrame | None = None
) -> bytes:
    """CSAT mean and NPS per day, one line per segment; a day without answers is a gap."""
    csat = [p for p in points if p.csat_mean is not None]
    nps = [p for p in points if p.nps is not None]
    panels: list[_Panel] = [
        ("CSAT mean, scale 1–5", csat, lambda p: p.csat_mean, (1.0, 5.0), 0.3),
        ("NPS, scale −100 to +100", nps, lambda p: p.nps, (-100.0, 100.0), 10.0),
    ]
    panels = [panel for panel in panels if panel[1]]
    if not panels:
        raise NothingToChart(f"no survey answers in {period_label}")
    frame = frame or _frame_of(sorted({p.day for p in points}))
    figure = Figure(figsize=(SIZE[0], 4 + 2.5 * len(panels)), layout="constrained")
    axes = figure.subplots(len(panels), 1, squeeze=False, sharex=True)[:, 0]
    for axis, (label, data, value, scale, pad) in zip(axes, panels, strict=True):
        for segment in sorted({p.segment for p in data}):
            by_day = {p.day: value(p) for p in data if p.segment == segment}
            ys = [by_day.get(d, math.nan) for d in frame.days]  # NaN: no line across a gap
            axis.plot(
                frame.days,
                [math.nan if y is None else y for y in ys],
                marker="o",
                label=_short(segment),
            )
        shown = [v for p in data if (v := value(p)) is not None]
        low, high = _scaled(shown, *scale, pad)
        axis.set_ylim(low, high)
        axis.set_ylabel(f"{label}\n(axis shows {low:g} to {high:g})\none point: a day's answers")
        axis.grid(alpha=0.3)
        axis.legend(title="segment", loc="best", fontsize=9)
    _dates(axes[-1], frame)  # the panels share the day axis
    _mark_partial(list(axes), frame)
    figure.suptitle(f"Satisfaction per day and segment, {period_label} (a gap: no answers)")
    return _png(figure)


def sentiment_chart(
    points: Sequence[SentimentPoint],
    period_label: str,
    frame: ChartFrame | None = None,
    thresholds: tuple[float, float] = (0.1, -0.1),
) -> bytes:
    """Share of positive and of negative messages per day (lines), over the daily counts (bars)."""
    if not points:
        raise NothingToChart(f"no scored customer messages in {period_label}")
    frame = frame or _frame_of([p.day for p in points])
    by_day = {p.day: p for p in points}
    figure = Figure(figsize=(SIZE[0], 8), layout="constrained")
    top, bottom = figure.subplots(2, 1, sharex=True, height_ratios=[3, 2])

    def share(part: Callable[[SentimentPoint], int]) -> list[float]:
        return [
            100 * part(p) / p.scored if (p := by_day.get(d)) and p.scored else math.nan
            for d in frame.days
        ]

    positive, negative = thresholds
    top.plot(
        frame.days,
        share(lambda p: p.positive),
        marker="o",
        color="tab:green",
        label=f"share of positive messages (score ≥ {positive:g})",
    )
    top.plot(
        frame.days,
        share(lambda p: p.negative),
        marker="o",
        color="tab:red",
        label=f"share of negative messages (score ≤ {negative:g})",
    )
    top.set_ylim(0, 100)
    top.yaxis.set_major_formatter(PercentFormatter())
    top.set_ylabel("share of the day's messages")
    top.set_title(f"Mood of customer messages, {period_label}")
    top.legend(loc="upper left", fontsize=9)
    top.grid(alpha=0.3)
    days = [p.day for p in points]
    neg = [p.negative for p in points]
    neu = [p.neutral for p in points]
    pos = [p.positive for p in points]
    bottom.bar(days, neg, BAR_DAYS, color="tab:red", label="negative")
    bottom.bar(days, neu, BAR_DAYS, bottom=neg, color="lightgrey", label="neutral")
    bars = bottom.bar(
        days,
        pos,
        BAR_DAYS,
        bottom=[a + b for a, b in zip(neg, neu, strict=True)],
        color="tab:green",
        label="positive",
    )
    if len(days) <= SHORT_SPAN_DAYS:
        bottom.bar_label(bars, labels=[numbers.count(p.scored) for p in points], fontsize=8)
    bottom.set_ylabel("messages per day")
    bottom.yaxis.set_major_locator(MaxNLocator(integer=True))
    bottom.legend(loc="upper left", fontsize=9)
    bottom.grid(axis="y", alpha=0.3)
    _dates(bottom, frame)
    _mark_partial([top, bottom], frame)
    return _png(figure)


def _frame_of(days: Sequence[date]) -> ChartFrame:
    """A frame over the data's own days (for callers without a period), nothing partial."""
    first, last = min(days), max(days)
    span = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    return ChartFrame(ZoneInfo("UTC"), span, None)


def chart_thresholds(settings: Settings) -> tuple[float, float]:
    """The positive and negative polarity thresholds the sentiment chart counts by."""
    return settings.sentiment_positive_threshold, settings.sentiment_negative_threshold


def draw_report(
    db: Database,
    name: str,
    period: Period,
    label: str,
    *,
    zone: ZoneInfo | None = None,
    thresholds: tuple[float, float] = (0.1, -0.1),
) -> bytes:
    """The named chart (a key of `CHARTS`) over `period`, as PNG bytes; blocking.

    `zone` is the business's time zone (days are its days); `thresholds` the
    settings' positive and negative polarity thresholds.
    """
    zone = zone or ZoneInfo("UTC")
    frame = ChartFrame.of(period, zone)
    if name == "participation":
        items = [(n, m) for _, n, m in metrics_per_campaign(db, period=period)]
        return participation_chart(items, label)
    if name == "satisfaction":
        points = satisfaction_by_day(db, period=period, zone=zone)
        return satisfaction_chart(points, label, frame)
    if name == "sentiment":
        positive, negative = thresholds
        points_s = sentiment_by_day(
            db, period=period, zone=zone, positive_from=positive, negative_to=negative
        )
        return sentiment_chart(points_s, label, frame, thresholds)
    raise UnknownChoice("chart", name, CHARTS)
