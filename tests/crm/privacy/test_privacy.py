"""Privacy requests: export everything about a person, erase them, age messages out."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from rapport.bot.scheduler import Runtime, SchedulerService
from rapport.crm.campaigns.runs import start_run
from rapport.crm.clock import utcnow
from rapport.crm.customers.linking import request_link
from rapport.crm.customers.merge import merge_customers
from rapport.crm.customers.profiles import customer_profile
from rapport.crm.customers.tags import add_tags
from rapport.crm.database import Database
from rapport.crm.desk.announcements import mark_announced, pending_announcements
from rapport.crm.desk.complaints import flag_complaint
from rapport.crm.desk.resolution import record_survey_sent, resolve
from rapport.crm.desk.rules import DEFAULT_RULES, parse_rules
from rapport.crm.dispatch.dispatcher import Dispatcher
from rapport.crm.errors import NotFound
from rapport.crm.interactions.bounces import BOUNCE, Failure, MailReport, record_report
from rapport.crm.interactions.ingest import ingest
from rapport.crm.messages import InboundMessage, Receipt
from rapport.crm.models import (
    AuditEvent,
    Base,
    Conversation,
    ConversationSurvey,
    Customer,
    Interaction,
)
from rapport.crm.privacy.opt_in import OptInLinks, request_opt_in
from rapport.crm.privacy.requests import (
    enforce_retention,
    erase_customer,
    export_customer,
    export_html,
    personal_tables,
    retention_cutoff,
)
from rapport.crm.privacy.unsubscribe import UnsubscribeLinks
from rapport.crm.reports.programmes import programme_metrics
from rapport.crm.settings import load_settings
from rapport.crm.staff.audit import Actor
from rapport.crm.value.orders import record_order
from rapport.crm.value.scores import recompute_values
from tests.support.campaign_fixtures import T0, campaign, customer, everyone
from tests.support.recording import RecordingChannel

ADMIN = Actor("cli:test-admin")
DESK = parse_rules(DEFAULT_RULES, ZoneInfo("UTC"))
SECRET_WORDS = (
    "Ann Lee",
    "203.0.113.9",
    "Ann's phone",
    "ann@example.com",
    "my order 8841 never came",
    "Order issue",
    "rude",
    "slow but fair",
)


async def _full_history(db: Database) -> tuple[int, int]:
    """Ann and Bob with a row in every personal table: messages, tags, consent,
    a loyalty campaign (points), a survey they answered, an unsubscribe, orders
    and the values computed from them."""
    everyone(db)
    ann = customer(db, "ann@example.com", name="Ann Lee", text="Hello <script>x</script>")
    bob = customer(db, "bob@example.com", name="Bob Wu")
    ingest(
        db,
        InboundMessage(
            "email",
            "ann@example.com",
            "Ann Lee",
            "my order 8841 never came",
            T0 + timedelta(minutes=5),
            "<ann-2@x>",
            subject="Order issue",
        ),
    )
    add_tags(db, ann, ["vip"])
    add_tags(db, bob, ["vip"])
    loyalty = campaign(db, "Points", kind="loyalty", points=20)
    survey = campaign(db, "CSAT", kind="feedback", survey_kind="csat", template="Rate us 1-5")
    start_run(db, loyalty.id, now=T0 + timedelta(hours=1))
    start_run(db, survey.id, now=T0 + timedelta(hours=2))
    channel = RecordingChannel("email")
    links = UnsubscribeLinks("a-secret-long-enough", "https://x.hk", timedelta(days=9))
    await Dispatcher(db, {"email": channel}, extra_headers=links.headers).drain()
    for address in ("ann@example.com", "bob@example.com"):
        survey_key = next(k for a, m, k in channel.sent if a == address and m.choices)
        ingest(
            db,
            InboundMessage(
                "email",
                address,
                None,
                "2 - staff were rude",
                T0 + timedelta(hours=3),
                f"<answer-{address[:3]}@mail.example>",
                in_reply_to=survey_key,
            ),
        )
    ann_mail = next(m for a, m, _ in channel.sent if a == "ann@example.com")
    links.redeem(db, ann_mail.headers["List-Unsubscribe"].rsplit("/", 1)[1].rstrip(">"))
    for n, address in enumerate(("ann@example.com", "bob@example.com")):
        record_order(
            db,
            order_key=f"order-{n}",
            customer=address,
            amount="42.50",
            ordered_at=T0 - timedelta(days=30),
        )
    recompute_values(db, T0 + timedelta(days=1))
    await _complaint_rated(db, ann)
    customer_profile(db, ADMIN, ann)  # an audited read
    request_link(db, ann, "someone.else@example.com", now=T0)  # a link code (address unknown)
    with db.transaction() as s:  # a record of a customer merged into Ann
        twin = Customer(first_seen_channel="email", created_at=T0)
        s.add(twin)
    merge_customers(db, ann, twin.id, ADMIN)
    # Ann confirmed a double opt-in from a browser, and one of her mails bounced once.
    opt_in = OptInLinks("a-secret-long-enough", "https://x.hk", timedelta(days=3))
    ticket = request_opt_in(
        db, "ann@example.com", "Ann Lee", requested_by="web:/subscribe",
        lifetime=timedelta(days=3), meta={"remote": "203.0.113.9"},
    )  # fmt: skip
    assert ticket.request_id is not None
    token = opt_in.url(ticket.request_id).rsplit("/", 1)[1]
    opt_in.confirm(db, token, {"remote": "203.0.113.9", "user_agent": "Ann's phone"})
    bounce = Failure("ann@example.com", "delayed", "4.2.2")
    record_report(db, MailReport(BOUNCE, "<dsn-ann@mx>", T0 + timedelta(hours=4), (bounce,)))
    return ann, bob


async def _complaint_rated(db: Database, customer_id: int) -> None:
    """Ann's conversation as a resolved complaint she rated (follow-up, desk CSAT)."""
    with db.session() as session:
        conversation_id = session.scalars(
            select(Conversation.id).where(Conversation.customer_id == customer_id)
        ).first()
    assert conversation_id is not None
    # Announced in an agent's own chat: the message id is kept (announcement_messages).
    [announced] = [a for a in pending_announcements(db) if a.conversation_id == conversation_id]
    mark_announced(db, ADMIN, [announced], [(conversation_id, 4242, 17)])
    flag_complaint(db, ADMIN, conversation_id, DESK)
    out = resolve(db, ADMIN, conversation_id)
    assert out is not None
    record_survey_sent(db, out, Receipt("email", "<csat-ann@shop>", utcnow()))
    ingest(
        db,
        InboundMessage(
            "email",
            "ann@example.com",
            None,
            "3 - slow but fair",
            utcnow(),
            "<csat-answer@mail.example>",
            in_reply_to="<csat-ann@shop>",
        ),
    )


