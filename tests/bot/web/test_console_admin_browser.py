"""The Admin pages in a real browser, against a real `rapport run` (SQLite).

An admin signed in through the bot's /login link reads the health page
(the services this `rapport run` started and the tasks `rapport health`
lists, live), then the webhook page: a mail arrived, its `message.received`
delivery failed at a receiver that was down, the page shows the failure;
the receiver comes back, the admin presses Re-deliver, and the receiver
gets the same event id again, signed, and the page shows it delivered.
Screenshots of Admin, the audit trail, Health and Webhooks at both widths.
"""

from __future__ import annotations

import asyncio
import csv
import io
from pathlib import Path
from typing import Any

from rapport.channels.telegram.testing import BotApiStandIn
from tests.support.browser import screenshots, shots_folder
from tests.support.console_shop import ADA, TOKEN, console_shop, signed_in
from tests.support.email_inbound_smtp import send
from tests.support.email_sink import Sink
from tests.support.shop_processes import running, wait_for
from tests.support.webhook_receiver import receiving

MAIL = b"""From: Bob Wu <bob@example.org>\r
To: hello@corner-shop.example\r
Subject: Opening hours\r
Message-ID: <bob-admin-1@example.org>\r
\r
Are you open on Sunday?\r
"""


def cells(text: str) -> list[str]:
    return [c.strip() for c in text.split("\t")]


async def table_rows(page: Any, table_id: str) -> list[list[str]]:
    return [cells(await r.inner_text()) for r in await page.locator(f"#{table_id} tbody tr").all()]


async def test_admin_reads_health_and_redelivers_a_failed_webhook(
    tmp_path: Path, sink: Sink, browser: Any
) -> None:
    shots = shots_folder(tmp_path)
    async with BotApiStandIn(TOKEN) as api, receiving(failing=True) as receiver:
        shop, web, inbound = console_shop(tmp_path, sink, api)
        base = f"http://127.0.0.1:{web}/console"
        await shop.rapport(
            "staff", "add", "--name", "Ada", "--role", "admin", "--telegram-id", str(ADA),
        )  # fmt: skip
        await shop.rapport(
            "webhooks", "add", f"{receiver.url}/hooks", "--events", "message.received",
            "--secret", "corner-shop-signing-secret",
        )  # fmt: skip
        async with running(shop), asyncio.timeout(180):
            await send(inbound, MAIL, mail_from="bob@example.org")
            context, page = await signed_in(browser, api)

            await page.goto(f"{base}/admin")
            assert "Ada" in await page.inner_text("main")
            await screenshots(page, shots, "admin")
            await page.goto(f"{base}/admin/audit")
            assert "console.sign_in" in await page.inner_text("main")
            await screenshots(page, shots, "audit")

            # Health: what this process started, and every task `rapport health` lists.
            await page.goto(f"{base}/admin/health")
            services = {row[0]: row[1] for row in await table_rows(page, "health")}
            assert services.get("telegram") == "on" and services.get("web") == "on", services
            listed = list(
                csv.DictReader(io.StringIO(await shop.rapport("health", "--format", "csv")))
            )
            shown = {row[0]: row[1] for row in await table_rows(page, "tasks")}
            assert listed and {r["task"]: r["live"] for r in listed} == shown
            assert set(shown.values()) == {"yes"}, shown
            await screenshots(page, shots, "health")

            # The receiver was down when the mail's event went out: the page says so.
            await wait_for(lambda: len(receiver.requests) >= 1, "the first webhook attempt")
            event_id = receiver.requests[0][1]["X-Rapport-Event-Id"]
            await page.goto(f"{base}/admin/webhooks")
            row = page.locator("#deliveries tbody tr[data-delivery]").first
            await row.wait_for()
            assert "message.received" in await row.inner_text()
            while "500" not in await row.inner_text():  # the attempt's outcome is recorded
                await page.reload()
                row = page.locator("#deliveries tbody tr[data-delivery]").first
            await screenshots(page, shots, "webhooks")

            receiver.failing = False
            before = len(receiver.requests)
            await row.locator("button:has-text('Re-deliver')").click()
            await page.locator(".done", has_text="queued again").wait_for()
            await wait_for(lambda: len(receiver.requests) > before, "the re-delivery")
            assert receiver.requests[-1][1]["X-Rapport-Event-Id"] == event_id
            assert receiver.requests[-1][1]["X-Rapport-Signature"]
            while await page.locator("#deliveries tr[data-status=delivered]").count() == 0:
                await page.reload()
            await context.close()
    audit = await shop.rapport("audit", "list", "--format", "csv")
    assert "webhook.redeliver" in audit
