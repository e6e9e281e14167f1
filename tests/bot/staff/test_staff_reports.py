"""Exports, charts and the series behind them, against hand-counted fixtures."""

from __future__ import annotations

import csv
import io
import struct
from datetime import timedelta
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import select
from typer.testing import CliRunner

from rapport.bot import charts
from rapport.bot.cli import app
from rapport.bot.exports import export_report
from rapport.bot.present.reports import metric_values
from rapport.bot.staff.catalogue import commands_markdown
from rapport.bot.staff.registry import COMMANDS
from rapport.crm.clock import utcnow
from rapport.crm.database import Database
from rapport.crm.errors import InvalidInput, NotFound
from rapport.crm.interactions.ingest import ingest
from rapport.crm.messages import InboundMessage
from rapport.crm.models import AuditEvent, Interaction
from rapport.crm.reports.programmes import (
    Period,
    metrics_per_campaign,
    metrics_per_segment,
    segment_campaign_ids,
)
from rapport.crm.reports.series import satisfaction_by_day, sentiment_by_day
from rapport.crm.staff.audit import Actor
from tests.support.programme_fixtures import seed_programme

DOC = Path(__file__).resolve().parents[3] / "docs" / "staff-commands.md"
ACTOR = Actor(label="cli:test")


def _last_30() -> Period:
    return Period.last_days(30, utcnow())


async def test_per_campaign_figures_match_hand_count(db: Database) -> None:
    await seed_programme(db)
    (_, csat_name, csat), (_, nps_name, nps) = metrics_per_campaign(db, period=_last_30())
    assert (csat_name, nps_name) == ("Autumn CSAT", "Winter NPS")
    # CSAT: a, b, c delivered; d bounced; e has no consent. a and b answered, c wrote later.
    assert (csat.targeted, csat.delivered, csat.failed, csat.skipped) == (
        5,
        3,
        1,
        {"no_consent": 1},
    )
    assert (csat.responded, csat.engaged, csat.csat_mean, csat.csat_satisfied_pct) == (
        2,
        3,
        3.5,
        50.0,
    )
    assert csat.cost_per_participant == 10.0
    # NPS: a, b, c, d delivered; a promoter (10), b detractor (3): NPS 0, two of four engaged.
    assert (nps.delivered, nps.responded, nps.engaged, nps.nps, nps.csat_mean) == (
        4,
        2,
        2,
        0.0,
        None,
    )
    [(_, segment, both)] = metrics_per_segment(db, period=_last_30())
    assert (segment, both.delivered, both.survey_answers) == ("everyone", 7, 4)


async def test_an_empty_period_has_rows_without_rates(db: Database) -> None:
    await seed_programme(db)
    long_ago = Period(utcnow() - timedelta(days=400), utcnow() - timedelta(days=370))
    rows = metrics_per_campaign(db, period=long_ago)
    assert [m.delivered for _, _, m in rows] == [0, 0]
    assert all(m.participation_rate is None and m.nps is None for _, _, m in rows)
    assert satisfaction_by_day(db, period=long_ago) == []
    assert sentiment_by_day(db, period=long_ago) == []


async def test_csv_export_reads_back_the_same_numbers_and_is_audited(db: Database) -> None:
    await seed_programme(db)
    made = export_report(db, ACTOR, "campaigns", _last_30(), 30)
    assert made.filename.startswith("rapport-campaigns-30d-") and made.rows == 2
    text = made.content.decode("utf-8-sig")
    read = list(csv.DictReader(io.StringIO(text)))
    expected = metrics_per_campaign(db, period=_last_30())
    assert [r["name"] for r in read] == ["Autumn CSAT", "Winter NPS"]
    for row, (campaign_id, _, m) in zip(read, expected, strict=True):
        assert int(row["campaign_id"]) == campaign_id
        for key, value in metric_values(m).items():
            if value is None:
                assert row[key] == "", key  # "no data" stays empty, never 0
            elif key.endswith("_pct"):  # shares in percent, one decimal, in every _pct column
                assert float(row[key]) == pytest.approx(round(100 * float(value), 1)), key
            elif isinstance(value, float):
                assert float(row[key]) == pytest.approx(value), key
            else:
                assert int(row[key]) == value, key
        assert int(row["skipped_no_consent"]) == m.skipped.get("no_consent", 0)
    # The hand count, read back from the file itself:
    assert read[0]["csat_mean"] == "3.5" and read[1]["nps"] == "0.0"
    assert read[1]["csat_mean"] == "" and float(read[0]["participation_rate_pct"]) == 100.0
    with db.session() as session:
        events = list(
            session.scalars(select(AuditEvent).where(AuditEvent.action == "report.export"))
        )
    assert [(e.actor, e.detail) for e in events] == [
        ("cli:test", "campaigns, last 30 days, 2 rows")
    ]


async def test_segment_export_and_refusals(db: Database) -> None:
    await seed_programme(db)
    made = export_report(db, ACTOR, "segments", _last_30(), 30)
    [row] = list(csv.DictReader(io.StringIO(made.content.decode("utf-8-sig"))))
    assert (row["name"], row["delivered"], row["survey_answers"]) == ("everyone", "7", "4")
    with pytest.raises(InvalidInput, match="choose one of: campaigns, segments"):
        export_report(db, ACTOR, "everything", _last_30(), 30)
    with pytest.raises(NotFound, match="no segment 'nobody'"):
        segment_campaign_ids(db, "nobody")