async def test_export_has_every_personal_table_and_only_that_person(db: Database) -> None:
    ann, bob = await _full_history(db)
    data = export_customer(db, ADMIN, ann)
    json.dumps(data)  # JSON-ready as is

    # The tables come from the models: whatever refers to customers, directly or
    # through another such table. Check against the metadata independently.
    direct = {
        t.name
        for t in Base.metadata.sorted_tables
        if any(fk.column.table.name == "customers" for fk in t.foreign_keys)
    }
    assert direct | {"customers"} <= set(data["tables"])
    assert set(data["tables"]) == {t.name for t, _ in personal_tables()}
    for name, links in personal_tables():
        for fk in name.foreign_keys:
            if fk.column.table.name in data["tables"]:
                assert fk.parent in [c for c, _ in links]
    empty = [name for name, rows in data["tables"].items() if not rows]
    assert empty == [], f"seed data has no rows for {empty}: extend _full_history"

    tables = data["tables"]
    assert [c["id"] for c in tables["customers"]] == [ann]
    for name, rows in tables.items():
        for row in rows:
            if "customer_id" in row and name != "customers":
                assert row["customer_id"] == ann, name
    assert {r["body"] for r in tables["interactions"]} >= {"my order 8841 never came"}
    assert [r["comment"] for r in tables["survey_responses"]] == ["staff were rude"]
    with db.session() as s:
        bob_rows = s.scalar(
            select(func.count()).select_from(Interaction).where(Interaction.customer_id == bob)
        )
        audited = s.scalars(select(AuditEvent.action).where(AuditEvent.customer_id == ann)).all()
    assert bob_rows and "privacy.export" in audited

    page = export_html(data)
    assert "my order 8841 never came" in page
    assert "&lt;script&gt;x&lt;/script&gt;" in page and "<script>" not in page


