"""Bounces, complaints and auto-replies through the real inbound SMTP server: never customers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from rapport.channels.email.dsn import parse_report
from rapport.channels.email.inbound_smtp import InboundSmtpService
from rapport.crm.campaigns.runs import start_run
from rapport.crm.database import Database
from rapport.crm.dispatch.dispatcher import Dispatcher
from rapport.crm.messages import OutboundMessage, Receipt
from rapport.crm.models import Customer, Delivery, DeliveryStatus, Identity, Interaction, MailReport
from rapport.crm.privacy.consent import marketing_consent
from rapport.crm.reports.programmes import programme_metrics
from tests.support.campaign_fixtures import T0, campaign, customer, everyone
from tests.support.email_inbound_smtp import send
from tests.support.recording import RecordingChannel
from tests.support.report_mail import arf, dsn


@pytest.fixture
async def server(db: Database) -> AsyncIterator[InboundSmtpService]:
    service = InboundSmtpService(db, "127.0.0.1", 0, timeout=10, soft_bounce_limit=3)
    await service.start()
    yield service
    await service.stop()


async def _campaign_sent(db: Database, *addresses: str) -> dict[str, str]:
    """A campaign mail to each address: address → the Message-ID it went out with."""
    everyone(db)
    for address in addresses:
        customer(db, address)
    c = campaign(db, "News", channel="email")
    start_run(db, c.id, now=T0 + timedelta(hours=1))
    mail = MailIds()
    await Dispatcher(
        db, {"email": mail}, unsubscribe_url=lambda d, _c: f"https://x.hk/u/{d}"
    ).drain()
    return {address: key for address, _, key in mail.sent}


class MailIds(RecordingChannel):
    """Receipts keyed like real mail: a Message-ID in angle brackets."""

    async def send(self, external_id: str, message: OutboundMessage) -> Receipt:
        receipt = await super().send(external_id, message)
        key = f"<{receipt.message_key}@example.com>"
        self.sent[-1] = (external_id, message, key)
        return Receipt(receipt.channel, key, receipt.sent_at)


def _identity(db: Database, address: str) -> Identity:
    with db.session() as s:
        found = s.scalar(select(Identity).where(Identity.external_id == address))
        assert found is not None
        return found


def _reports(db: Database) -> list[MailReport]:
    with db.session() as s:
        return list(s.scalars(select(MailReport).order_by(MailReport.id)))


def _customers(db: Database) -> list[str | None]:
    with db.session() as s:
        return list(s.scalars(select(Customer.display_name).order_by(Customer.id)))


async def test_a_permanent_bounce_marks_the_address_and_the_delivery(
    db: Database, server: InboundSmtpService
) -> None:
    keys = await _campaign_sent(db, "ann@example.org", "bob@example.org")
    bounce = dsn("ann@example.org", "5.1.1", original_id=keys["ann@example.org"])
    await send(server.bound_port, bounce, mail_from="")
    await send(server.bound_port, bounce, mail_from="")  # delivered twice: counted once

    ann = _identity(db, "ann@example.org")
    assert ann.unreachable_at is not None and ann.unreachable_reason == "bounced 5.1.1"
    assert _identity(db, "bob@example.org").unreachable_at is None
    with db.session() as s:
        statuses = {c: st for c, st in s.execute(select(Delivery.customer_id, Delivery.status))}
        failed = s.scalar(select(Delivery).where(Delivery.customer_id == ann.customer_id))
        assert failed is not None and failed.last_error.startswith("bounced: 5.1.1")
    assert statuses == {ann.customer_id: DeliveryStatus.FAILED, ann.customer_id + 1: "sent"}
    [report] = _reports(db)
    assert (report.kind, report.customer_id, report.outcome) == (
        "bounce", ann.customer_id, "unreachable (5.1.1)",
    )  # fmt: skip
    assert _customers(db) == ["Ann", "Bob"]  # no MAILER-DAEMON, no postmaster
    with db.session() as s:  # and no inbound message was stored for the report
        assert s.scalar(select(func.count()).select_from(Interaction).where(
            Interaction.direction == "in")) == 2  # fmt: skip
    metrics = programme_metrics(db)
    assert (metrics.delivered, metrics.bounced, metrics.bounce_rate) == (1, 1, 0.5)

    # the next run leaves the address out
    c = campaign(db, "More news", channel="email")
    summary = start_run(db, c.id, now=T0 + timedelta(days=1))
    assert summary.skipped == {"unreachable": 1} and summary.queued == 1


async def test_temporary_bounces_count_and_the_limit_makes_the_address_unreachable(
    db: Database, server: InboundSmtpService
) -> None:
    await _campaign_sent(db, "cy@example.org")
    for n in range(1, 4):
        await send(server.bound_port, dsn("cy@example.org", "4.2.2", "delayed"), mail_from="")
        identity = _identity(db, "cy@example.org")
        assert identity.soft_bounces == n
        assert (identity.unreachable_at is None) == (n < 3)
    assert [r.outcome for r in _reports(db)] == [
        "temporary bounce 1 of 3 (4.2.2)",
        "temporary bounce 2 of 3 (4.2.2)",
        "unreachable (3 temporary bounces)",
    ]


async def test_writing_in_starts_the_temporary_bounces_over(
    db: Database, server: InboundSmtpService
) -> None:
    await _campaign_sent(db, "di@example.org")
    for _ in range(2):
        await send(server.bound_port, dsn("di@example.org", "4.2.2", "delayed"), mail_from="")
    mail = (
        b"From: Di <di@example.org>\r\nTo: shop@example.com\r\nSubject: hi\r\n"
        b"Message-ID: <di-1@example.org>\r\n\r\nThanks for the news!\r\n"
    )
    await send(server.bound_port, mail, mail_from="di@example.org")
    assert _identity(db, "di@example.org").soft_bounces == 0


async def test_a_complaint_withdraws_email_consent(
    db: Database, server: InboundSmtpService
) -> None:
    keys = await _campaign_sent(db, "eve@example.org")
    await send(server.bound_port, arf("eve@example.org", keys["eve@example.org"]), mail_from="")
    assert marketing_consent(db, "email", "eve@example.org") is False
    [report] = _reports(db)
    assert (report.kind, report.outcome) == ("complaint", "consent withdrawn")
    assert _customers(db) == ["Eve"]


async def test_reports_nobody_can_be_matched_to_are_kept_as_unmatched(
    db: Database, server: InboundSmtpService
) -> None:
    await send(server.bound_port, dsn(None), mail_from="")  # no recipient at all
    await send(server.bound_port, dsn("stranger@example.net"), mail_from="")
    await send(server.bound_port, arf("nobody@example.net"), mail_from="")
    assert [(r.kind, r.customer_id, r.outcome) for r in _reports(db)] == [
        ("bounce", None, "unmatched: no recipient in the report"),
        ("bounce", None, "unmatched"),
        ("complaint", None, "unmatched"),
    ]
    assert _customers(db) == []


async def test_auto_replies_attach_to_the_customer_they_answer_and_create_nobody(
    db: Database, server: InboundSmtpService
) -> None:
    keys = await _campaign_sent(db, "fay@example.org")
    vacation = (
        "From: Fay's assistant <assistant@corp.example>\r\nTo: shop@example.com\r\n"
        "Subject: Out of office\r\nAuto-Submitted: auto-replied\r\n"
        f"Message-ID: <ooo-9@corp.example>\r\nIn-Reply-To: {keys['fay@example.org']}\r\n\r\n"
        "I am away until Monday.\r\n"
    ).encode()
    await send(server.bound_port, vacation, mail_from="")
    [report] = _reports(db)
    assert (report.kind, report.outcome) == ("auto_reply", "attached")
    assert report.customer_id == _identity(db, "fay@example.org").customer_id
    assert _customers(db) == ["Fay"]


def test_a_report_names_each_recipient_and_the_original_mail() -> None:
    two = dsn("a@example.org", original_id="<orig-1@example.com>").replace(
        b"mailbox unavailable\r\n",
        b"mailbox unavailable\r\n\r\nFinal-Recipient: rfc822; b@example.org\r\n"
        b"Action: delayed\r\nStatus: 4.4.7\r\n",
        1,
    )
    report = parse_report(two)
    assert report.original_message_id == "<orig-1@example.com>"
    assert [(f.recipient, f.action, f.status) for f in report.failures] == [
        ("a@example.org", "failed", "5.1.1"),
        ("b@example.org", "delayed", "4.4.7"),
    ]
