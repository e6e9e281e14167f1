"""The admin's webhook page over real HTTP: a failing receiver, the failure seen, re-delivered.

A real receiver on loopback refuses the first delivery; the webhook service
(the one `rapport run` hosts) gives it up; the admin reads the failure on
the page and presses Re-deliver; the receiver then gets the same event, same
id, signed. Anonymous, wrong-role and CSRF-less requests change nothing.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from datetime import timedelta

import httpx
from sqlalchemy import select

from rapport.bot.webhook_service import WebhookService
from rapport.crm.clock import utcnow
from rapport.crm.database import Database
from rapport.crm.integrations.deliveries import RetryPolicy, list_deliveries
from rapport.crm.integrations.signing import verify
from rapport.crm.integrations.subscriptions import add_subscription
from rapport.crm.interactions.ingest import ingest
from rapport.crm.messages import InboundMessage
from rapport.crm.models import AuditEvent
from tests.support.console_client import OPERATOR, console_server, sign_in, staff
from tests.support.webhook_receiver import receiving

SECRET = "whsec_console-test-0123456789"
ONCE = RetryPolicy(base=timedelta(milliseconds=20), max_attempts=1, lease=timedelta(seconds=5))


async def until(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not await asyncio.to_thread(condition):
        assert time.monotonic() < deadline, "timed out waiting"
        await asyncio.sleep(0.02)


def redeliveries(db: Database) -> list[str]:
    with db.session() as session:
        query = select(AuditEvent.actor).where(AuditEvent.action == "webhook.redeliver")
        return list(session.scalars(query))


async def test_admin_sees_a_failed_delivery_and_redelivers_it_signed_with_the_same_id(
    db: Database,
) -> None:
    async with receiving(failing=True) as receiver:
        add_subscription(
            db, OPERATOR, url=f"{receiver.url}/hook", event_types="message.received",
            secret=SECRET,
        )  # fmt: skip
        ingest(db, InboundMessage("email", "ann@example.org", "Ann", "Hi", utcnow(), "<a1@x>"))
        sender = WebhookService(db, policy=ONCE, idle_seconds=0.05)
        await sender.start()
        try:
            await until(lambda: bool(list_deliveries(db, status="failed")))
            [failed] = list_deliveries(db, status="failed")
            async with console_server(db) as served:
                served.service.use_webhooks(sender.wake)
                ada = staff(db, "Ada", "admin", 900)
                mo = staff(db, "Mo", "manager", 901)
                async with (
                    httpx.AsyncClient(base_url=served.url) as admin,
                    httpx.AsyncClient(base_url=served.url) as manager,
                    httpx.AsyncClient(base_url=served.url) as anonymous,
                ):
                    csrf = await sign_in(admin, db, ada)
                    page = await admin.get("/console/admin/webhooks", params={"status": "failed"})
                    assert page.status_code == 200
                    assert f'data-delivery="{failed.id}" data-status="failed"' in page.text
                    assert failed.event_id in page.text and "HTTP 500" in page.text
                    assert f"{receiver.url}/hook" in page.text  # the subscription
                    assert SECRET not in page.text

                    action = f"/console/admin/webhooks/deliveries/{failed.id}/redeliver"
                    mo_csrf = await sign_in(manager, db, mo)
                    refused = [
                        await anonymous.post(action, data={"csrf": csrf}),
                        await manager.post(action, data={"csrf": mo_csrf}),
                        await manager.get("/console/admin/webhooks"),
                        await admin.post(action),
                        await admin.post(action, data={"csrf": mo_csrf}),
                    ]
                    assert [r.status_code for r in refused] == [401, 403, 403, 403, 403]
                    assert failed.event_id not in "".join(r.text for r in refused)
                    await asyncio.sleep(0.3)  # time enough for a wrongly queued delivery
                    [still] = list_deliveries(db, status="failed")
                    assert (still.id, still.attempts) == (failed.id, 1)
                    assert len(receiver.requests) == 1 and redeliveries(db) == []

                    receiver.failing = False
                    done = await admin.post(action, data={"csrf": csrf})
                    assert done.status_code == 303
                    assert done.headers["location"] == "/console/admin/webhooks?queued=1"
                    await until(lambda: len(receiver.requests) == 2)
                    await until(lambda: list_deliveries(db)[0].status == "delivered")
                    after = await admin.get(done.headers["location"])
                    assert "1 delivery(ies) queued again" in after.text
                    assert f'data-delivery="{failed.id}" data-status="delivered"' in after.text

                    none_failed = await admin.post(
                        "/console/admin/webhooks/redeliver-failed", data={"csrf": csrf}
                    )
                    assert none_failed.status_code == 400
                    assert "no such webhook delivery" in none_failed.text
        finally:
            await sender.stop()

    (_, first, body1), (path, again, body2) = receiver.requests
    assert path == "/hook" and body2 == body1
    assert again["X-Rapport-Event-Id"] == first["X-Rapport-Event-Id"] == failed.event_id
    assert json.loads(body2)["id"] == failed.event_id
    assert verify(
        SECRET, again["X-Rapport-Timestamp"], body2, again["X-Rapport-Signature"], now=time.time()
    )
    assert redeliveries(db) == [f"staff:{ada.id}:Ada"]
