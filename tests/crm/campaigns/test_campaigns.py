"""Campaign runs and dispatch at the service level, with a recording channel."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from rapport.crm.campaigns.definitions import (
    CampaignView,
    InvalidCampaign,
    get_campaign,
    list_campaigns,
    set_status,
    update_campaign,
)
from rapport.crm.campaigns.runs import start_run
from rapport.crm.campaigns.templates import TemplateProblem
from rapport.crm.channel import PermanentFailure, RecipientGone, TransientFailure
from rapport.crm.database import Database
from rapport.crm.dispatch.claims import OUTCOME_UNKNOWN
from rapport.crm.dispatch.dispatcher import Dispatcher
from rapport.crm.errors import NotFound
from rapport.crm.interactions.ingest import ingest
from rapport.crm.messages import InboundMessage
from rapport.crm.models import (
    Campaign,
    CampaignStatus,
    Delivery,
    DeliveryStatus,
    Identity,
    Interaction,
    PointsEntry,
    SurveyResponse,
)
from rapport.crm.privacy.consent import set_marketing_consent
from tests.support.campaign_fixtures import (
    T0,
    campaign,
    customer,
    erase,
    everyone,
    mark_unreachable,
)
from tests.support.recording import RecordingChannel


def deliveries(db: Database) -> dict[int, Delivery]:
    with db.session() as s:
        return {d.customer_id: d for d in s.scalars(select(Delivery))}


class Clock:
    def __init__(self) -> None:
        self.now = T0 + timedelta(hours=1)

    def __call__(self):  # type: ignore[no-untyped-def]
        return self.now


def test_run_materialises_every_segment_member_with_a_reason(db: Database) -> None:
    everyone(db)
    ok = customer(db, "ok@example.com")
    no_consent = customer(db, "nope@example.com", consent=False)
    unreachable = customer(db, "gone@example.com")
    mark_unreachable(db, unreachable)
    erased = customer(db, "erased@example.com")
    erase(db, erased)
    c = campaign(db)

    summary = start_run(db, c.id, now=T0 + timedelta(hours=1))

    assert summary.created and summary.queued == 1
    assert summary.skipped == {"no_consent": 1, "unreachable": 1}
    rows = deliveries(db)
    assert set(rows) == {ok, no_consent, unreachable}  # the erased customer is not a member
    assert rows[ok].status == DeliveryStatus.QUEUED
    assert (rows[no_consent].status, rows[no_consent].skip_reason) == ("skipped", "no_consent")
    assert rows[unreachable].skip_reason == "unreachable"


def test_same_slot_fires_once(db: Database) -> None:
    everyone(db)
    customer(db, "a@example.com")
    c = campaign(db)
    first = start_run(db, c.id, now=T0 + timedelta(minutes=5, seconds=10))
    again = start_run(db, c.id, now=T0 + timedelta(minutes=5, seconds=50))
    assert again.run_id == first.run_id and not again.created
    assert len(deliveries(db)) == 1


def test_frequency_cap_counts_across_campaigns(db: Database) -> None:
    everyone(db)
    capped = customer(db, "busy@example.com")
    campaigns = [campaign(db, f"C{i}") for i in range(4)]
    outcomes = [
        start_run(db, c.id, now=T0 + timedelta(hours=i), frequency_cap=3)
        for i, c in enumerate(campaigns)
    ]
    assert [o.queued for o in outcomes] == [1, 1, 1, 0]
    assert outcomes[3].skipped == {"frequency_cap": 1}
    # a week later the cap has rolled over
    later = start_run(db, campaigns[0].id, now=T0 + timedelta(days=8), frequency_cap=3)
    assert later.queued == 1
    assert capped


def test_channel_preference_and_fallback(db: Database) -> None:
    everyone(db)
    tg_only = customer(db, "5550001", channel="telegram")
    customer(db, "mail@example.com")
    fixed = campaign(db, "Mail only", channel="email", fallback=False)
    start_run(db, fixed.id, now=T0 + timedelta(hours=1))
    rows = deliveries(db)
    assert rows[tg_only].skip_reason == "unreachable"

    with_fallback = campaign(db, "Mail first", channel="email", fallback=True)
    summary = start_run(db, with_fallback.id, now=T0 + timedelta(hours=2))
    assert summary.queued == 2


def test_only_channels_the_installation_has_are_used(db: Database) -> None:
    everyone(db)
    customer(db, "5550002", channel="telegram")
    c = campaign(db)
    summary = start_run(db, c.id, channels=("email",), now=T0 + timedelta(hours=1))
    assert summary.skipped == {"unreachable": 1}


async def test_dispatch_sends_renders_records_and_awards_points(db: Database) -> None:
    everyone(db)
    ann = customer(db, "ann@example.com", name="Ann Lee")
    c = campaign(
        db,
        "Points",
        kind="loyalty",
        points=50,
        template="Hi {{ first_name }}, +{{ points_awarded }} points: {{ points }} now",
    )
    start_run(db, c.id, now=T0 + timedelta(hours=1))
    channel = RecordingChannel("email")

    stats = await Dispatcher(db, {"email": channel}).drain()

    assert stats.sent == 1
    [message] = channel.to("ann@example.com")
    assert message.text == "Hi Ann, +50 points: 50 now"
    with db.session() as s:
        d = s.scalars(select(Delivery)).one()
        assert d.status == DeliveryStatus.SENT and d.message_key == "email-out-1"
        out = s.scalars(select(Interaction).where(Interaction.direction == "out")).one()
        assert (out.customer_id, out.body, out.message_key) == (ann, message.text, "email-out-1")
        assert s.scalar(select(func.sum(PointsEntry.delta))) == 50
    # a second drain finds nothing to do: nothing doubled
    assert (await Dispatcher(db, {"email": channel}).drain()).handled == 0
    assert len(channel.sent) == 1


async def test_a_worker_claims_only_its_own_channels_and_leaves_the_rest_queued(
    db: Database,
) -> None:
    everyone(db)
    mail = customer(db, "mail@example.com")
    chat = customer(db, "5550003", channel="telegram")
    start_run(db, campaign(db).id, now=T0 + timedelta(hours=1))
    email = RecordingChannel("email")

    stats = await Dispatcher(db, {"email": email}, claim_only=frozenset({"email"})).drain()

    assert (stats.sent, stats.failed) == (1, 0)
    rows = deliveries(db)
    assert rows[mail].status == DeliveryStatus.SENT
    assert (rows[chat].status, rows[chat].attempts) == (DeliveryStatus.QUEUED, 0)
    # the app's dispatcher (every channel it has) sends what the worker left
    telegram = RecordingChannel("telegram")
    assert (await Dispatcher(db, {"email": email, "telegram": telegram}).drain()).sent == 1
    assert len(telegram.to("5550003")) == 1 and len(email.sent) == 1


async def test_transient_failures_retry_with_backoff_then_fail(db: Database) -> None:
    everyone(db)
    customer(db, "slow@example.com")
    c = campaign(db)
    start_run(db, c.id, now=T0 + timedelta(hours=1))
    channel = RecordingChannel()
    channel.fail("slow@example.com", TransientFailure("421 try later", retry_after=60))
    clock = Clock()
    dispatcher = Dispatcher(db, {"email": channel}, clock=clock, max_attempts=2)

    first = await dispatcher.drain()
    assert first.retried == 1 and not channel.sent
    d = deliveries(db)[1]
    assert d.status == "queued" and d.next_attempt_at == clock.now + timedelta(seconds=60)
    assert (await dispatcher.drain()).handled == 0  # not due yet

    clock.now += timedelta(seconds=61)
    assert (await dispatcher.drain()).sent == 1

    customer(db, "flaky@example.com")
    c2 = campaign(db, "Second")
    start_run(db, c2.id, now=clock.now)
    channel.fail("flaky@example.com", TransientFailure("451"), TransientFailure("451"))
    await dispatcher.drain()
    clock.now += timedelta(hours=2)
    await dispatcher.drain()
    flaky = deliveries(db)[2]
    assert (flaky.status, flaky.attempts, flaky.last_error) == ("failed", 2, "451")


async def test_recipient_gone_marks_identity_unreachable(db: Database) -> None:
    everyone(db)
    gone = customer(db, "left@example.com")
    c = campaign(db)
    start_run(db, c.id, now=T0 + timedelta(hours=1))
    channel = RecordingChannel()
    channel.fail("left@example.com", RecipientGone("550 no such user"))
    stats = await Dispatcher(db, {"email": channel}).drain()
    assert stats.failed == 1
    with db.session() as s:
        identity = s.scalars(select(Identity).where(Identity.customer_id == gone)).one()
        assert identity.unreachable_at is not None
        assert "550" in (identity.unreachable_reason or "")
    later = start_run(db, campaign(db, "Next").id, now=T0 + timedelta(days=1))
    assert later.skipped == {"unreachable": 1}


async def test_permanent_failure_is_not_retried(db: Database) -> None:
    everyone(db)
    customer(db, "bad@example.com")
    start_run(db, campaign(db).id, now=T0 + timedelta(hours=1))
    channel = RecordingChannel()
    channel.fail("bad@example.com", PermanentFailure("554 rejected"))
    stats = await Dispatcher(db, {"email": channel}, max_attempts=5).drain()
    assert stats.failed == 1 and stats.retried == 0


async def test_opt_out_after_materialising_is_honoured(db: Database) -> None:
    everyone(db)
    customer(db, "changed@example.com")
    start_run(db, campaign(db).id, now=T0 + timedelta(hours=1))
    set_marketing_consent(db, "email", "changed@example.com", granted=False, source="test")
    channel = RecordingChannel()
    stats = await Dispatcher(db, {"email": channel}).drain()
    assert channel.sent == [] and stats.skipped == 1
    assert deliveries(db)[1].status == DeliveryStatus.SKIPPED


async def test_paused_campaign_holds_its_queue(db: Database) -> None:
    everyone(db)
    customer(db, "p@example.com")
    c = campaign(db)
    start_run(db, c.id, now=T0 + timedelta(hours=1))
    set_status(db, c.id, CampaignStatus.PAUSED)
    channel = RecordingChannel()
    assert (await Dispatcher(db, {"email": channel}).drain()).handled == 0
    set_status(db, c.id, CampaignStatus.ACTIVE)
    assert (await Dispatcher(db, {"email": channel}).drain()).sent == 1


def test_recovery_requeues_claims_and_never_resends_ambiguous_ones(db: Database) -> None:
    everyone(db)
    for i in range(3):
        customer(db, f"r{i}@example.com")
    start_run(db, campaign(db).id, now=T0 + timedelta(hours=1))
    dead = Dispatcher(db, {}, worker_id="dead")
    jobs = dead.claim()
    assert len(jobs) == 3
    assert dead._step([], [jobs[0]]).go  # handed to the channel, then the worker died

    recovered = Dispatcher(db, {}, worker_id="new").recover(stale_after=0)

    assert (recovered.requeued, recovered.unknown) == (2, 1)
    rows = sorted(deliveries(db).values(), key=lambda d: d.id)
    assert rows[0].status == "failed" and rows[0].last_error == OUTCOME_UNKNOWN
    assert [r.status for r in rows[1:]] == ["queued", "queued"]


async def test_survey_answer_by_reply_counts_once(db: Database) -> None:
    everyone(db)
    customer(db, "fb@example.com")
    c = campaign(
        db,
        "CSAT",
        kind="feedback",
        survey_kind="csat",
        template="How did we do, {{ first_name }}? Reply 1-5.",
    )
    start_run(db, c.id, now=T0 + timedelta(hours=1))
    channel = RecordingChannel()
    await Dispatcher(db, {"email": channel}).drain()
    [(_, message, key)] = channel.sent
    assert [data for _, data in message.choices] == ["1", "2", "3", "4", "5"]
    assert message.choices[0][0] == "1 = very dissatisfied"  # the scale says what it means
    assert message.choices[-1][0] == "5 = very satisfied"

    answer_at = T0 + timedelta(hours=2)
    ingest(
        db,
        InboundMessage(
            "email",
            "fb@example.com",
            None,
            "4 - quick and friendly",
            answer_at,
            "<a1@x>",
            in_reply_to=key,
        ),
    )
    ingest(
        db,
        InboundMessage("email", "fb@example.com", None, "5", answer_at, "<a2@x>", in_reply_to=key),
    )
    with db.session() as s:
        [response] = s.scalars(select(SurveyResponse)).all()
        assert (response.score, response.comment) == (4, "quick and friendly")
        assert response.polarity is not None and response.polarity > 0
        assert s.scalars(select(Delivery)).one().responded_at == answer_at


async def test_bare_score_answers_latest_open_survey(db: Database) -> None:
    everyone(db)
    customer(db, "7770001", channel="telegram")
    c = campaign(
        db,
        "NPS",
        kind="feedback",
        survey_kind="nps",
        template="How likely are you to recommend us? 0-10",
    )
    start_run(db, c.id, now=T0 + timedelta(hours=1))
    channel = RecordingChannel("telegram")
    await Dispatcher(db, {"telegram": channel}).drain()
    ingest(
        db,
        InboundMessage(
            "telegram", "7770001", None, "hello, is the shop open?", T0 + timedelta(hours=2), "m1"
        ),
    )
    ingest(db, InboundMessage("telegram", "7770001", None, "9", T0 + timedelta(hours=2), "m2"))
    with db.session() as s:
        assert [r.score for r in s.scalars(select(SurveyResponse))] == [9]


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"kind": "spam"}, "kind must be"),
        ({"kind": "feedback"}, "needs a survey"),
        ({"kind": "loyalty"}, "needs an action"),
        ({"schedule_cron": "61 * * * *"}, "bad cron"),
        ({"timezone": "Nowhere/Land"}, "unknown time zone"),
        ({"channel": "fax"}, "channel must be"),
        ({"subject": "Hi\r\nBcc: x@example.com"}, "one line"),
        ({"template": "{{ ''.__class__.__mro__ }}"}, "not allowed"),
        ({"template": "{{ nme }}"}, "undefined"),
        ({"template": "{{ 'x' * 100000000 }}"}, "not allowed"),
    ],
)
def test_bad_campaigns_are_refused_and_not_stored(
    db: Database, overrides: dict[str, object], error: str
) -> None:
    everyone(db)
    with pytest.raises((InvalidCampaign, TemplateProblem), match=error):
        campaign(db, **overrides)
    from rapport.crm.campaigns.definitions import list_campaigns

    assert list_campaigns(db) == []


def test_campaign_needs_an_existing_segment(db: Database) -> None:
    with pytest.raises(NotFound):
        campaign(db, segment="nobody")


def test_campaign_services_return_frozen_views_not_orm_rows(db: Database) -> None:
    everyone(db)
    made = campaign(db)
    paused = set_status(db, made.id, CampaignStatus.PAUSED)
    for seen in (made, get_campaign(db, "Promo"), list_campaigns(db)[0], paused):
        assert isinstance(seen, CampaignView) and not isinstance(seen, Campaign)
        with pytest.raises(dataclasses.FrozenInstanceError):
            seen.status = "ended"
    assert paused.status == CampaignStatus.PAUSED == get_campaign(db, made.id).status
    assert made.status == CampaignStatus.ACTIVE  # a snapshot: pausing did not change it


def test_a_schedule_changes_between_cron_one_off_and_by_hand(db: Database) -> None:
    """`campaigns edit --at|--cron` and the console's schedule form: one replaces the other."""
    everyone(db)
    c = campaign(db, schedule_cron="0 9 * * 1")
    once = update_campaign(db, c.id, run_at=T0 + timedelta(days=30), schedule_cron=None)
    assert (once.run_at, once.schedule_cron) == (T0 + timedelta(days=30), None)
    with pytest.raises(InvalidCampaign, match="not both"):
        update_campaign(db, c.id, schedule_cron="0 10 * * 1")  # the one-off is still set
    assert get_campaign(db, c.id) == once  # a refused change leaves it as it was
    weekly = update_campaign(db, c.id, schedule_cron="0 10 * * 1", run_at=None)
    assert (weekly.run_at, weekly.schedule_cron) == (None, "0 10 * * 1")
    with pytest.raises(InvalidCampaign, match="time zone"):
        naive = (T0 + timedelta(days=1)).replace(tzinfo=None)
        update_campaign(db, c.id, run_at=naive, schedule_cron=None)
    by_hand = update_campaign(db, c.id, schedule_cron=None, run_at=None)
    assert (by_hand.run_at, by_hand.schedule_cron) == (None, None)
