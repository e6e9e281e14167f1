"""The staff console in a real browser against a real `rapport run` (SQLite).

Chromium (Playwright) is the agent's browser; the Bot API stand-in is Telegram,
where the agent sends /login; an aiosmtpd sink is the shop's relay; the
customer writes to the inbound SMTP server. Assertions are on behaviour (what
the page says, what the sink receives), never on pixels; the screenshots are
for people (docs/console.md).
"""

from __future__ import annotations

import re
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from typing import Any

from rapport.channels.telegram.testing import BotApiStandIn
from tests.support.browser import screenshots, shots_folder
from tests.support.console_shop import ADA, TOKEN, console_shop, login_link, signed_in
from tests.support.email_inbound_smtp import send
from tests.support.email_sink import Sink
from tests.support.shop_processes import running, wait_for


def customer_mail(text: str, *, subject: str, reply_to: str | None = None) -> EmailMessage:
    mail = EmailMessage()
    mail["From"] = "Ann Lee <ann@example.org>"
    mail["To"] = "hello@corner-shop.example"
    mail["Subject"] = subject
    mail["Message-ID"] = make_msgid(domain="example.org")
    if reply_to:
        mail["In-Reply-To"] = reply_to
    mail.set_content(text)
    return mail


async def test_sign_in_by_login_link_and_answer_an_email_in_its_thread(
    tmp_path: Path, sink: Sink, browser: Any
) -> None:
    shots = shots_folder(tmp_path)
    async with BotApiStandIn(TOKEN) as api:
        shop, web, inbound = console_shop(tmp_path, sink, api)
        await shop.rapport("db", "upgrade")
        await shop.rapport(
            "staff", "add", "--name", "Ada", "--role", "admin", "--telegram-id", str(ADA)
        )
        async with running(shop) as log:
            assert f"Staff console: http://127.0.0.1:{web}/console/" in log.read_text()
            first = customer_mail(
                "My parcel arrived broken. Can you help?", subject="Broken parcel"
            )
            await send(inbound, first.as_bytes(), mail_from="ann@example.org")

            link = await login_link(api)
            context = await browser.new_context(viewport={"width": 1280, "height": 860})
            page = await context.new_page()
            await page.goto(f"http://127.0.0.1:{web}/console/inbox")
            assert "/console/login" in page.url  # anonymous: sent to sign in
            await screenshots(page, shots, "sign-in")
            await page.goto(link)  # opening the link signs nobody in (previews fetch links)
            await page.click("button:has-text('Sign in')")
            await page.wait_for_url("**/console/inbox")

            row = page.locator("tr[data-conversation]", has_text="Ann Lee")
            await row.wait_for()
            text = await row.inner_text()
            assert "My parcel arrived broken" in text and "email" in text and "negative" in text
            await screenshots(page, shots, "inbox")

            await row.locator("a").first.click()
            await page.wait_for_url("**/console/conversations/*")
            await page.fill("textarea[name=text]", "Sorry, Ann! A new one is on its way today.")
            await page.click("form.reply button")
            await page.locator(".done", has_text="Sent to the customer").wait_for()

            await wait_for(
                lambda: any(r.message["To"] == "ann@example.org" for r in sink.received),
                "the reply",
            )
            [reply] = [r for r in sink.received if r.message["To"] == "ann@example.org"]
            assert reply.message["Subject"] == "Re: Broken parcel"
            assert reply.message["In-Reply-To"] == first["Message-ID"]
            assert "A new one is on its way" in reply.message.get_body(("plain",)).get_content()

            # The customer answers in the thread: the open page shows it without a reload.
            again = customer_mail("Thank you, that is kind!", subject="Re: Broken parcel",
                                  reply_to=reply.message["Message-ID"])  # fmt: skip
            await send(inbound, again.as_bytes(), mail_from="ann@example.org")
            await page.locator("#thread li.in", has_text="that is kind").wait_for(timeout=30_000)
            await screenshots(page, shots, "conversation")

            await page.click("button:has-text('Resolve')")
            await page.locator(".done", has_text="Resolved").wait_for()
            await context.close()


CSV = """email,name,consent,consent_source,consent_at
ann@example.org,Ann Lee,yes,signed at the till,2026-11-01
bob@example.org,Bob Wu,no,,
cy@example.org,Cy Chan,yes,web form,2026-11-20
"""


def cli_rows(text: str) -> dict[str, tuple[str, str]]:
    """`rapport report programmes`' table as {measure: (this period, the one before)}."""
    rows = {}
    for line in text.splitlines():
        cells = re.split(r"\s{2,}", line.strip())  # columns are set apart by two spaces or more
        if len(cells) == 3 and cells[0] != "figure":
            rows[cells[0]] = (cells[1], cells[2])
    return rows


