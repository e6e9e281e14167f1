"""A feedback survey answered through the real channels ends up in the report numbers.

Email: the survey goes out through our aiosmtplib sender to an aiosmtpd sink;
the customer's reply comes back through smtplib to our inbound SMTP server,
threaded by In-Reply-To. (The Telegram half lives in tests/telegram/.)
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from rapport.channels.email.inbound_smtp import InboundSmtpService
from rapport.channels.email.outbound import EmailSender, SmtpServer
from rapport.crm.campaigns.runs import start_run
from rapport.crm.database import Database
from rapport.crm.dispatch.dispatcher import Dispatcher
from rapport.crm.reports.programmes import programme_metrics
from rapport.crm.settings import SmtpSecurity
from tests.support.campaign_fixtures import campaign, customer, everyone
from tests.support.email_inbound_smtp import send
from tests.support.email_sink import Sink


@pytest.fixture
async def inbound(db: Database) -> AsyncIterator[InboundSmtpService]:
    service = InboundSmtpService(db, "127.0.0.1", 0, max_bytes=1_000_000, timeout=10)
    await service.start()
    yield service
    await service.stop()


async def test_email_csat_answer_reaches_the_report(
    db: Database, inbound: InboundSmtpService, sink: Sink
) -> None:
    everyone(db)
    customer(db, "zoe@example.org", name="Zoë")
    survey = campaign(
        db,
        "After-sales CSAT",
        kind="feedback",
        survey_kind="csat",
        subject="How did we do?",
        template="Hi {{ first_name }}, rate us 1-5.",
    )
    start_run(db, survey.id)
    sender = EmailSender(
        SmtpServer("127.0.0.1", sink.port, security=SmtpSecurity.NONE),
        "shop@example.com",
        from_name="Corner Shop",
    )
    try:
        stats = await Dispatcher(
            db, {"email": sender}, unsubscribe_url=lambda d, c: f"https://crm.example.hk/u/{d}"
        ).drain()
    finally:
        await sender.close()
    assert stats.sent == 1
    [mail] = sink.received
    question = mail.message
    assert question["To"] == "zoe@example.org" and question["Subject"] == "How did we do?"
    body = question.get_body(("plain",)).get_content()
    assert "Reply with the number" in body  # the scale, by text, saying what it means
    assert "\r\n1 = very dissatisfied\r\n" in body and "\r\n5 = very satisfied\r\n" in body
    assert question["List-Unsubscribe"].startswith("<https://crm.example.hk/u/")
    assert question["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "unsubscribe here:\r\nhttps://crm.example.hk/u/" in body  # and the visible link

    reply = (
        b"From: Zoe <zoe@example.org>\r\nTo: shop@example.com\r\nSubject: Re: How did we do?\r\n"
        b"Message-ID: <reply-1@example.org>\r\nIn-Reply-To: "
        + question["Message-ID"].encode()
        + b"\r\n\r\n4 - quick delivery, thanks\r\n\r\n> Hi Zo\xc3\xab, rate us 1-5.\r\n"
    )
    await send(inbound.bound_port, reply)

    metrics = programme_metrics(db, campaign_ids=[survey.id])
    assert (metrics.delivered, metrics.responded, metrics.survey_answers) == (1, 1, 1)
    assert metrics.csat_mean == 4.0 and metrics.csat_satisfied_pct == 100.0
