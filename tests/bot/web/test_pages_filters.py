"""The sentiment badge and the waiting time the inbox and customer pages show per row
(filters in rapport.bot.web.pages; the _macros.html macros render through them)."""

from __future__ import annotations

from datetime import timedelta

from rapport.bot.web.pages import ago, sentiment, templates


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