async def test_segment_campaign_and_report_from_the_console(
    tmp_path: Path, sink: Sink, browser: Any
) -> None:
    shots = shots_folder(tmp_path)
    async with BotApiStandIn(TOKEN) as api:
        shop, web, _ = console_shop(tmp_path, sink, api)
        (tmp_path / "customers.csv").write_text(CSV, encoding="utf-8")
        await shop.rapport("customers", "import", "customers.csv")
        await shop.rapport(
            "staff", "add", "--name", "Ada", "--role", "manager", "--telegram-id", str(ADA),
            "--email", "ada@corner-shop.example",
        )  # fmt: skip
        async with running(shop):
            context, page = await signed_in(browser, api)

            # A segment: the count follows the rule as it is built.
            await page.goto(f"http://127.0.0.1:{web}/console/segments")
            await page.select_option("select[name=field0]", "marketing_consent")
            await page.select_option("select[name=op0]", "==")
            await page.fill("input[name=value0]", "true")
            await page.locator("#live-count", has_text="2").wait_for()
            assert "Ann Lee" in await page.inner_text(
                "#live"
            ) and "Bob" not in await page.inner_text("#live")
            await page.fill("input[name=value0]", "false")
            await page.locator("#live-count", has_text="1").wait_for()
            await page.fill("input[name=value0]", "true")
            await page.locator("#live-count", has_text="2").wait_for()
            await page.fill("input[name=name]", "consenting")
            await screenshots(page, shots, "segments")
            await page.click("button:has-text('Save segment')")
            await page.wait_for_url("**/console/segments")
            saved = page.locator("#saved-segments tr", has_text="consenting")
            assert (await saved.locator(".count").inner_text()) == "2"

            # A campaign: created, previewed for a chosen customer, test-sent, run.
            await page.goto(f"http://127.0.0.1:{web}/console/campaigns")
            await page.fill("input[name=name]", "Winter offer")
            await page.select_option("select[name=kind]", "announcement")
            await page.select_option("select[name=segment]", "consenting")
            await page.select_option("select[name=channel]", "email")
            await page.fill("textarea[name=template]", "Hi {{ first_name }}, 10% off this week.")
            await page.click("button:has-text('Create')")
            await page.wait_for_url("**/console/campaigns/*")
            campaign_page = page.url
            await page.locator("#preview", has_text="Hi Ann, 10% off").wait_for()
            await page.select_option("select[name=customer]", label="#3 Cy Chan")
            await page.locator("#preview", has_text="Hi Cy, 10% off").wait_for()
            assert "Subject: Winter offer" in await page.inner_text("#preview")
            await page.fill("input[name=address]", "owner@corner-shop.example")
            await page.click("button:has-text('Send test')")
            await page.locator("#test-said", has_text="counts in no report").wait_for()
            await wait_for(
                lambda: any(r.message["Subject"] == "[TEST] Winter offer" for r in sink.received),
                "the test",
            )
            await screenshots(page, shots, "campaign")

            await page.click("button:has-text('Run now')")
            await page.wait_for_url("**/runs/*")
            await page.locator("[data-status=sent]", has_text="2").wait_for(timeout=60_000)
            await page.locator(".done", has_text="Finished").wait_for()
            assert await page.inner_text("[data-status=failed]") == "0"
            await screenshots(page, shots, "run")
            await page.goto(campaign_page)  # the run listed with its counts
            run_row = page.locator("tbody tr", has=page.locator("a[href*='/runs/']"))
            cells = await run_row.locator("td").all_inner_texts()
            assert cells[0].startswith("#") and cells[2:] == ["0", "2", "0", "0"]
            offers = [r for r in sink.received if r.message["Subject"] == "Winter offer"]
            assert sorted(r.message["To"] for r in offers) == ["ann@example.org", "cy@example.org"]

            # The report: the same figures as `rapport report programmes`.
            await page.goto(f"http://127.0.0.1:{web}/console/reports?days=30")
            shown = {}
            for row in await page.locator("#programmes tbody tr").all():
                cells = [c.strip() for c in (await row.inner_text()).split("\t")]
                shown[cells[0]] = (cells[1], cells[2])
            cli = cli_rows(await shop.rapport("report", "programmes", "--days", "30"))
            assert shown == cli and shown["delivered"] == ("2", "0")
            csv = await page.request.get(
                f"http://127.0.0.1:{web}/console/reports/export/campaigns.csv?days=30"
            )
            assert csv.status == 200 and "Winter offer" in await csv.text()
            chart = await page.request.get(
                f"http://127.0.0.1:{web}/console/reports/chart/participation.png?days=30"
            )
            assert chart.status == 200 and (await chart.body())[:4] == b"\x89PNG"
            await screenshots(page, shots, "reports")

            await page.goto(f"http://127.0.0.1:{web}/console/customers/1")
            await page.locator("h1", has_text="Ann Lee").wait_for()
            body = await page.inner_text("main")
            assert (
                "signed at the till" in body
                and "Winter offer" in body
                and "ann@example.org" in body
            )
            await screenshots(page, shots, "customer")

            await page.goto(f"http://127.0.0.1:{web}/console/admin")
            assert "does not allow" in await page.inner_text("body")  # a manager is no admin
            await context.close()
