"""Report figures as text, the same in the bot and at the command line."""

from __future__ import annotations

from datetime import datetime

from rapport.crm.reports.programmes import ProgrammeMetrics


def when(value: datetime | None) -> str:
    return "—" if value is None else value.strftime("%Y-%m-%d %H:%M UTC")


def pct(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f}%"


def num(value: float | None, suffix: str = "") -> str:
    return "—" if value is None else f"{value:g}{suffix}"


def skipped(metrics: ProgrammeMetrics) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(metrics.skipped.items())) or "0"


def comparison_rows(now: ProgrammeMetrics, before: ProgrammeMetrics) -> list[tuple[str, str, str]]:
    """(figure, this period, the period before) for every figure of docs/reports.md."""
    return [
        ("targeted", str(now.targeted), str(before.targeted)),
        ("delivered", str(now.delivered), str(before.delivered)),
        ("failed", str(now.failed), str(before.failed)),
        ("bounce rate", pct(now.bounce_rate), pct(before.bounce_rate)),
        ("pending", str(now.pending), str(before.pending)),
        ("skipped", skipped(now), skipped(before)),
        ("response rate", pct(now.response_rate), pct(before.response_rate)),
        ("participation rate", pct(now.participation_rate), pct(before.participation_rate)),
        ("survey answers", str(now.survey_answers), str(before.survey_answers)),
        ("CSAT mean (1–5)", num(now.csat_mean), num(before.csat_mean)),
        (
            "CSAT satisfied (4–5)",
            num(now.csat_satisfied_pct, "%"),
            num(before.csat_satisfied_pct, "%"),
        ),
        ("NPS", num(now.nps), num(before.nps)),
        ("cost per participant", num(now.cost_per_participant), num(before.cost_per_participant)),
    ]
