"""A campaign through a relay with a sending quota (RAPPORT_SMTP_MAX_PER_SECOND).

Providers count mails per second (Amazon SES's sending rate, Mailgun's and
most ISPs' relays) and answer the excess with a 4xx, here SES's 454. Sent at
full speed, a campaign spends its deliveries' attempts on those answers;
paced to the quota it goes through without one. Real SMTP on loopback
(`LeanSmtpSink` scripted as a relay with a quota), the production sender and
dispatcher.
"""

from __future__ import annotations

import asyncio
import html
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import aiosmtplib
import httpx
import pytest
from sqlalchemy import func, select

from benchmarks.common import address, load_consenting_customers
from rapport.channels.email.outbound import THROTTLED_HINT, EmailSender, SmtpServer, classify
from rapport.channels.email.testing import THROTTLED, LeanSmtpSink, sending_quota
from rapport.crm.campaigns.definitions import CampaignSpec, create_campaign
from rapport.crm.channel import TransientFailure
from rapport.crm.clock import utcnow
from rapport.crm.database import Database
from rapport.crm.dispatch.dispatcher import Dispatcher
from rapport.crm.dispatch.outcomes import DispatchStats
from rapport.crm.messages import OutboundMessage
from rapport.crm.models import CampaignRun, Delivery, DeliveryStatus
from rapport.crm.segments.saved import create_segment
from rapport.crm.settings import SmtpSecurity
from rapport.migrations.schema import upgrade
from tests.support.cli import rapport
from tests.support.console_client import console_server, sign_in, staff
from tests.support.scale_fixtures import dispatch_until_settled, materialised_run

RECIPIENTS = 120
QUOTA = 40.0
"""The relay's: mails per second it accepts."""
PACE = 36.0
"""Rapport's setting, a little under the quota, as the docs advise."""
CONNECTIONS = 4


def later() -> datetime:
    """A clock a minute ahead: the retries scheduled 30 s out are due."""
    return utcnow() + timedelta(minutes=1)


def sender_to(sink: LeanSmtpSink, *, max_per_second: float | None) -> EmailSender:
    return EmailSender(
        SmtpServer("127.0.0.1", sink.port, security=SmtpSecurity.NONE, timeout=5),
        "shop@example.com",
        connections=CONNECTIONS,
        max_per_second=max_per_second,
    )


def dispatcher(db: Database, sender: EmailSender, **options: Any) -> Dispatcher:
    return Dispatcher(
        db,
        {"email": sender},
        batch_size=50,
        unsubscribe_url=lambda d, c: f"https://crm.example.hk/u/{d}",
        **options,
    )


async def send_campaign(db: Database, sender: EmailSender) -> DispatchStats:
    try:
        return await dispatcher(db, sender).drain()  # retries (30 s away) stay queued
    finally:
        await sender.close()


def sent(db: Database) -> int:
    with db.session() as session:
        return session.scalar(
            select(func.count()).where(Delivery.status == DeliveryStatus.SENT.value)
        )


async def test_paced_to_the_quota_every_mail_goes_through_at_once(db: Database) -> None:
    load_consenting_customers(db, RECIPIENTS)
    assert materialised_run(db) == RECIPIENTS
    async with LeanSmtpSink(sending_quota(QUOTA)) as sink:
        stats = await send_campaign(db, sender_to(sink, max_per_second=PACE))

    assert sink.record.faults_given == {}
    assert (stats.sent, stats.retried) == (RECIPIENTS, 0)
    assert sink.record.per_recipient() == {address(i): 1 for i in range(1, RECIPIENTS + 1)}
    assert sent(db) == RECIPIENTS


