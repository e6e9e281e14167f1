"""A campaign through an SMTP server that misbehaves at set rates.

The server (a real SMTP dialogue on loopback, `LeanSmtpSink`) answers by
recipient: some get 451 or 421 or a dropped connection once or twice, some
550 user unknown, one keeps answering 451. Rapport must retry what is
transient, give up on what is permanent (and mark the address unreachable),
and never deliver a mail twice. Backoff is shortened so retries come due in
milliseconds; everything else is the production code path.
"""

from __future__ import annotations

from collections import Counter

from sqlalchemy import select

from benchmarks.common import address, load_consenting_customers
from rapport.channels.email.outbound import EmailSender, SmtpServer
from rapport.channels.email.testing import DROP, LeanSmtpSink
from rapport.crm.database import Database
from rapport.crm.dispatch.dispatcher import Dispatcher
from rapport.crm.models import Delivery, DeliveryStatus, Identity
from rapport.crm.settings import SmtpSecurity
from tests.support.scale_fixtures import dispatch_until_settled, materialised_run

RECIPIENTS = 200
MAX_ATTEMPTS = 4


def index(addr: str) -> int:
    return int(addr.split("@")[0][1:])


def script(addr: str, attempt: int) -> str | None:
    """What the server answers at RCPT for this recipient's `attempt`th try."""
    i = index(addr)
    if i % 25 == 7:
        return "550 5.1.1 <" + addr + ">: user unknown"
    if i == 13:
        return "451 4.3.0 try again later"  # every time: retries run out
    if i % 10 == 1 and attempt == 1:
        return "451 4.7.1 greylisted, try again later"
    if i % 10 == 2 and attempt == 1:
        return "421 4.3.2 service shutting down"
    if i % 10 == 3 and attempt == 1:
        return DROP
    if i % 10 == 4 and attempt <= 2:
        return "452 4.2.2 mailbox full" if attempt == 1 else DROP
    return None


def expected_attempts(i: int) -> int:
    if i % 25 == 7:
        return 1
    if i == 13:
        return MAX_ATTEMPTS
    return {1: 2, 2: 2, 3: 2, 4: 3}.get(i % 10, 1)


async def test_transient_retried_permanent_recorded_nothing_doubled(db: Database) -> None:
    load_consenting_customers(db, RECIPIENTS)
    assert materialised_run(db) == RECIPIENTS
    async with LeanSmtpSink(script) as sink:
        sender = EmailSender(
            SmtpServer("127.0.0.1", sink.port, security=SmtpSecurity.NONE, timeout=5),
            "shop@example.com",
            connections=2,
        )
        dispatcher = Dispatcher(
            db,
            {"email": sender},
            batch_size=16,
            max_attempts=MAX_ATTEMPTS,
            base_backoff=0.01,
            unsubscribe_url=lambda d, c: f"https://crm.example.hk/u/{d}",
        )
        try:
            stats = await dispatch_until_settled(dispatcher, db)
        finally:
            await sender.close()

    gone = {address(i) for i in range(1, RECIPIENTS + 1) if i % 25 == 7}
    exhausted = {address(13)}
    delivered = {address(i) for i in range(1, RECIPIENTS + 1)} - gone - exhausted
    received = sink.record.per_recipient()
    assert set(received) == delivered
    assert set(received.values()) == {1}, "a recipient got the mail twice"
    assert sink.record.faults_given.keys() >= {"451", "421", "452", "550", DROP}
    for i in range(1, RECIPIENTS + 1):
        assert sink.record.attempts[address(i)] == expected_attempts(i), i

    with db.session() as s:
        rows = s.execute(
            select(
                Identity.external_id, Delivery.status, Delivery.attempts, Delivery.last_error
            ).join(Identity, Identity.id == Delivery.identity_id)
        ).all()
        unreachable = set(
            s.scalars(select(Identity.external_id).where(Identity.unreachable_at.is_not(None)))
        )
    by_address = {r.external_id: r for r in rows}
    assert len(by_address) == RECIPIENTS
    statuses = Counter(r.status for r in rows)
    assert statuses == {
        DeliveryStatus.SENT: len(delivered),
        DeliveryStatus.FAILED: len(gone) + len(exhausted),
    }
    for addr in gone:
        assert by_address[addr].last_error.startswith("SMTP 550")
        assert "@" not in by_address[addr].last_error  # the reply quoted the address
    assert by_address[address(13)].attempts == MAX_ATTEMPTS
    assert "451" in by_address[address(13)].last_error
    assert unreachable == gone  # only the 550s, not the address that kept deferring
    assert stats.sent == len(delivered)
    assert stats.by_error.get("gone") == len(gone)
