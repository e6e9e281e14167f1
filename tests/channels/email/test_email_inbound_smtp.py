"""Our inbound SMTP server, fed by the standard library's smtplib over loopback."""

from __future__ import annotations

import asyncio
import logging
import smtplib
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from rapport.bot.logs import NOISY_LOGGERS
from rapport.bot.runner import run
from rapport.channels.email import inbound_smtp_service
from rapport.channels.email.inbound_smtp import InboundSmtpService
from rapport.channels.lifecycle import Disabled
from rapport.crm.database import Database
from rapport.crm.errors import ConfigurationError
from rapport.crm.models import Conversation, Customer, Identity, Interaction, MailReport
from rapport.crm.settings import load_settings
from tests.support.email_inbound_smtp import _send_blocking, send

CORPUS = Path(__file__).parent / "email_corpus"

MAIL = (
    b"From: =?utf-8?q?Zo=C3=AB?= <Zoe@Example.ORG>\r\n"
    b"To: shop@example.com\r\n"
    b"Subject: Where is my parcel?\r\n"
    b"Date: Mon, 23 Nov 2026 10:00:00 +0000\r\n"
    b"Message-ID: <parcel-1@example.org>\r\n"
    b"In-Reply-To: <campaign-9@example.com>\r\n"
    b"\r\n"
    b"My parcel is late and I am not happy.\r\n"
)


@pytest.fixture
async def server(db: Database) -> AsyncIterator[InboundSmtpService]:
    service = InboundSmtpService(db, "127.0.0.1", 0, max_bytes=1_000_000, timeout=10)
    await service.start()
    yield service
    await service.stop()


def rows(db: Database) -> list[Interaction]:
    with db.session() as session:
        return list(session.scalars(select(Interaction).order_by(Interaction.id)))


def count(db: Database, model: type) -> int:
    with db.session() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


async def test_mail_is_committed_before_250(db: Database, server: InboundSmtpService) -> None:
    await send(server.bound_port, MAIL)
    # sendmail returned, so we answered 250: the interaction must be there now.
    (row,) = rows(db)
    assert row.channel == "email"
    assert row.body == "My parcel is late and I am not happy."
    assert row.subject == "Where is my parcel?"
    assert row.message_key == "<parcel-1@example.org>"
    assert row.in_reply_to == "<campaign-9@example.com>"
    assert row.polarity is not None and row.polarity < 0
    assert not row.automated
    with db.session() as session:
        identity = session.scalars(select(Identity)).one()
    assert identity.external_id == "zoe@example.org"
    assert identity.display_name == "Zoë"


async def test_mail_is_answered_while_the_main_loop_is_busy(
    db: Database, server: InboundSmtpService
) -> None:
    """The server has its own thread and loop: a main loop held up (a slow callback,
    the dispatcher's bookkeeping) does not hold up the sender's 250."""
    answered = threading.Event()

    def client() -> None:
        _send_blocking(server.bound_port, MAIL)
        answered.set()

    sender = threading.Thread(target=client)
    sender.start()
    # This blocks the test's (the app's) event loop itself, not just a task.
    assert answered.wait(timeout=10), "no 250 while the main loop was blocked"
    sender.join()
    assert len(rows(db)) == 1


async def test_replayed_mail_is_accepted_and_stored_once(
    db: Database, server: InboundSmtpService
) -> None:
    await send(server.bound_port, MAIL)
    await send(server.bound_port, MAIL)
    assert len(rows(db)) == 1


async def test_a_bounce_is_a_mail_report_never_a_customer(
    db: Database, server: InboundSmtpService
) -> None:
    await send(server.bound_port, (CORPUS / "dsn_bounce.eml").read_bytes(), mail_from="")
    assert rows(db) == [] and count(db, Customer) == 0 and count(db, Conversation) == 0
    with db.session() as session:
        (report,) = session.scalars(select(MailReport)).all()
    assert (report.kind, report.recipient, report.status) == ("bounce", "gone@example.net", "5.1.1")
    assert report.customer_id is None and report.outcome == "unmatched"


async def test_null_envelope_sender_marks_automated_and_makes_no_stranger_a_customer(
    db: Database, server: InboundSmtpService
) -> None:
    await send(server.bound_port, MAIL)  # Zoë writes: a customer
    again = MAIL.replace(b"parcel-1", b"parcel-2")
    await send(server.bound_port, again, mail_from="")
    first, second = rows(db)
    assert not first.automated and second.automated and second.customer_id == first.customer_id
    stranger = MAIL.replace(b"Zoe@Example.ORG", b"nobody@example.net").replace(b"parcel-1", b"x-3")
    await send(server.bound_port, stranger, mail_from="")
    assert len(rows(db)) == 2 and count(db, Customer) == 1
    with db.session() as session:
        (report,) = session.scalars(select(MailReport)).all()
    assert (report.kind, report.customer_id, report.outcome) == ("auto_reply", None, "unmatched")


@pytest.mark.parametrize(
    "data",
    [
        (CORPUS / "no_from.eml").read_bytes(),
        b"\x00\x01\x02 not a mail at all",
        b"From: not an address\r\nSubject: x\r\n\r\nhello\r\n",
    ],
    ids=["no-from", "garbage", "bad-address"],
)
async def test_unusable_mail_gets_a_clear_5xx_and_nothing_is_stored(
    db: Database, server: InboundSmtpService, data: bytes
) -> None:
    with pytest.raises(smtplib.SMTPDataError) as refused:
        await send(server.bound_port, data)
    assert refused.value.smtp_code == 554
    assert b"Message refused" in refused.value.smtp_error
    assert rows(db) == []


