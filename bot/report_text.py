"""Report figures as text, the same in the bot and at the command line.

Thin names over rapport.bot.present, for the Telegram texts: one number style
(percentages with one decimal, counts with separators, signed NPS) and times
in the business's zone with the zone shown.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from rapport.bot.present import numbers, times
from rapport.bot.present.listing import Style
from rapport.bot.present.reports import comparison_listing, skipped_words
from rapport.crm.reports.programmes import Period, ProgrammeMetrics


def when(value: datetime | None, zone: ZoneInfo) -> str:
    return times.when(value, zone)


pct = numbers.pct
skipped = skipped_words


def figures_line(m: ProgrammeMetrics) -> list[str]:
    """A campaign's figures in three short lines (the `/campaign` text)."""
    return [
        f"delivered {numbers.count(m.delivered)}, failed {numbers.count(m.failed)}, "
        f"pending {numbers.count(m.pending)}, skipped {skipped_words(m)}",
        f"response rate {numbers.pct(m.response_rate)}, "
        f"participation rate {numbers.pct(m.participation_rate)}",
        f"CSAT mean {numbers.mean(m.csat_mean, '5')}, satisfied "
        f"{numbers.pct(None if m.csat_satisfied_pct is None else m.csat_satisfied_pct / 100)}, "
        f"NPS {numbers.signed(m.nps)}",
    ]


def comparison_rows(
    now: ProgrammeMetrics, before: ProgrammeMetrics, period: Period, style: Style, days: int
) -> list[tuple[str, str, str]]:
    """(figure, this period, the period before) for every figure of docs/reports.md."""
    listing = comparison_listing(now, before, period, style, days)
    return [(a, b, c) for a, b, c in listing.cells(style)]