async def test_satisfaction_series_per_segment_and_day(db: Database) -> None:
    programme = await seed_programme(db)
    points = satisfaction_by_day(db, period=_last_30())
    day1, day2 = programme.base.date(), (programme.base + timedelta(days=1)).date()
    assert [
        (p.day, p.segment, p.csat_answers, p.csat_mean, p.nps_answers, p.nps) for p in points
    ] == [
        (day1, "everyone", 2, 3.5, 0, None),
        (day2, "everyone", 0, None, 2, 0.0),
    ]


async def test_sentiment_series_counts_customer_messages_by_day(db: Database) -> None:
    programme = await seed_programme(db)
    later = programme.base + timedelta(days=2, hours=10)
    for n, text in enumerate(
        [
            "I love this shop, wonderful service!",
            "This was a terrible and awful delay, very bad service.",
        ]
    ):
        ingest(db, InboundMessage("email", "a@example.com", None, text, later, f"<s{n}@x>"))
    points = sentiment_by_day(db, period=_last_30())
    # Expected straight from the stored rows, counted in Python rather than SQL.
    with db.session() as session:
        rows = session.scalars(
            select(Interaction).where(
                Interaction.direction == "in",
                Interaction.automated.is_(False),
                Interaction.polarity.is_not(None),
            )
        ).all()
    by_day: dict = {}
    for r in rows:
        by_day.setdefault(r.sent_at.date(), []).append(r.polarity)
    assert [p.day for p in points] == sorted(by_day)
    last = points[-1]
    assert last.day == later.date() and last.scored == 2
    assert (last.positive, last.negative, last.neutral) == (1, 1, 0)
    for p in points:
        polarities = by_day[p.day]
        assert p.scored == len(polarities)
        assert p.mean_polarity == pytest.approx(sum(polarities) / len(polarities), abs=1e-3)


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


async def test_charts_are_real_pngs_of_the_numbers(db: Database, tmp_path: Path) -> None:
    await seed_programme(db)
    period = _last_30()
    made = {
        "participation": charts.participation_chart(
            [(n, m) for _, n, m in metrics_per_campaign(db, period=period)], "last 30 days"
        ),
        "satisfaction": charts.satisfaction_chart(
            satisfaction_by_day(db, period=period), "last 30 days"
        ),
        "sentiment": charts.sentiment_chart(sentiment_by_day(db, period=period), "last 30 days"),
    }
    for name, png in made.items():
        width, height = _png_size(png)
        assert width >= 1000 and height >= 600, name
        assert len(png) > 20_000, name  # axes, labels and data, not an empty frame
        image = Image.open(io.BytesIO(png))
        image.verify()
        (tmp_path / f"{name}.png").write_bytes(png)


def test_charts_with_nothing_to_draw_say_so(db: Database) -> None:
    with pytest.raises(charts.NothingToChart, match="no survey answers"):
        charts.satisfaction_chart([], "last 7 days")
    with pytest.raises(charts.NothingToChart, match="no scored customer messages"):
        charts.sentiment_chart([], "last 7 days")
    with pytest.raises(charts.NothingToChart, match="no campaign delivered"):
        charts.participation_chart(metrics_per_campaign_named(db), "last 7 days")


def metrics_per_campaign_named(db: Database) -> list:
    return [(n, m) for _, n, m in metrics_per_campaign(db, period=_last_30())]


def test_staff_command_doc_matches_the_registry() -> None:
    assert DOC.read_text(encoding="utf-8") == commands_markdown(), (
        "docs/staff-commands.md is stale: "
        "python -m rapport.bot.staff.catalogue > docs/staff-commands.md"
    )
    assert all(f"/{c.name}" in DOC.read_text(encoding="utf-8") for c in COMMANDS)


async def test_cli_exports_and_charts_like_the_bot(
    db: Database, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    await seed_programme(db)
    monkeypatch.setenv("RAPPORT_DATABASE_URL", db_url)
    runner = CliRunner()
    result = runner.invoke(app, ["report", "export", "segments", "--out", str(tmp_path / "s.csv")])
    assert result.exit_code == 0, result.output
    [row] = list(csv.DictReader(io.StringIO((tmp_path / "s.csv").read_text("utf-8-sig"))))
    assert (row["name"], row["delivered"], row["engaged"]) == ("everyone", "7", "5")
    png = tmp_path / "p.png"
    result = runner.invoke(
        app, ["report", "chart", "participation", "--days", "7", "--out", str(png)]
    )
    assert result.exit_code == 0, result.output
    assert _png_size(png.read_bytes())[0] >= 1000
    refused = runner.invoke(app, ["report", "chart", "pie", "--out", str(tmp_path / "x.png")])
    assert isinstance(refused.exception, InvalidInput) and not (tmp_path / "x.png").exists()
    with db.session() as session:
        exports = session.scalars(
            select(AuditEvent.actor).where(AuditEvent.action == "report.export")
        )
        assert [a.startswith("cli:") for a in exports] == [True]
