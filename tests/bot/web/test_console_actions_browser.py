"""Staff actions, campaign editing and the desk/value/retention reports in a real browser.

A real `rapport run` (SQLite) and Chromium, as in test_console_browser: an
admin records consent with its source, merges two customers and erases one
(then the CLI no longer lists them); edits a campaign's template and sees
the live preview follow, schedules, pauses and resumes it; and reads the
desk, value and retention reports, whose numbers and CSV downloads are
compared with the CLI's `--format csv` for the same range.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from rapport.channels.telegram.testing import BotApiStandIn
from rapport.crm.clock import utcnow
from tests.support.browser import screenshots, shots_folder
from tests.support.console_shop import ADA, TOKEN, console_shop, signed_in
from tests.support.email_inbound_smtp import send
from tests.support.email_sink import Sink
from tests.support.shop_processes import running

CUSTOMERS = """email,name,consent,consent_source,consent_at
ann@example.org,Ann Lee,yes,signed at the till,2026-11-01
bob@example.org,Bob Wu,no,,
cy@example.org,Cy Chan,yes,web form,2026-11-20
ann.lee@work.example,Ann L,no,,
"""
ORDERS = """customer,amount,currency,date,order_id
ann@example.org,120.00,EUR,2026-10-03,A-1
ann@example.org,80.50,EUR,2026-11-12,A-2
bob@example.org,15.00,EUR,2026-11-20,B-1
"""
MAIL = b"""From: Bob Wu <bob@example.org>\r
To: hello@corner-shop.example\r
Subject: Opening hours\r
Message-ID: <bob-1@example.org>\r
\r
Are you open on Sunday?\r
"""


def rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


async def table(page: Any, report: str) -> list[list[str]]:
    """A report table's cells as the page shows them."""
    found = []
    for row in await page.locator(f"table[data-report={report}] tbody tr").all():
        found.append([c.strip() for c in (await row.inner_text()).split("\t")])
    return found


async def download(page: Any, url: str) -> str:
    got = await page.request.get(url)
    assert got.status == 200 and got.headers["content-type"].startswith("text/csv")
    return str(await got.text())


