"""Trying a campaign safely from the command line: list, preview, test send, dry run, run once,
again on purpose; and consent staff record. Mail goes to a real SMTP sink."""

from __future__ import annotations

import re
from pathlib import Path

from sqlalchemy import func, select

from rapport.crm.clock import utcnow
from rapport.crm.database import Database
from rapport.crm.models import AuditEvent, CampaignRun, Delivery, Interaction
from rapport.crm.staff.audit import Actor
from rapport.crm.staff.roles import add_staff
from rapport.migrations.schema import upgrade
from tests.support.campaign_fixtures import customer, everyone
from tests.support.desk_cli import _rapport
from tests.support.email_sink import Sink


def _shop(cwd: Path) -> Database:
    db = Database(f"sqlite:///{cwd / 'r.db'}")
    upgrade(db)
    customer(db, "ann@example.org", name="Ann Lee")
    customer(db, "bob@example.org", name="Bob Wu", consent=False)
    everyone(db)
    return db


def _count(db: Database, model: type) -> int:
    with db.session() as s:
        return s.scalar(select(func.count()).select_from(model)) or 0


async def test_preview_test_dry_run_and_a_slot_that_runs_once(tmp_path: Path, sink: Sink) -> None:
    db = _shop(tmp_path)

    async def ok(*args: str) -> str:
        code, out, err = await _rapport(tmp_path, sink, *args)
        assert code == 0, err or out
        return out

    await ok("campaigns", "create", "Monthly CSAT", "--kind", "feedback", "--survey", "csat",
             "--segment", "everyone", "--cron", "0 9 1 * *",
             "--template", "Hi {{ first_name }}, how did we do?")  # fmt: skip
    await ok("campaigns", "create", "Launch", "--kind", "announcement", "--segment", "everyone",
             "--at", "2030-01-02T10:00", "--template", "We open!")  # fmt: skip
    listing = await ok("campaigns", "list")
    assert "next run" in listing and "times in UTC (RAPPORT_TIMEZONE)" in listing
    assert "2030-01-02 10:00 UTC" in listing  # the one-off, in the business time zone
    assert len(re.findall(r"\s active\s", listing)) == 2

    shown = await ok("campaigns", "preview", "Monthly CSAT", "--customer", "1")
    assert "customer #1 Ann Lee by email to ann@example.org: would be queued" in shown
    assert "Subject: Monthly CSAT" in shown  # no --subject: the name
    assert "List-Unsubscribe: <http://127.0.0.1:8080/u/PERSONAL-LINK>" in shown
    assert "List-Unsubscribe-Post: List-Unsubscribe=One-Click" in shown
    assert "Hi Ann, how did we do?" in shown and "1 = very dissatisfied" in shown
    assert "unsubscribe here:\nhttp://127.0.0.1:8080/u/PERSONAL-LINK" in shown
    bob = await ok("campaigns", "preview", "Monthly CSAT", "--customer", "2")
    assert "would be skipped: no_consent" in bob

    said = await ok("campaigns", "test", "Monthly CSAT", "--email", "me@shop.example")
    assert "sent to me@shop.example by email" in said
    [test] = sink.received
    assert test.message["Subject"] == "[TEST] Monthly CSAT"
    assert test.message["X-Rapport-Test"] == "yes"
    assert test.message["List-Unsubscribe"] == "<http://127.0.0.1:8080/u/test>"
    # a test is in no run, no delivery, no history
    assert (_count(db, CampaignRun), _count(db, Delivery)) == (0, 0)
    with db.session() as s:
        assert s.scalar(select(func.count()).where(Interaction.direction == "out")) == 0
        assert "campaign.test" in s.scalars(select(AuditEvent.action)).all()

    dry = await ok("campaigns", "run-now", "Monthly CSAT", "--dry-run")
    assert "dry run: 1 would be queued, skipped: no_consent 1; nothing written" in dry
    assert (_count(db, CampaignRun), _count(db, Delivery)) == (0, 0)

    minute = utcnow().replace(second=0, microsecond=0)
    first = await ok("campaigns", "run-now", "Monthly CSAT")
    second = await ok("campaigns", "run-now", "Monthly CSAT")
    assert "run 1: 1 queued, skipped: no_consent 1" in first and "sent 1," in first
    if utcnow().replace(second=0, microsecond=0) == minute:  # the same minute's slot
        assert "already ran in this minute's slot" in second and "--again" in second
        assert _count(db, CampaignRun) == 1
    again = await ok("campaigns", "run-now", "Monthly CSAT", "--again")
    assert "queued" in again and "already ran" not in again
    mails = [m for m in sink.received if m.message["Subject"] == "Monthly CSAT"]
    assert [m.message["To"] for m in mails] == ["ann@example.org"] * 2
    assert all(m.message["List-Unsubscribe"].startswith("<http://127.0.0.1:8080/u/") for m in mails)
    with db.session() as s:
        repeats = s.scalars(select(CampaignRun.repeat).order_by(CampaignRun.id)).all()
    assert repeats[-1] >= 1 and repeats[0] == 0
    db.dispose()


async def test_staff_record_consent_with_its_source(tmp_path: Path, sink: Sink) -> None:
    db = _shop(tmp_path)
    agent = add_staff(db, Actor("test"), name="Al", role="agent", email="al@shop.example")
    manager = add_staff(db, Actor("test"), name="Mo", role="manager", email="mo@shop.example")

    code, _, err = await _rapport(tmp_path, sink, "consent", "grant", "2", "--source", "x")
    assert code == 2 and "say where the consent was given" in err
    code, _, err = await _rapport(
        tmp_path, sink, "consent", "grant", "2", "--source", "paper form", "--staff", str(agent.id)
    )
    assert code == 2 and "does not allow you to record consent" in err
    code, out, err = await _rapport(
        tmp_path, sink, "consent", "grant", "2", "--channel", "email",
        "--source", "signed form at the till, 2026-11-20", "--staff", str(manager.id),
    )  # fmt: skip
    assert code == 0, err
    assert "customer 2: marketing consent by email granted" in out
    listing = (await _rapport(tmp_path, sink, "customers", "list"))[1]
    assert "bob@example.org" in listing and listing.count("email") >= 2
    with db.session() as s:
        actions = s.scalars(select(AuditEvent.action).where(AuditEvent.customer_id == 2)).all()
    assert "consent.grant" in actions
    code, _, err = await _rapport(tmp_path, sink, "consent", "grant", "2", "--channel",
                                  "telegram", "--source", "in the shop")  # fmt: skip
    assert code == 2 and "has no telegram address" in err
    db.dispose()
