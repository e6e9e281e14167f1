"""Reports count the business's days and months, across daylight saving, on both databases.

Europe/Berlin leaves summer time on 25 Oct 2026 (03:00 CEST -> 02:00 CET). A
message at 22:30 UTC on 24 Oct is 00:30 on 25 Oct in Berlin; at 23:30 UTC on
25 Oct it is 00:30 on 26 Oct (the offset changed in between). A customer who
first wrote at 23:30 UTC on 31 Oct is a November customer in Berlin.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from rapport.bot.charts import ChartFrame
from rapport.bot.present import numbers, times
from rapport.bot.present.listing import Column, Kind, Listing, Style, listing_csv
from rapport.crm.database import Database
from rapport.crm.reports.buckets import day_boundaries, month_boundaries, offset_stretches
from rapport.crm.reports.programmes import Period
from rapport.crm.reports.retention import acquisition, month_key, month_start
from rapport.crm.reports.series import sentiment_by_day
from tests.support.campaign_fixtures import customer

BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def test_day_and_month_boundaries_follow_the_dst_change() -> None:
    days = day_boundaries(
        datetime(2026, 10, 24, 22, 0, tzinfo=UTC), datetime(2026, 10, 26, 23, 0, tzinfo=UTC), BERLIN
    )
    assert [label for _, label in days] == ["2026-10-25", "2026-10-26"]
    assert [at.astimezone(UTC).hour for at, _ in days] == [22, 23]  # midnight CEST, then CET
    months = month_boundaries(datetime(2026, 9, 30, 22, 0, tzinfo=UTC), NOW, BERLIN)
    assert [label for _, label in months] == ["2026-10", "2026-11"]
    assert month_key(datetime(2026, 10, 31, 23, 30, tzinfo=UTC), BERLIN) == "2026-11"
    assert month_start(datetime(2026, 10, 31, 23, 30, tzinfo=UTC), BERLIN).isoformat() == (
        "2026-11-01T00:00:00+01:00"
    )


def test_offset_stretches_find_the_change_to_the_minute() -> None:
    stretches = offset_stretches(datetime(2026, 10, 1, tzinfo=UTC), NOW, BERLIN)
    assert stretches == [
        (datetime(2026, 10, 1, tzinfo=UTC), 7200),
        (datetime(2026, 10, 25, 1, 0, tzinfo=UTC), 3600),  # 03:00 CEST -> 02:00 CET
    ]
    assert len(offset_stretches(NOW, datetime(2026, 12, 20, tzinfo=UTC), BERLIN)) == 1


def test_sentiment_days_are_local_days(db: Database) -> None:
    for n, at in enumerate(
        (
            datetime(2026, 10, 24, 21, 30, tzinfo=UTC),  # 23:30 CEST, 24 Oct
            datetime(2026, 10, 24, 22, 30, tzinfo=UTC),  # 00:30 CEST, 25 Oct
            datetime(2026, 10, 25, 22, 30, tzinfo=UTC),  # 23:30 CET, 25 Oct
            datetime(2026, 10, 25, 23, 30, tzinfo=UTC),  # 00:30 CET, 26 Oct
        )
    ):
        customer(db, f"p{n}@example.com", consent=False, text="Great service, thank you!", at=at)
    period = Period(datetime(2026, 10, 23, tzinfo=UTC), datetime(2026, 10, 28, tzinfo=UTC))
    local = sentiment_by_day(db, period=period, zone=BERLIN)
    assert [(p.day, p.scored) for p in local] == [
        (date(2026, 10, 24), 1),
        (date(2026, 10, 25), 2),
        (date(2026, 10, 26), 1),
    ]
    utc = sentiment_by_day(db, period=period)
    assert [(p.day, p.scored) for p in utc] == [(date(2026, 10, 24), 2), (date(2026, 10, 25), 2)]
    strict = sentiment_by_day(db, period=period, zone=BERLIN, positive_from=0.99, negative_to=-0.99)
    assert sum(p.positive for p in strict) < sum(p.positive for p in local)


def test_acquisition_months_are_local_months(db: Database) -> None:
    customer(db, "late@example.com", consent=False, at=datetime(2026, 10, 31, 23, 30, tzinfo=UTC))
    start, end = datetime(2026, 10, 1, tzinfo=BERLIN), datetime(2026, 12, 1, tzinfo=BERLIN)
    rows = acquisition(db, start, end, now=NOW, zone=BERLIN)
    assert [(r.month, r.customers) for r in rows] == [("2026-11", 1)]
    assert [r.month for r in acquisition(db, start, end, now=NOW)] == ["2026-10"]


def test_chart_frame_marks_the_running_and_the_cut_days() -> None:
    frame = ChartFrame.of(Period.last_days(3, NOW), BERLIN)
    assert frame.days[0] == date(2026, 11, 17) and frame.days[-1] == date(2026, 11, 20)
    assert frame.partial == date(2026, 11, 20) and frame.cut == date(2026, 11, 17)
    whole = ChartFrame.of(
        Period(datetime(2026, 11, 1, tzinfo=BERLIN), datetime(2026, 11, 3, tzinfo=BERLIN)), BERLIN
    )
    assert whole.days == [date(2026, 11, 1), date(2026, 11, 2)]
    assert whole.partial is None and whole.cut is None


def test_one_number_style() -> None:
    assert (numbers.pct(0.2979407213426973), numbers.pct(None)) == ("29.8%", "—")
    assert numbers.money(0.245399, "EUR") == "0.25 EUR"
    assert numbers.money(1200, "JPY") == "1,200 JPY" and numbers.money(3.5, "BHD") == "3.500 BHD"
    assert numbers.count(12345) == "12,345"
    assert numbers.signed(33.8) == "+33.8" and numbers.signed(-12) == "−12.0"
    assert numbers.mean(4.04, "5") == "4.04 / 5"
    at = datetime(2026, 10, 24, 12, 0, tzinfo=UTC)
    assert times.when(at, BERLIN) == "2026-10-24 14:00 CEST"
    assert times.when(datetime(2026, 10, 26, 12, 0, tzinfo=UTC), BERLIN) == "2026-10-26 13:00 CET"
    assert times.when_value(at, BERLIN) == "2026-10-24T14:00:00+02:00"


def test_a_column_must_name_its_unit_and_csv_keeps_it() -> None:
    try:
        Column("response_rate", "response rate", Kind.PCT)
    except ValueError as exc:
        assert "_pct" in str(exc)
    else:
        raise AssertionError("a share column without _pct was accepted")
    listing = Listing(
        [
            Column("name", "name"),
            Column("rate_pct", "rate", Kind.PCT),
            Column("cost", "cost", Kind.MONEY),
        ]
    )
    listing.add(name="[/i]Zoe", rate_pct=0.2979407213426973, cost=0.245399)
    listing.add(name="none", rate_pct=None, cost=None)
    style = Style(BERLIN, "EUR")
    assert listing.cells(style) == [["[/i]Zoe", "29.8%", "0.25 EUR"], ["none", "—", "—"]]
    assert listing_csv(listing, style).splitlines() == [
        "name,rate_pct,cost",
        "[/i]Zoe,29.8,0.25",
        "none,,",
    ]
