"""Outgoing webhooks end to end: the outbox, a real receiver that fails at first, signatures."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from aiohttp import web
from sqlalchemy import func, select

from rapport.bot.webhook_service import WebhookService
from rapport.crm.campaigns.runs import start_run
from rapport.crm.database import Database
from rapport.crm.desk.resolution import resolve
from rapport.crm.dispatch.dispatcher import Dispatcher
from rapport.crm.errors import InvalidMessage, NotFound
from rapport.crm.integrations.deliveries import (
    RetryPolicy,
    claim_due,
    list_deliveries,
    record_failure,
    redeliver,
)
from rapport.crm.integrations.events import EventType, emit
from rapport.crm.integrations.signing import verify
from rapport.crm.integrations.subscriptions import add_subscription, remove_subscription
from rapport.crm.interactions.ingest import ingest, ingest_batch
from rapport.crm.messages import InboundMessage
from rapport.crm.models import Conversation, WebhookDelivery, WebhookEvent
from rapport.crm.privacy.consent import staff_consent
from rapport.crm.privacy.requests import erase_customer
from rapport.crm.staff.audit import Actor
from tests.support.campaign_fixtures import T0, campaign, customer, everyone
from tests.support.recording import RecordingChannel

ADMIN = Actor("cli:test")
SECRET = "whsec_test-secret-0123456789"
FAST = RetryPolicy(
    base=timedelta(milliseconds=20), cap=timedelta(milliseconds=200), lease=timedelta(seconds=5)
)


@dataclass
class Receiver:
    """An HTTP endpoint that answers 503 to its first `failures` requests, then 200."""

    failures: int
    requests: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)
    url: str = ""

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.requests.append((request.path, dict(request.headers), body))
        if len(self.requests) <= self.failures:
            return web.Response(status=503, text="busy")
        return web.Response(status=204)


@asynccontextmanager
async def receiving(failures: int) -> AsyncIterator[Receiver]:
    receiver = Receiver(failures)
    app = web.Application()
    app.router.add_post("/{tail:.*}", receiver.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    receiver.url = f"http://127.0.0.1:{port}"
    try:
        yield receiver
    finally:
        await runner.cleanup()


async def until(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not await asyncio.to_thread(condition):
        assert time.monotonic() < deadline, "timed out waiting"
        await asyncio.sleep(0.02)


def settled(db: Database) -> bool:
    with db.session() as s:
        return not s.scalar(select(func.count()).where(WebhookDelivery.status != "delivered"))


async def test_every_event_arrives_signed_once_per_id_though_the_first_attempts_fail(
    db: Database,
) -> None:
    async with receiving(failures=3) as receiver:
        everything = add_subscription(
            db, ADMIN, url=f"{receiver.url}/all", event_types="*", secret=SECRET
        )
        consent_only = add_subscription(
            db, ADMIN, url=f"{receiver.url}/consent", event_types="consent.changed", secret=SECRET
        )
        # what happens: a customer writes and consents, answers a survey, says STOP, is
        # resolved, erased; a replay and a refused batch change nothing
        everyone(db)
        ann = customer(db, "ann@example.com", text="Hello, where is my parcel?")
        survey = campaign(db, "CSAT", kind="feedback", survey_kind="csat", template="Rate us 1-5")
        start_run(db, survey.id, now=T0 + timedelta(hours=1))
        channel = RecordingChannel()
        await Dispatcher(db, {"email": channel}).drain()
        [(_, _, key)] = channel.sent
        answer = InboundMessage(
            "email", "ann@example.com", None, "4 - quick and friendly", T0 + timedelta(hours=2),
            "<a1@x>", in_reply_to=key,
        )  # fmt: skip
        ingest(db, answer)
        ingest(db, answer)  # a replay: no event
        with pytest.raises(InvalidMessage):
            ingest_batch(db, [
                InboundMessage("email", "bob@example.com", None, "hi", T0, "<b1@x>"),
                InboundMessage("email", "bob@example.com", None, "", T0, "<b2@x>"),
            ])  # fmt: skip
        ingest(
            db,
            InboundMessage(
                "email", "ann@example.com", None, "STOP", T0 + timedelta(hours=3), "<a2@x>"
            ),
        )
        staff_consent(db, ADMIN, ann, "email", granted=True, source="signed form at the till")
        with db.session() as s:
            [conversation] = s.scalars(select(Conversation.id)).all()
        resolve(db, ADMIN, conversation)
        erase_customer(db, ADMIN, ann)

        service = WebhookService(db, policy=FAST, idle_seconds=0.05)
        await service.start()
        try:
            await until(lambda: settled(db))
        finally:
            await service.stop()

    expected = Counter({
        "message.received": 3,  # hello, the survey answer, STOP
        "conversation.created": 1,
        "survey.answered": 1,
        "consent.changed": 3,  # the fixture's grant, STOP, the staff's grant
        "conversation.resolved": 1,
        "customer.erased": 1,
    })  # fmt: skip
    with db.session() as s:
        outbox = {e.event_id: e.type for e in s.scalars(select(WebhookEvent))}
    assert Counter(outbox.values()) == expected  # exactly the events that happened

    received: dict[str, dict[str, dict[str, object]]] = {"/all": {}, "/consent": {}}
    now = time.time()
    for path, headers, body in receiver.requests:
        assert verify(
            SECRET, headers["X-Rapport-Timestamp"], body, headers["X-Rapport-Signature"], now=now
        )
        assert not verify(
            "another secret",
            headers["X-Rapport-Timestamp"],
            body,
            headers["X-Rapport-Signature"],
            now=now,
        )
        event = json.loads(body)
        assert headers["X-Rapport-Event-Id"] == event["id"]
        assert headers["X-Rapport-Event"] == event["type"]
        assert headers["Content-Type"] == "application/json"
        previous = received[path].setdefault(event["id"], event)
        assert previous == event  # a retry carries the same event
        text = body.decode()
        assert "ann@example.com" not in text and "quick and friendly" not in text
    assert len(receiver.requests) > len(received["/all"]) + len(received["/consent"])  # retries
    # deduplicated by id: every event once, nothing else
    assert {i: e["type"] for i, e in received["/all"].items()} == outbox
    assert {i: e["type"] for i, e in received["/consent"].items()} == {
        i: t for i, t in outbox.items() if t == "consent.changed"
    }
    answered = next(e for e in received["/all"].values() if e["type"] == "survey.answered")
    assert answered["data"]["customer_id"] == ann and answered["data"]["score"] == 4  # type: ignore[index]
    assert {d.subscription_id for d in list_deliveries(db, limit=100)} == {
        everything.id,
        consent_only.id,
    }
    assert service.delivered == len(outbox) + expected["consent.changed"]
    assert service.failed_attempts == 3


def _outbox(db: Database, n: int) -> None:
    with db.transaction() as s:
        payloads = [{"customer_id": i} for i in range(n)]
        emit(s.connection(), EventType.CUSTOMER_ERASED, payloads, now=T0)


def test_concurrent_claims_never_share_a_delivery(db: Database) -> None:
    add_subscription(db, ADMIN, url="http://127.0.0.1:9/", event_types="*")
    _outbox(db, 200)
    claimed: list[int] = []
    lock = threading.Lock()
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            while batch := claim_due(db, limit=7, policy=FAST):
                with lock:
                    claimed.extend(d.id for d in batch)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(claimed) == 200 == len(set(claimed))


def test_back_off_gives_up_after_the_last_attempt_and_redeliver_starts_again(db: Database) -> None:
    sub = add_subscription(db, ADMIN, url="http://127.0.0.1:9/", event_types="customer.erased")
    _outbox(db, 1)
    policy = RetryPolicy(base=timedelta(seconds=10), cap=timedelta(minutes=1), max_attempts=3)
    clock = T0
    delays = []
    for attempt in (1, 2, 3):
        [due] = claim_due(db, now=clock, policy=policy)
        assert due.attempt == attempt
        assert claim_due(db, now=clock, policy=policy) == []  # leased: nobody else gets it
        retry_at = record_failure(db, due, 500, "HTTP 500", now=clock, policy=policy)
        if attempt < 3:
            assert retry_at is not None
            delays.append((retry_at - clock).total_seconds())
            assert claim_due(db, now=retry_at - timedelta(seconds=1), policy=policy) == []
            clock = retry_at
        else:
            assert retry_at is None
    assert 5 <= delays[0] <= 10 and 10 <= delays[1] <= 20  # exponential, with jitter
    [view] = list_deliveries(db)
    assert (view.status, view.attempts, view.last_status) == ("failed", 3, 500)
    assert claim_due(db, now=clock + timedelta(days=1), policy=policy) == []
    assert redeliver(db, ADMIN, all_failed=True, now=clock) == 1
    [again] = claim_due(db, now=clock, policy=policy)
    assert again.attempt == 1
    assert remove_subscription(db, ADMIN, sub.id) == 1
    with pytest.raises(NotFound):
        redeliver(db, ADMIN, all_failed=True)


def test_no_subscriber_no_event(db: Database) -> None:
    customer(db, "ann@example.com")
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(WebhookEvent)) == 0


async def test_rapport_run_delivers_webhooks(db_url: str) -> None:
    """The worker is part of `rapport run`: an event committed by another process arrives."""
    from rapport.bot.runner import run
    from rapport.crm.settings import load_settings

    settings = load_settings(_env_file=None, database_url=db_url, web_port=0)
    db = Database(db_url)
    stop = asyncio.Event()
    try:
        async with receiving(failures=0) as receiver:
            add_subscription(db, ADMIN, url=receiver.url, event_types="message.received")
            running = asyncio.create_task(run(settings, inbound=[], stop=stop))
            try:
                ingest(db, InboundMessage("email", "ann@example.com", None, "Hi", T0, "<r1@x>"))
                await until(lambda: len(receiver.requests) == 1)
            finally:
                stop.set()
                await running
        [(_, headers, _)] = receiver.requests
        assert headers["X-Rapport-Event"] == "message.received"
    finally:
        db.dispose()