async def test_unpaced_the_sender_slows_to_what_the_relay_takes(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    """No quota set: the first refusals teach the sender the relay's pace."""
    load_consenting_customers(db, RECIPIENTS)
    materialised_run(db)
    async with LeanSmtpSink(sending_quota(QUOTA)) as sink:
        sender = sender_to(sink, max_per_second=None)
        first = await send_campaign(db, sender)  # retries (30 s away) stay queued
        throttled = sink.record.faults_given[THROTTLED[:3]]
        assert sender.max_per_second is not None and sender.max_per_second <= QUOTA
        with db.session() as session:  # what staff see on the delivery: why, and what to set
            errors = set(session.scalars(select(Delivery.last_error).where(Delivery.attempts > 0)))
        assert any(THROTTLED_HINT in (error or "") for error in errors), errors
        retries = dispatcher(db, sender, base_backoff=0.0, clock=later)
        try:
            await dispatch_until_settled(retries, db)
        finally:
            await sender.close()

    # Only the mails on their way when the first 454 came were refused (about one per
    # connection); unpaced before, nearly all of the 80 past the relay's first 40 were.
    assert 0 < throttled <= 2 * CONNECTIONS
    assert (first.sent, first.retried) == (RECIPIENTS - throttled, throttled)
    assert sink.record.faults_given[THROTTLED[:3]] == throttled  # the retries went through
    assert sink.record.per_recipient() == {address(i): 1 for i in range(1, RECIPIENTS + 1)}
    assert sent(db) == RECIPIENTS
    warned = [r.getMessage() for r in caplog.records if "throttles" in r.getMessage()]
    assert warned and all("RAPPORT_SMTP_MAX_PER_SECOND" in w for w in warned)
    assert not any("@" in r.getMessage() for r in caplog.records)


async def test_a_reply_goes_before_the_campaign_mail_waiting_for_the_quota(
    db: Database,
) -> None:
    """Staff answering a customer by mail do not wait for a campaign to finish."""
    load_consenting_customers(db, 60)
    materialised_run(db)
    async with LeanSmtpSink(sending_quota(QUOTA)) as sink:
        sender = sender_to(sink, max_per_second=20.0)  # the campaign takes 3 s
        campaign = asyncio.create_task(send_campaign(db, sender))
        while len(sink.record.mails) < 5:
            await asyncio.sleep(0.01)
        before = len(sink.record.mails)
        await sender.send("customer@example.org", OutboundMessage(text="Re: your order"))
        overtaken = len(sink.record.mails) - before - 1
        stats = await campaign

    # Only mails already given their turn, at most one per connection, went first;
    # queued behind the campaign the reply would have let some 50 by.
    assert overtaken <= CONNECTIONS
    assert sink.record.faults_given == {}
    assert stats.sent == 60
    assert sink.record.per_recipient()["customer@example.org"] == 1


@pytest.mark.parametrize(
    ("code", "reply", "hinted"),
    [
        (454, "4.7.0 Throttling failure: Maximum sending rate exceeded.", True),
        (421, "4.7.0 Try again later, closing connection (rate limited)", True),
        (450, "4.7.1 Too many messages from your account, slow down", True),
        (451, "4.7.1 Greylisted, please try again later", False),
        (451, "4.3.0 Temporary failure generated by the content filter", False),
        (452, "4.2.2 Mailbox full", False),
    ],
)
def test_a_throttling_reply_names_the_setting_that_avoids_it(
    code: int, reply: str, hinted: bool
) -> None:
    failure = classify(aiosmtplib.SMTPResponseException(code, reply))
    assert isinstance(failure, TransientFailure)
    assert (THROTTLED_HINT in str(failure)) is hinted


async def test_the_run_page_says_why_mail_waits_and_what_to_set(db: Database) -> None:
    load_consenting_customers(db, RECIPIENTS)
    materialised_run(db)
    async with LeanSmtpSink(sending_quota(QUOTA)) as sink:
        await send_campaign(db, sender_to(sink, max_per_second=None))
    throttled = sink.record.faults_given[THROTTLED[:3]]
    with db.session() as session:
        run = session.scalars(select(CampaignRun)).one()

    async with console_server(db) as served, httpx.AsyncClient(base_url=served.url) as client:
        await sign_in(client, db, staff(db, "Mo", "manager", 701))
        page = await client.get(f"/console/campaigns/{run.campaign_id}/runs/{run.id}")
    assert page.status_code == 200
    problems = html.unescape(page.text.split('id="send-problems"', 1)[1].split("</ul>")[0])
    assert f'<span class="count">{throttled}</span> SMTP 454 4.7.0 Throttling failure' in problems
    assert THROTTLED_HINT in problems


async def test_run_now_says_why_mail_waits(tmp_path: Path) -> None:
    """`rapport campaigns run-now` through a relay with a quota, as a shop would try it."""
    url = f"sqlite:///{tmp_path / 'r.db'}"
    db = Database(url)
    try:
        await asyncio.to_thread(upgrade, db)
        load_consenting_customers(db, RECIPIENTS)
        create_segment(db, "everyone", {"all": []})
        create_campaign(
            db,
            CampaignSpec(name="Winter", kind="announcement", segment="everyone",
                         template="Hi {{ first_name }}!", channel="email"),
        )  # fmt: skip
    finally:
        db.dispose()
    async with LeanSmtpSink(sending_quota(QUOTA)) as sink:
        env = {
            "RAPPORT_SMTP_HOST": "127.0.0.1",
            "RAPPORT_SMTP_PORT": str(sink.port),
            "RAPPORT_SMTP_TLS": "none",
            "RAPPORT_MAIL_FROM": "shop@example.com",
            "RAPPORT_PUBLIC_URL": "https://crm.example.test",
            "RAPPORT_DISPATCH_QUIET_SECONDS": "0",
        }
        unpaced = await asyncio.to_thread(rapport, tmp_path, "campaigns", "run-now", "Winter",
                                          env=env)  # fmt: skip
        throttled = sink.record.faults_given[THROTTLED[:3]]
    assert unpaced.returncode == 0, unpaced.stderr
    assert throttled > 0
    assert f"{throttled} waiting or failed: SMTP 454" in unpaced.stdout
    assert "set RAPPORT_SMTP_MAX_PER_SECOND" in " ".join(unpaced.stdout.split())
