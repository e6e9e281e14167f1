"""The sentiment badge, the waiting time and the local times the console pages show
(filters in rapport.bot.web.pages; the _macros.html macros render through them)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx

from rapport.bot.present.numbers import NO_DATA
from rapport.bot.web.pages import ago, sentiment, templates
from rapport.crm.database import Database
from tests.support.console_client import console_server, sign_in, staff


def test_sentiment_badge_thresholds_and_escaping() -> None:
    assert sentiment(None) == '<span class="sent none">–</span>'
    assert sentiment(-0.3) == '<span class="sent neg" title="-0.30">negative</span>'
    assert sentiment(-0.29) == '<span class="sent neu" title="-0.29">neutral</span>'
    assert sentiment(0.3) == '<span class="sent pos" title="0.30">positive</span>'
    page = templates.env.from_string(
        '{% from "_macros.html" import sentiment %}{{ sentiment(p) }}|{{ p|sentiment }}'
    )
    macro, filtered = page.render(p=0.5).split("|")
    assert macro == filtered == '<span class="sent pos" title="0.50">positive</span>'


def test_ago_reads_minutes_hours_then_days() -> None:
    assert ago(None) == "–"
    assert ago(timedelta(seconds=59)) == "0 min"
    assert ago(timedelta(minutes=59, seconds=59)) == "59 min"
    assert ago(timedelta(minutes=60)) == "1 h 0 min"
    assert ago(timedelta(minutes=2879)) == "47 h 59 min"
    assert ago(timedelta(days=2)) == "2 d"
    page = templates.env.from_string('{% from "_macros.html" import ago %}{{ ago(d) }}')
    assert page.render(d=timedelta(hours=5, minutes=3)) == "5 h 3 min"


def test_times_are_the_business_zones_with_the_zone_named() -> None:
    page = templates.env.from_string("{{ t|local }}|{{ t|localday }}")
    berlin = ZoneInfo("Europe/Berlin")
    summer = datetime(2026, 10, 24, 22, 30, tzinfo=UTC)  # already the 25th in Berlin
    winter = datetime(2026, 10, 25, 22, 30)  # naive: stored UTC
    assert page.render(t=summer, business_zone=berlin) == "2026-10-25 00:30 CEST|25 Oct 2026"
    assert page.render(t=winter, business_zone=berlin) == "2026-10-25 23:30 CET|25 Oct 2026"
    assert page.render(t=None, business_zone=berlin) == f"{NO_DATA}|{NO_DATA}"


async def test_console_pages_show_times_in_the_business_zone(db: Database) -> None:
    async with console_server(db, timezone="Asia/Tokyo") as served:
        ada = staff(db, "Ada", "admin", 700)
        async with httpx.AsyncClient(base_url=served.url) as admin:
            await sign_in(admin, db, ada)
            audit = await admin.get("/console/admin/audit")
    assert audit.status_code == 200
    assert " JST</td>" in audit.text and " UTC</td>" not in audit.text