async def test_customer_actions_campaign_edit_and_reports(
    tmp_path: Path, sink: Sink, browser: Any
) -> None:
    shots = shots_folder(tmp_path)
    async with BotApiStandIn(TOKEN) as api:
        shop, web, inbound = console_shop(tmp_path, sink, api)
        base = f"http://127.0.0.1:{web}/console"
        (tmp_path / "customers.csv").write_text(CUSTOMERS, encoding="utf-8")
        await shop.rapport("customers", "import", "customers.csv")
        (tmp_path / "orders.csv").write_text(ORDERS, encoding="utf-8")
        await shop.rapport("import", "orders", "orders.csv")
        await shop.rapport(
            "staff", "add", "--name", "Ada", "--role", "admin", "--telegram-id", str(ADA),
            "--email", "ada@corner-shop.example",
        )  # fmt: skip
        await shop.rapport("segments", "create", "everyone", "--rule", '{"all": []}')
        await shop.rapport(
            "campaigns", "create", "Winter offer", "--kind", "announcement",
            "--segment", "everyone", "--channel", "email",
            "--template", "Hi {{ first_name }}, 10% off this week.",
        )  # fmt: skip
        async with running(shop):
            await send(inbound, MAIL, mail_from="bob@example.org")
            context, page = await signed_in(browser, api, accept_downloads=True)
            await page.locator("tr[data-conversation]", has_text="Bob Wu").wait_for()

            # Consent Bob gave on paper, with its source: it joins his history.
            await page.goto(f"{base}/customers/2")
            await page.fill("#consent-form input[name=source]", "signed form at the till")
            await page.click("#consent-form button:has-text('Record consent')")
            await page.locator(".done", has_text="Consent recorded").wait_for()
            history = await page.inner_text("main")
            assert "staff:signed form at the till" in history
            assert "marketing consent now: yes" in history
            await screenshots(page, shots, "customer-actions")

            # Ann wrote from work too: merge #4 into #1.
            await page.goto(f"{base}/customers/1")
            await page.fill("#merge-form input[name=absorb]", "4")
            await page.check("#merge-form input[name=confirm]")
            await page.click("#merge-form button:has-text('Merge')")
            await page.locator(".done", has_text="Customers merged").wait_for()
            assert "ann.lee@work.example" in await page.inner_text("main")
            gone = await page.request.get(f"{base}/customers/4")
            assert gone.status == 404

            # Cy asked to be forgotten: the admin types the number to confirm.
            await page.goto(f"{base}/customers/3")
            await page.click("a:has-text('Erase this customer')")
            await page.wait_for_url("**/customers/3/erase")
            await page.fill("#erase-form input[name=confirm]", "3")
            await screenshots(page, shots, "erase")
            await page.click("#erase-form button:has-text('Erase for good')")
            await page.locator(".done", has_text="Customer erased").wait_for()
            assert "Cy Chan" not in await page.inner_text("main")
            assert (await page.request.get(f"{base}/customers/3")).status == 404
            listed = rows(await shop.rapport("customers", "list", "--format", "csv"))
            assert sorted(r["name"] for r in listed) == ["Ann Lee", "Bob Wu"]
            assert not any("cy@example.org" in (r["contact"] or "") for r in listed)

            # The campaign: the preview follows the template as it is typed.
            await page.goto(f"{base}/campaigns/1")
            await page.select_option("#edit-form select[name=customer]", label="#1 Ann Lee")
            await page.locator("#preview", has_text="Hi Ann, 10% off").wait_for()
            await page.fill("textarea[name=template]", "Dear {{ first_name }}, mulled wine is in!")
            await page.locator("#preview", has_text="Dear Ann, mulled wine is in!").wait_for()
            await page.select_option("#edit-form select[name=customer]", label="#2 Bob Wu")
            await page.locator("#preview", has_text="Dear Bob, mulled wine").wait_for()
            assert "To: bob@example.org" in await page.inner_text("#preview")
            await screenshots(page, shots, "campaign-edit")
            await page.click("#edit-form button:has-text('Save changes')")
            await page.locator(".done", has_text="Changes saved").wait_for()
            shown = await shop.rapport("campaigns", "show", "Winter offer")
            assert "Dear {{ first_name }}, mulled wine is in!" in shown

            await page.select_option("#schedule-form select[name=mode]", "cron")
            await page.fill("#schedule-form input[name=cron]", "0 10 * * 1")
            await page.click("#schedule-form button:has-text('Save schedule')")
            await page.locator(".done", has_text="Schedule saved").wait_for()
            assert "cron '0 10 * * 1' UTC" in await page.inner_text("#schedule-words")
            listed = rows(await shop.rapport("campaigns", "list", "--format", "csv"))
            [offer] = [r for r in listed if r["name"] == "Winter offer"]
            next_run = await page.inner_text("#next-run")
            assert next_run.endswith("10:00 UTC") and next_run[:10] in str(offer)
            await page.click("button:has-text('Pause')")
            await page.locator(".done", has_text="Paused").wait_for()
            assert await page.inner_text("#campaign-status") == "paused"
            assert await page.inner_text("#next-run") == "— (paused)"
            await page.click("button:has-text('Resume')")
            await page.locator(".done", has_text="Resumed").wait_for()
            assert await page.inner_text("#campaign-status") == "active"

            # Reports: the CLI's numbers for the same range, and its CSV byte for byte.
            today = utcnow().date().isoformat()
            await page.goto(f"{base}/reports/desk?from={today}&to={today}")
            cli = await shop.rapport(
                "report", "desk", "--from", today, "--to", today, "--format", "csv"
            )
            cells = await table(page, "desk")
            cli_rows = rows(cli)
            assert [c[0] for c in cells] == [r["group"] for r in cli_rows]
            assert cells[0][1] == cli_rows[0]["conversations"] == "1"
            web_csv = rows(await download(page, f"{base}/reports/desk.csv?from={today}&to={today}"))
            counts = ("group", "conversations", "complaints", "reopened", "follow_ups_overdue")
            assert [{k: r[k] for k in counts} for r in web_csv] == [
                {k: r[k] for k in counts} for r in cli_rows
            ]
            await screenshots(page, shots, "desk-report")

            await shop.rapport("customers", "values", "--recompute")
            await page.goto(f"{base}/reports/value")
            cli = await shop.rapport("customers", "values", "--format", "csv")
            assert await download(page, f"{base}/reports/value.csv") == cli
            by_tier = {r["tier"]: r["customers"] for r in rows(cli)}
            assert {c[0]: c[1] for c in await table(page, "value")} == by_tier
            assert sum(int(n) for n in by_tier.values()) == 2  # Ann and Bob; Cy is erased
            spend = {r["tier"]: r["spend_amount"] for r in rows(cli)}
            assert sum(float(v) for v in spend.values()) == 215.5  # both customers' orders
            await screenshots(page, shots, "value-report")

            await page.goto(f"{base}/reports/retention?months=3&dormancy_days=60")
            for name, command in (
                ("retention", ("report", "retention", "--months", "3", "--dormancy-days", "60")),
                ("churn", ("report", "churn", "--months", "3", "--dormancy-days", "60")),
                ("acquisition", ("report", "acquisition", "--months", "3")),
            ):
                cli = await shop.rapport(*command, "--format", "csv")
                url = f"{base}/reports/{name}.csv?months=3&dormancy_days=60"
                assert await download(page, url) == cli, name
                first_column = [c[0] for c in await table(page, name)]
                assert len(first_column) == len(rows(cli)), name
            await screenshots(page, shots, "retention-report")
            await context.close()
