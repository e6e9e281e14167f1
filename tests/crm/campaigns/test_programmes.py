"""Programme templates: each installs on demo data and its campaigns really send."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from rapport.bot.demo.fill import fill_demo
from rapport.crm.campaigns.definitions import set_status, update_campaign
from rapport.crm.campaigns.programmes import (
    get_programme,
    install_programme,
    installed_programmes,
    list_programmes,
)
from rapport.crm.campaigns.runs import start_run
from rapport.crm.campaigns.templates import validate_template
from rapport.crm.clock import utcnow
from rapport.crm.database import Database
from rapport.crm.dispatch.dispatcher import Dispatcher
from rapport.crm.errors import Conflict, InvalidInput, NotFound, RapportError
from rapport.crm.models import Campaign, CampaignStatus, Delivery, DeliveryStatus, Segment
from rapport.crm.segments.saved import create_segment
from tests.support.recording import RecordingChannel

NAMES = [p.name for p in list_programmes()]


def test_the_six_templates_of_the_issue() -> None:
    assert NAMES == [
        "welcome",
        "csat-resolved",
        "nps-quarterly",
        "loyalty-tiers",
        "win-back",
        "complaint-recovery",
    ]
    for programme in list_programmes():
        assert programme.competency and programme.steps
        for step in programme.steps:
            validate_template(step.campaign.template)


@pytest.mark.parametrize("name", NAMES)
async def test_installs_paused_and_runs_on_demo_data(db: Database, name: str) -> None:
    now = utcnow()
    fill_demo(db, 300, seed=7, now=now)
    installed = install_programme(db, name)
    with db.session() as s:
        statuses = set(
            s.scalars(select(Campaign.status).where(Campaign.id.in_(installed.campaigns)))
        )
    assert statuses == {CampaignStatus.PAUSED}
    channels = {"email": RecordingChannel("email"), "telegram": RecordingChannel("telegram")}
    for campaign_id in installed.campaigns:
        set_status(db, campaign_id, CampaignStatus.ACTIVE)
        start_run(db, campaign_id, trigger="manual", now=now)
    stats = await Dispatcher(db, channels).drain()
    with db.session() as s:
        sent = s.scalar(
            select(func.count()).where(
                Delivery.campaign_id.in_(installed.campaigns),
                Delivery.status == DeliveryStatus.SENT.value,
            )
        )
    assert sent == stats.sent > 0
    texts = [m.text for ch in channels.values() for _, m, _ in ch.sent]
    assert all("{{" not in t and t.strip() for t in texts)


def test_installing_twice_is_refused_and_changes_nothing(db: Database) -> None:
    assert installed_programmes(db) == set()
    install_programme(db, "win-back")
    assert installed_programmes(db) == {"win-back"}
    with pytest.raises(Conflict, match="already installed"):
        install_programme(db, "win-back")
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Campaign)) == 1
        assert s.scalar(select(func.count()).select_from(Segment)) == 1


def test_a_name_in_use_by_the_shop_is_refused_before_anything_is_made(db: Database) -> None:
    create_segment(db, "Moved up a tier today", {"all": []})
    with pytest.raises(Conflict, match="Moved up a tier today"):
        install_programme(db, "loyalty-tiers")
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Campaign)) == 0
        assert s.scalar(select(func.count()).select_from(Segment)) == 1


def test_overrides_apply_and_bad_ones_change_nothing(db: Database) -> None:
    with pytest.raises(InvalidInput, match="cannot override kind"):
        install_programme(db, "welcome", overrides={"kind": "feedback"})
    with pytest.raises(Exception, match="cron"):
        install_programme(db, "welcome", overrides={"schedule_cron": "every day"})
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Segment)) == 0
    installed = install_programme(
        db,
        "welcome",
        overrides={"timezone": "Asia/Hong_Kong", "channel": "email", "offer_code": "HELLO5"},
        active=True,
    )
    with db.session() as s:
        rows = s.scalars(select(Campaign).where(Campaign.id.in_(installed.campaigns))).all()
    assert {(c.timezone, c.channel, c.status) for c in rows} == {
        ("Asia/Hong_Kong", "email", CampaignStatus.ACTIVE)
    }
    assert {c.offer_code for c in rows if c.kind == "loyalty"} == {"HELLO5"}


def test_unknown_programme() -> None:
    with pytest.raises(NotFound, match=r"no programme .birthday.; known: .*welcome"):
        get_programme("birthday")


def test_the_business_edits_an_installed_campaign(db: Database) -> None:
    installed = install_programme(db, "win-back")
    (campaign_id,) = installed.campaigns
    updated = update_campaign(
        db,
        "Win-back offer",
        offer_code="BACK20",
        schedule_cron="0 9 * * 1",
        template="Hi {{ name }}",
    )
    assert (updated.offer_code, updated.schedule_cron, updated.template) == (
        "BACK20", "0 9 * * 1", "Hi {{ name }}"
    )  # fmt: skip
    for bad, message in (
        ({"template": "Hi {{ nobody }}"}, "template error"),
        ({"schedule_cron": "daily"}, "bad cron"),
        ({"kind": "feedback"}, "cannot change kind"),
    ):
        with pytest.raises(RapportError, match=message):
            update_campaign(db, campaign_id, **bad)
    with db.session() as s:
        kept = s.get(Campaign, campaign_id)
    assert kept is not None and (kept.offer_code, kept.kind) == ("BACK20", "loyalty")
