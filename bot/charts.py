"""Report charts as PNG (matplotlib, headless): what staff look at on a phone.

The figures come from `rapport.crm.reports.programmes` (same definitions as the text reports);
this module only draws. It uses matplotlib's object API (`Figure`, no
pyplot), so no global state is shared between charts drawn in threads, and
no display is ever needed. A chart with nothing to draw is refused with a
clear `NothingToChart` rather than sent as an empty frame.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from datetime import date, timedelta

import matplotlib

matplotlib.use("Agg")

from matplotlib.axes import Axes
from matplotlib.dates import (
    AutoDateLocator,
    ConciseDateFormatter,
    DateFormatter,
    DayLocator,
)
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator, PercentFormatter

from rapport.crm.database import Database
from rapport.crm.errors import InvalidInput, RapportError
from rapport.crm.reports.programmes import (
    Period,
    ProgrammeMetrics,
    SatisfactionPoint,
    SentimentPoint,
    metrics_per_campaign,
    satisfaction_by_day,
    sentiment_by_day,
)

CHARTS = {
    "participation": "participation and response rate per campaign, as bars",
    "satisfaction": "CSAT mean and NPS over time per segment, as lines",
    "sentiment": "mean sentiment of what customers wrote per day, with the daily split",
}
SIZE = (10, 6)
DPI = 110
MAX_LABEL = 24
SHORT_SPAN_DAYS = 16
BAR_DAYS = 0.6


class NothingToChart(RapportError):
    """The period has no data for this chart."""


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


def _short(label: str) -> str:
    return label if len(label) <= MAX_LABEL else label[: MAX_LABEL - 1] + "…"


def _dates(axis: Axes, days: Sequence[date]) -> None:
    """A day axis with a day's margin either side: day ticks for short spans, concise beyond."""
    first, last = min(days) - timedelta(days=1), max(days) + timedelta(days=1)
    axis.set_xlim(first, last)  # type: ignore[arg-type]
    span = (last - first).days
    if span <= SHORT_SPAN_DAYS:
        axis.xaxis.set_major_locator(DayLocator(interval=1 if span <= SHORT_SPAN_DAYS // 2 else 2))
        axis.xaxis.set_major_formatter(DateFormatter("%d %b"))
    else:
        locator = AutoDateLocator(minticks=3, maxticks=8)
        axis.xaxis.set_major_locator(locator)
        axis.xaxis.set_major_formatter(ConciseDateFormatter(locator))


def participation_chart(items: Sequence[tuple[str, ProgrammeMetrics]], period_label: str) -> bytes:
    """Grouped bars: participation and response rate (%) per campaign with deliveries."""
    shown = [(name, m) for name, m in items if m.delivered]
    if not shown:
        raise NothingToChart(f"no campaign delivered anything in {period_label}")
    figure = Figure(figsize=SIZE, layout="constrained")
    axis = figure.add_subplot()
    positions = range(len(shown))
    width = 0.38
    participation = [100 * (m.participation_rate or 0) for _, m in shown]
    response = [100 * (m.response_rate or 0) for _, m in shown]
    bars = axis.bar(
        [p - width / 2 for p in positions], participation, width, label="participation rate"
    )
    axis.bar([p + width / 2 for p in positions], response, width, label="response rate")
    for bar, (_, m) in zip(bars, shown, strict=True):
        axis.annotate(
            f"{m.engaged}/{m.delivered}",
            (bar.get_x() + bar.get_width() / 2, bar.get_height()),
            ha="center",
            va="bottom",
            fontsize=9,
            xytext=(0, 2),
            textcoords="offset points",
        )
    axis.set_xticks(list(positions), [_short(name) for name, _ in shown])
    if len(shown) > 5:
        axis.tick_params(axis="x", labelrotation=30)
    axis.set_ylim(0, 110)
    axis.yaxis.set_major_formatter(PercentFormatter())
    axis.set_ylabel("share of delivered messages")
    axis.set_xlabel("campaign (labels: engaged / delivered)")
    axis.set_title(f"Participation per campaign, {period_label}")
    axis.legend(loc="upper right")
    axis.grid(axis="y", alpha=0.3)
    return _png(figure)


# A satisfaction panel: y label, its points, the measure, y limits, a short name.
_Panel = tuple[
    str,
    list[SatisfactionPoint],
    Callable[[SatisfactionPoint], float | None],
    tuple[float, float],
    str,
]


def satisfaction_chart(points: Sequence[SatisfactionPoint], period_label: str) -> bytes:
    """CSAT mean (1–5) and NPS (−100…100) per day, one line per segment; a panel per measure."""
    csat = [p for p in points if p.csat_mean is not None]
    nps = [p for p in points if p.nps is not None]
    panels: list[_Panel] = [
        (
            "CSAT mean (1–5)",
            csat,
            lambda p: p.csat_mean,
            (0.8, 5.2),
            "CSAT",
        ),
        ("NPS (−100 to 100)", nps, lambda p: p.nps, (-105, 105), "NPS"),
    ]
    panels = [panel for panel in panels if panel[1]]
    if not panels:
        raise NothingToChart(f"no survey answers in {period_label}")
    figure = Figure(figsize=(SIZE[0], 4 + 2.5 * len(panels)), layout="constrained")
    axes = figure.subplots(len(panels), 1, squeeze=False, sharex=True)[:, 0]
    for axis, (label, data, value, limits, _) in zip(axes, panels, strict=True):
        for segment in sorted({p.segment for p in data}):
            series = [p for p in data if p.segment == segment]
            axis.plot(
                [p.day for p in series],
                [value(p) for p in series],
                marker="o",
                label=_short(segment),
            )
        axis.set_ylim(*limits)
        axis.set_ylabel(label)
        axis.grid(alpha=0.3)
        axis.legend(title="segment", loc="best", fontsize=9)
    _dates(axes[-1], [p.day for p in points])  # the panels share the day axis
    axes[-1].set_xlabel("day customers answered (UTC)")
    figure.suptitle(f"Satisfaction over time per segment, {period_label}")
    return _png(figure)


def sentiment_chart(points: Sequence[SentimentPoint], period_label: str) -> bytes:
    """Mean polarity per day (line, −1…1) over the daily split positive/neutral/negative (bars)."""
    if not points:
        raise NothingToChart(f"no scored customer messages in {period_label}")
    days = [p.day for p in points]
    figure = Figure(figsize=(SIZE[0], 8), layout="constrained")
    top, bottom = figure.subplots(2, 1, sharex=True, height_ratios=[3, 2])
    top.plot(days, [p.mean_polarity for p in points], marker="o", color="tab:blue")
    top.axhline(0, color="grey", linewidth=0.8)
    top.set_ylim(-1.05, 1.05)
    top.set_ylabel("mean polarity (−1 to 1)")
    top.set_title(f"Sentiment of customer messages, {period_label}")
    top.grid(alpha=0.3)
    negative = [p.negative for p in points]
    neutral = [p.neutral for p in points]
    positive = [p.positive for p in points]
    bottom.bar(days, negative, BAR_DAYS, color="tab:red", label="negative")
    bottom.bar(days, neutral, BAR_DAYS, bottom=negative, color="lightgrey", label="neutral")
    bottom.bar(
        days,
        positive,
        BAR_DAYS,
        bottom=[n + m for n, m in zip(negative, neutral, strict=True)],
        color="tab:green",
        label="positive",
    )
    bottom.set_ylabel("messages")
    bottom.yaxis.set_major_locator(MaxNLocator(integer=True))
    bottom.set_xlabel("day (UTC)")
    bottom.legend(loc="upper left", fontsize=9)
    bottom.grid(axis="y", alpha=0.3)
    _dates(bottom, days)
    return _png(figure)


def draw_report(db: Database, name: str, period: Period, label: str) -> bytes:
    """The named chart (a key of `CHARTS`) over `period`, as PNG bytes; blocking."""
    if name == "participation":
        items = [(n, m) for _, n, m in metrics_per_campaign(db, period=period)]
        return participation_chart(items, label)
    if name == "satisfaction":
        return satisfaction_chart(satisfaction_by_day(db, period=period), label)
    if name == "sentiment":
        return sentiment_chart(sentiment_by_day(db, period=period), label)
    raise InvalidInput(f"no chart {name!r}; choose one of: {', '.join(CHARTS)}")