async def test_erase_removes_personal_data_and_keeps_report_totals(db: Database) -> None:
    ann, bob = await _full_history(db)
    before = programme_metrics(db)
    before_bob = export_customer(db, ADMIN, bob)["tables"]

    summary = erase_customer(db, ADMIN, ann)

    # comments: the campaign survey's and the complaint rating's
    assert (summary.identities, summary.tags, summary.comments) == (1, 1, 2)
    assert programme_metrics(db) == before
    after = export_customer(db, ADMIN, ann)
    dumped = json.dumps(after)
    for secret in SECRET_WORDS:
        assert secret not in dumped
    assert after["tables"]["customer_tags"] == []
    assert after["tables"]["customers"][0]["erased_at"] is not None
    [identity] = after["tables"]["identities"]
    assert identity["external_id"].startswith("erased:")
    # rows stay, anonymised: the same number of messages, deliveries, points, answers
    for name in ("interactions", "deliveries", "points_entries", "survey_responses"):
        assert len(after["tables"][name]) > 0
    [rating] = after["tables"]["conversation_surveys"]
    assert rating["score"] == 3 and rating["comment"] is None
    # Bob is untouched (apart from the audit rows of reading him)
    bob_after = export_customer(db, ADMIN, bob)["tables"]
    assert {k: v for k, v in bob_after.items() if k != "audit_events"} == {
        k: v for k, v in before_bob.items() if k != "audit_events"
    }
    with db.session() as s:
        actions = s.scalars(select(AuditEvent.action).where(AuditEvent.customer_id == ann)).all()
        assert "privacy.erase" in actions
    # the address is free: writing again makes a new, unrelated customer
    again = ingest(
        db, InboundMessage("email", "ann@example.com", None, "hi", T0 + timedelta(days=1), "<n>")
    )
    assert again.new_customer and again.customer_id != ann
    with pytest.raises(NotFound):
        erase_customer(db, ADMIN, 10**6)
    assert erase_customer(db, ADMIN, ann).identities == 1  # repeatable


def test_retention_clears_old_bodies_and_keeps_rows(db: Database) -> None:
    old = customer(
        db, "old@example.com", text="an old complaint", at=datetime(2024, 1, 5, tzinfo=UTC)
    )
    customer(db, "new@example.com", text="a recent question", at=datetime(2026, 6, 1, tzinfo=UTC))
    now = datetime(2026, 11, 23, tzinfo=UTC)

    assert enforce_retention(db, now, months=0).messages == 0  # keep forever
    result = enforce_retention(db, now, months=24)
    assert result.cutoff == datetime(2024, 11, 23, tzinfo=UTC)
    assert result.messages == 1
    with db.session() as s:
        rows = s.execute(select(Interaction.customer_id, Interaction.body)).all()
        assert len(rows) == 2
        assert {(cid == old, body) for cid, body in rows} == {
            (True, None),
            (False, "a recent question"),
        }
    assert enforce_retention(db, now, months=24).messages == 0  # nothing left to clear


async def test_retention_ages_out_rating_comments_too(db: Database) -> None:
    await _full_history(db)
    later = utcnow() + timedelta(days=800)
    # two campaign survey comments and Ann's complaint rating
    assert enforce_retention(db, later, months=24).comments == 3
    with db.session() as s:
        [(score, comment)] = s.execute(
            select(ConversationSurvey.score, ConversationSurvey.comment)
        ).all()
    assert (score, comment) == (3, None)  # the score stays for the reports


def test_retention_cutoff_counts_calendar_months() -> None:
    assert retention_cutoff(datetime(2026, 3, 31, 8, tzinfo=UTC), 1) == datetime(
        2026, 2, 28, 8, tzinfo=UTC
    )
    assert retention_cutoff(datetime(2026, 1, 15, tzinfo=UTC), 13) == datetime(
        2024, 12, 15, tzinfo=UTC
    )


async def test_scheduler_runs_retention_daily(db: Database) -> None:
    runtime = Runtime(db=db, channels=(), frequency_cap=3, wake_dispatcher=lambda: None)
    off = SchedulerService(load_settings(database_url=db.url, retention_months=0), db, runtime)
    await off.start()
    try:
        assert off.scheduler.get_job("retention") is None
    finally:
        await off.stop()

    old = customer(db, "aged@example.com", text="years ago", at=datetime(2020, 1, 1, tzinfo=UTC))
    settings = load_settings(database_url=db.url, retention_months=24, timezone="Asia/Hong_Kong")
    service = SchedulerService(settings, db, runtime)
    await service.start()
    try:
        job = service.scheduler.get_job("retention")
        assert job is not None
        assert job.next_run_time.hour == 3 and str(job.next_run_time.tzinfo) == "Asia/Hong_Kong"
        job.func(*job.args, **job.kwargs)  # what the scheduler calls at 03:00
    finally:
        await service.stop()
    with db.session() as s:
        assert s.scalars(select(Interaction.body).where(Interaction.customer_id == old)).all() == [
            None
        ]
