"""Marketing consent per customer and channel: recorded with history, honoured by campaigns."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import select, text

from rapport.crm.campaigns.runs import start_run
from rapport.crm.database import Database
from rapport.crm.dispatch.dispatcher import Dispatcher
from rapport.crm.models import Consent, ConsentEvent, Customer, Delivery, DeliveryStatus, Identity
from rapport.crm.privacy.consent import marketing_consent, set_marketing_consent
from rapport.migrations.schema import upgrade
from tests.support.campaign_fixtures import T0, campaign, everyone
from tests.support.privacy_fixtures import two_channel_customer
from tests.support.recording import RecordingChannel


def _delivery(db: Database, campaign_id: int) -> tuple[Delivery, str | None]:
    with db.session() as s:
        d = s.scalars(select(Delivery).where(Delivery.campaign_id == campaign_id)).one()
        channel = s.scalar(select(Identity.channel).where(Identity.id == d.identity_id))
        return d, channel


def test_consent_is_per_channel_with_history(db: Database) -> None:
    cid = two_channel_customer(db, 1)
    assert marketing_consent(db, "email", "p1@example.com") is False
    assert marketing_consent(db, "email", "nobody@example.com") is None

    set_marketing_consent(db, "email", "P1@Example.com", granted=True, source="web:form")
    set_marketing_consent(db, "telegram", "70001", granted=True, source="telegram:/start")
    set_marketing_consent(db, "telegram", "70001", granted=False, source="telegram:/stop")

    assert marketing_consent(db, "email", "p1@example.com") is True
    assert marketing_consent(db, "telegram", "70001") is False
    with db.session() as s:
        current = {
            (c.channel, c.granted, c.source)
            for c in s.scalars(select(Consent).where(Consent.customer_id == cid))
        }
        history = [
            (e.channel, e.granted, e.source)
            for e in s.scalars(select(ConsentEvent).order_by(ConsentEvent.id))
        ]
        summary = s.get(Customer, cid)
        assert summary is not None
        assert summary.marketing_consent is True  # still granted by email
        assert summary.consent_source == "telegram:/stop"  # the latest change
    assert current == {("email", True, "web:form"), ("telegram", False, "telegram:/stop")}
    assert history == [
        ("email", True, "web:form"),
        ("telegram", True, "telegram:/start"),
        ("telegram", False, "telegram:/stop"),
    ]


def test_run_uses_only_a_consenting_channel(db: Database) -> None:
    everyone(db)
    cid = two_channel_customer(db, 2)  # last active on email
    set_marketing_consent(db, "telegram", "70002", granted=True, source="telegram:/start")

    strict = campaign(db, "Mail only", channel="email", fallback=False)
    start_run(db, strict.id, now=T0 + timedelta(hours=1))
    d, _ = _delivery(db, strict.id)
    assert (d.customer_id, d.status, d.skip_reason) == (cid, "skipped", "no_consent")

    latest = campaign(db, "Latest channel")  # last_active: email, but only Telegram agreed
    start_run(db, latest.id, now=T0 + timedelta(hours=2))
    d, channel = _delivery(db, latest.id)
    assert (d.status, channel) == ("queued", "telegram")


async def test_withdrawal_on_the_chosen_channel_stops_the_send(db: Database) -> None:
    everyone(db)
    two_channel_customer(db, 3)
    set_marketing_consent(db, "email", "p3@example.com", granted=True, source="test")
    set_marketing_consent(db, "telegram", "70003", granted=True, source="test")
    c = campaign(db)
    start_run(db, c.id, now=T0 + timedelta(hours=1))
    _, channel = _delivery(db, c.id)
    assert channel == "email"
    # withdrawing on the other channel changes nothing; on the chosen one it does
    set_marketing_consent(db, "telegram", "70003", granted=False, source="test")
    mail, chat = RecordingChannel("email"), RecordingChannel("telegram")
    dispatcher = Dispatcher(
        db, {"email": mail, "telegram": chat}, clock=lambda: T0 + timedelta(hours=2)
    )
    assert dispatcher.claim() != []
    dispatcher.recover(0)
    set_marketing_consent(db, "email", "p3@example.com", granted=False, source="test")
    stats = await dispatcher.drain()
    assert (mail.sent, chat.sent, stats.skipped) == ([], [], 1)
    d, _ = _delivery(db, c.id)
    assert d.status == DeliveryStatus.SKIPPED


def test_migration_carries_the_old_flag_over(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'old.db'}")
    upgrade(db, "0002")
    with db.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO customers (id, first_seen_channel, created_at, marketing_consent,"
                " consent_updated_at, consent_source) VALUES"
                " (1, 'email', '2026-01-01 00:00:00', 1, '2026-02-01 00:00:00', 'cli:ann'),"
                " (2, 'email', '2026-01-01 00:00:00', 0, '2026-03-01 00:00:00', 'telegram:/stop'),"
                " (3, 'email', '2026-01-01 00:00:00', 0, NULL, NULL)"
            )
        )
        conn.execute(
            text(
                "INSERT INTO identities (customer_id, channel, external_id, created_at) VALUES"
                " (1, 'email', 'a@example.com', '2026-01-01 00:00:00'),"
                " (1, 'telegram', '11', '2026-01-01 00:00:00'),"
                " (2, 'telegram', '22', '2026-01-01 00:00:00'),"
                " (3, 'email', 'c@example.com', '2026-01-01 00:00:00')"
            )
        )
    upgrade(db)
    assert marketing_consent(db, "email", "a@example.com") is True
    assert marketing_consent(db, "telegram", "11") is True
    assert marketing_consent(db, "telegram", "22") is False
    assert marketing_consent(db, "email", "c@example.com") is False
    with db.session() as s:
        events = s.execute(
            select(ConsentEvent.customer_id, ConsentEvent.channel, ConsentEvent.source)
        ).all()
        consent_1 = s.get(Consent, (1, "email", "marketing"))
        assert consent_1 is not None and consent_1.updated_at.month == 2
    assert sorted(events) == [
        (1, "email", "cli:ann"),
        (1, "telegram", "cli:ann"),
        (2, "telegram", "telegram:/stop"),
    ]
    db.dispose()
