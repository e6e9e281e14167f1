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
from tests.browser import screenshots, shots_folder
from tests.email_sink import Sink
from tests.shop_processes import Shop, free_port, running, shop_env, wait_for
from tests.test_email_inbound_smtp import send

TOKEN = "424242:console-test"
ADA = 4242
LINK = re.compile(r"http://127\.0\.0\.1:\d+/console/login/\S+")


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


async def login_link(api: BotApiStandIn) -> str:
    api.user(ADA, "Ada")
    before = len(api.sent_to(ADA))
    await api.send_text(ADA, "/login")
    await api.wait_for(
        lambda: len(api.sent_to(ADA)) > before and "/console/login/" in api.sent_to(ADA)[-1].text
    )
    found = LINK.search(api.sent_to(ADA)[-1].text)
    assert found is not None
    return found.group(0)


def console_shop(
    tmp_path: Path, sink: Sink, api: BotApiStandIn, **extra: str
) -> tuple[Shop, int, int]:
    web, inbound = free_port(), free_port()
    env = shop_env(
        tmp_path, f"sqlite:///{tmp_path / 'shop.db'}", sink,
        RAPPORT_WEB_PORT=str(web), RAPPORT_INBOUND_SMTP_PORT=str(inbound),
        RAPPORT_TELEGRAM_TOKEN=TOKEN, RAPPORT_TELEGRAM_API_URL=api.base_url, **extra,
    )  # fmt: skip
    return Shop(tmp_path, env), web, inbound


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
