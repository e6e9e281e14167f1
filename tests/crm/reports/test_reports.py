"""Report numbers against hand-computed fixtures, including empty periods."""

from __future__ import annotations

from datetime import timedelta

from rapport.crm.campaigns.runs import start_run
from rapport.crm.channel import PermanentFailure
from rapport.crm.database import Database
from rapport.crm.dispatch.dispatcher import Dispatcher
from rapport.crm.interactions.ingest import ingest
from rapport.crm.messages import InboundMessage
from rapport.crm.reports.programmes import Period, campaign_ids_for_segment, programme_metrics
from tests.support.campaign_fixtures import T0, campaign, customer, everyone, mark_unreachable
from tests.support.recording import RecordingChannel


async def _survey(db: Database, kind: str, answers: dict[str, str], fail: set[str]) -> int:
    everyone(db)
    for address in [*answers, *fail]:
        customer(db, address)
    customer(db, "noconsent@example.com", consent=False)
    mark_unreachable(db, customer(db, "unreachable@example.com"))
    c = campaign(
        db,
        f"{kind} survey",
        kind="feedback",
        survey_kind=kind,
        template="How did we do?",
        cost=30.0,
    )
    start_run(db, c.id, now=T0 + timedelta(hours=1))
    channel = RecordingChannel(clock=lambda: T0 + timedelta(hours=1))
    for address in fail:
        channel.fail(address, PermanentFailure("554"))
    await Dispatcher(db, {"email": channel}).drain()
    keys = {to: key for to, _, key in channel.sent}
    for n, (address, text) in enumerate(answers.items()):
        if text:
            ingest(
                db,
                InboundMessage(
                    "email",
                    address,
                    None,
                    text,
                    T0 + timedelta(hours=3),
                    f"<ans{n}@x>",
                    in_reply_to=keys[address],
                ),
            )
    return c.id


async def test_csat_report_matches_hand_count(db: Database) -> None:
    campaign_id = await _survey(
        db,
        "csat",
        {"a@example.com": "5 - lovely staff", "b@example.com": "2", "c@example.com": ""},
        fail={"d@example.com"},
    )
    # c did not answer the survey but wrote to us two days later: engaged, not responded.
    ingest(
        db,
        InboundMessage(
            "email",
            "c@example.com",
            None,
            "where is my parcel?",
            T0 + timedelta(days=2),
            "<later@x>",
        ),
    )
    m = programme_metrics(db, campaign_ids=[campaign_id])
    assert (m.targeted, m.delivered, m.failed, m.pending) == (6, 3, 1, 0)
    assert m.skipped == {"no_consent": 1, "unreachable": 1}
    assert (m.responded, m.engaged, m.survey_answers) == (2, 3, 2)
    assert m.csat_mean == 3.5 and m.csat_satisfied_pct == 50.0 and m.nps is None
    assert m.response_rate == 2 / 3 and m.participation_rate == 1.0
    assert m.cost_per_participant == 10.0


async def test_nps_is_promoters_minus_detractors(db: Database) -> None:
    campaign_id = await _survey(
        db,
        "nps",
        {
            "p1@example.com": "10",
            "p2@example.com": "9 great",
            "n@example.com": "7",
            "d@example.com": "3 - slow",
        },
        fail=set(),
    )
    m = programme_metrics(db, campaign_ids=[campaign_id])
    assert m.nps == 25.0  # (2 promoters − 1 detractor) ÷ 4 answers
    assert m.csat_mean is None


async def test_late_messages_are_not_engagement(db: Database) -> None:
    campaign_id = await _survey(db, "csat", {"late@example.com": ""}, fail=set())
    ingest(
        db,
        InboundMessage(
            "email",
            "late@example.com",
            None,
            "hello again",
            T0 + timedelta(days=30),
            "<much-later@x>",
        ),
    )
    m = programme_metrics(db, campaign_ids=[campaign_id])
    assert (m.delivered, m.engaged, m.participation_rate) == (1, 0, 0.0)


def test_empty_period_has_no_rates_not_zero_rates(db: Database) -> None:
    period = Period(T0, T0 + timedelta(days=7))
    m = programme_metrics(db, period=period)
    assert (m.targeted, m.delivered) == (0, 0)
    assert m.response_rate is None and m.participation_rate is None
    assert m.csat_mean is None and m.nps is None and m.cost_per_participant is None
    assert period.previous() == Period(T0 - timedelta(days=7), T0)


async def test_segment_report_covers_its_campaigns(db: Database) -> None:
    campaign_id = await _survey(db, "csat", {"s@example.com": "4"}, fail=set())
    assert campaign_ids_for_segment(db, "everyone") == [campaign_id]
    m = programme_metrics(
        db,
        campaign_ids=campaign_ids_for_segment(db, "everyone"),
        period=Period(T0, T0 + timedelta(days=1)),
    )
    assert m.survey_answers == 1 and m.csat_satisfied_pct == 100.0
    outside = programme_metrics(
        db,
        campaign_ids=[campaign_id],
        period=Period(T0 + timedelta(days=1), T0 + timedelta(days=2)),
    )
    assert outside.targeted == 0
