"""Inbound SMTP at the seams (issue 20, defects 5 and 6): what senders say is checked.

A real SMTP server on loopback, spoken to byte for byte: refusals are valid
RFC 5321 reply lines whatever the reason quotes; a `Date:` out of a sane
window is not believed; a Message-ID is a duplicate only for the same sender.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import select

from rapport.channels.email.inbound_smtp import InboundSmtpService
from rapport.crm.clock import utcnow
from rapport.crm.database import Database
from rapport.crm.models import Customer, Identity, Interaction
from tests.support.smtp_raw import mail, session


@pytest.fixture
async def server(db: Database) -> AsyncIterator[InboundSmtpService]:
    service = InboundSmtpService(db, "127.0.0.1", 0, max_bytes=1_000_000, timeout=10)
    await service.start()
    yield service
    await service.stop()


async def deliver(port: int, data: bytes, sender: str = "zoe@example.org") -> int:
    replies = await session(
        port,
        [
            b"EHLO client.test",
            b"MAIL FROM:<" + sender.encode() + b">",
            b"RCPT TO:<shop@example.com>",
            b"DATA",
            b"QUIT",
        ],
        data=data,
    )
    return replies[5][0]


def stored(db: Database) -> list[Interaction]:
    with db.session() as s:
        return list(s.scalars(select(Interaction).order_by(Interaction.id)))


async def test_refusal_quoting_non_ascii_is_a_valid_5xx_line(
    server: InboundSmtpService, db: Database
) -> None:
    for sender in ("zoë@bü–cher..example", "ann@exa mple–.com", "zoë@–.example"):
        data = mail(sender=sender)
        replies = await session(
            server.bound_port,
            [
                b"EHLO client.test",
                b"MAIL FROM:<x@example.org>",
                b"RCPT TO:<shop@example.com>",
                b"DATA",
                b"QUIT",
            ],
            data=data,
        )  # session() raises MalformedReply on any bad line
        code, lines = replies[5]
        assert 500 <= code < 600, (sender, lines)
    assert stored(db) == []


async def test_an_unknown_command_of_control_characters_gets_a_printable_reply(
    server: InboundSmtpService, db: Database
) -> None:
    """aiosmtpd echoes an unknown command in its 500; a NUL or ESC must not reach the client."""
    for command in (b"\x00", b"\x1b[31mHELO", b"\x7f\x01 x"):
        replies = await session(server.bound_port, [command, b"QUIT"])  # MalformedReply if not
        code, lines = replies[1]
        assert code == 500 and all(b"\x00" not in line for line in lines), lines
    assert stored(db) == []


async def test_a_date_of_year_one_is_not_believed(server: InboundSmtpService, db: Database) -> None:
    before = utcnow()
    data = mail(date="Mon, 1 Jan 1 00:00:00 +0000", message_id="<old-1@example.org>")
    assert await deliver(server.bound_port, data) == 250
    old_but_plausible = (before - timedelta(days=400)).strftime("%a, %d %b %Y %H:%M:%S +0000")
    data = mail(date=old_but_plausible, message_id="<old-2@example.org>")
    assert await deliver(server.bound_port, data) == 250
    recent = (before - timedelta(hours=3)).strftime("%a, %d %b %Y %H:%M:%S +0000")
    data = mail(date=recent, message_id="<recent@example.org>")
    assert await deliver(server.bound_port, data) == 250
    first, second, third = stored(db)
    for disbelieved in (first, second):
        assert before - timedelta(seconds=5) <= disbelieved.sent_at <= utcnow()
    assert first.claimed_sent_at == "Mon, 1 Jan 1 00:00:00 +0000"
    assert second.claimed_sent_at == old_but_plausible
    assert abs(third.sent_at - (before - timedelta(hours=3))) < timedelta(seconds=2)
    assert third.claimed_sent_at is None
    with db.session() as s:
        customer = s.scalar(select(Customer))
        assert customer is not None and customer.last_activity_at is not None
        assert customer.last_activity_at >= before - timedelta(hours=4)


async def test_a_stranger_reusing_a_message_id_suppresses_nothing(
    server: InboundSmtpService, db: Database
) -> None:
    key = "<order-7@example.org>"
    port = server.bound_port
    # the stranger first, then the customer, then both again (replays)
    stranger = mail(sender="mallory@evil.example", message_id=key, text="I am someone else")
    genuine = mail(sender="zoe@example.org", message_id=key, text="Where is order 7?")
    assert await deliver(port, stranger, "mallory@evil.example") == 250
    assert await deliver(port, genuine) == 250
    assert await deliver(port, genuine) == 250
    assert await deliver(port, stranger, "mallory@evil.example") == 250
    rows = stored(db)
    assert sorted(r.body or "" for r in rows) == ["I am someone else", "Where is order 7?"]
    with db.session() as s:
        owners = {
            r.body: s.scalar(
                select(Identity.external_id).where(
                    Identity.customer_id == r.customer_id, Identity.channel == "email"
                )
            )
            for r in rows
        }
    assert owners == {
        "I am someone else": "mallory@evil.example",
        "Where is order 7?": "zoe@example.org",
    }