async def test_client_vanishing_mid_data_stores_nothing_and_server_carries_on(
    db: Database, server: InboundSmtpService
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", server.bound_port)
    await reader.readline()  # greeting
    for command in (
        b"HELO x",
        b"MAIL FROM:<zoe@example.org>",
        b"RCPT TO:<shop@example.com>",
        b"DATA",
    ):
        writer.write(command + b"\r\n")
        await writer.drain()
        await reader.readline()
    writer.write(MAIL[:120])  # half a mail, then the line goes dead
    await writer.drain()
    writer.close()
    await writer.wait_closed()
    await asyncio.sleep(0.1)
    assert rows(db) == []
    await send(server.bound_port, MAIL)
    assert len(rows(db)) == 1


async def test_too_large_mail_gets_552(db: Database, server: InboundSmtpService) -> None:
    big = MAIL + b"x" * 1_100_000 + b"\r\n"
    with pytest.raises((smtplib.SMTPDataError, smtplib.SMTPSenderRefused)) as refused:
        await send(server.bound_port, big)
    assert refused.value.smtp_code == 552
    assert rows(db) == []


def logged_at_info(caplog: pytest.LogCaptureFixture) -> str:
    """What `rapport run` would log: INFO and up, third-party loggers at WARNING
    (aiosmtpd's own INFO lines name the envelope addresses)."""
    return "\n".join(
        r.getMessage()
        for r in caplog.records
        if r.levelno >= (logging.WARNING if r.name in NOISY_LOGGERS else logging.INFO)
    )


async def test_logs_hold_no_address_or_text(
    db: Database, server: InboundSmtpService, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    await send(server.bound_port, MAIL)
    with pytest.raises(smtplib.SMTPDataError):
        await send(server.bound_port, b"From: not an address <zoe@>\r\n\r\nparcel\r\n")
    logged = logged_at_info(caplog).lower()
    assert "ingested interaction" in logged
    assert "zoe" not in logged and "parcel" not in logged


async def test_database_failure_is_451_so_the_sender_retries(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    unmigrated = Database(f"sqlite:///{tmp_path / 'empty.db'}")
    service = InboundSmtpService(unmigrated, "127.0.0.1", 0, timeout=10)
    await service.start()
    try:
        with pytest.raises(smtplib.SMTPDataError) as deferred:
            await send(service.bound_port, MAIL)
    finally:
        await service.stop()
        unmigrated.dispose()
    assert deferred.value.smtp_code == 451
    assert "database error (OperationalError)" in logged_at_info(caplog)
    assert "zoe" not in logged_at_info(caplog).lower()


async def test_corpus_arrives_whole(db: Database, server: InboundSmtpService) -> None:
    sent = 0
    for path in sorted(CORPUS.glob("*.eml")):
        if path.name == "no_from.eml":
            continue
        await send(server.bound_port, path.read_bytes())
        sent += 1
    # The bounce and the two auto-replies (from addresses no customer has) are mail reports.
    assert len(rows(db)) == sent - 3
    assert not any(r.automated for r in rows(db))
    with db.session() as session:
        reports = {r.message_key: r.kind for r in session.scalars(select(MailReport))}
    assert reports == {
        "<bounce-1@mx.example.net>": "bounce",
        "<ooo-1@example.org>": "auto_reply",
        "<xauto-1@example.org>": "auto_reply",
    }


async def test_raw_8bit_headers_are_stored_readably(
    db: Database, server: InboundSmtpService
) -> None:
    await send(server.bound_port, (CORPUS / "raw_latin1_headers.eml").read_bytes())
    (row,) = rows(db)
    assert row.subject == "Problème avec ma commande"
    with db.session() as session:
        assert session.scalars(select(Identity.display_name)).one() == "Sébastien Müller"


async def test_several_clients_at_once_all_land(db: Database, server: InboundSmtpService) -> None:
    mails = [MAIL.replace(b"parcel-1", f"parcel-{n}".encode()) for n in range(8)]
    await asyncio.gather(*(send(server.bound_port, m) for m in mails))
    assert len(rows(db)) == 8


async def test_port_in_use_is_a_clear_configuration_error(
    db: Database, server: InboundSmtpService
) -> None:
    second = InboundSmtpService(db, "127.0.0.1", server.bound_port)
    with pytest.raises(ConfigurationError, match="RAPPORT_INBOUND_SMTP_PORT"):
        await second.start()


def test_factory_follows_the_port_setting(db: Database) -> None:
    assert isinstance(inbound_smtp_service(load_settings(inbound_smtp_port=0), db), Disabled)
    service = inbound_smtp_service(load_settings(), db)
    assert isinstance(service, InboundSmtpService)
    assert (service.host, service.port) == ("127.0.0.1", 2525)


async def test_rapport_run_serves_inbound_smtp(db_url: str, unused_tcp_port: int) -> None:
    settings = load_settings(database_url=db_url, inbound_smtp_port=unused_tcp_port)
    stop = asyncio.Event()
    task = asyncio.create_task(run(settings, inbound=[inbound_smtp_service], stop=stop))
    try:
        for _ in range(100):
            try:
                await send(unused_tcp_port, MAIL)
                break
            except ConnectionRefusedError:
                await asyncio.sleep(0.05)
    finally:
        stop.set()
        await task
    db = Database(db_url)
    try:
        assert len(rows(db)) == 1
    finally:
        db.dispose()
