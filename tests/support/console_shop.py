"""A real `rapport run` with the console for browser tests: its environment (SQLite,
the Bot API stand-in, the sink as relay) and the /login link staff get in Telegram."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from rapport.channels.telegram.testing import BotApiStandIn
from tests.support.email_sink import Sink
from tests.support.shop_processes import Shop, free_port, shop_env

TOKEN = "424242:console-test"
ADA = 4242
LINK = re.compile(r"http://127\.0\.0\.1:\d+/console/login/\S+")


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


async def signed_in(browser: Any, api: BotApiStandIn, **context_options: Any) -> tuple[Any, Any]:
    """A browser context and page signed in through the bot's /login link, on the inbox."""
    link = await login_link(api)
    context = await browser.new_context(viewport={"width": 1280, "height": 860}, **context_options)
    page = await context.new_page()
    await page.goto(link)
    await page.click("button:has-text('Sign in')")
    await page.wait_for_url("**/console/inbox")
    return context, page


def console_shop(
    tmp_path: Path, sink: Sink, api: BotApiStandIn, **extra: str
) -> tuple[Shop, int, int]:
    """The shop, its web port and its inbound SMTP port."""
    web, inbound = free_port(), free_port()
    env = shop_env(
        tmp_path, f"sqlite:///{tmp_path / 'shop.db'}", sink,
        RAPPORT_WEB_PORT=str(web), RAPPORT_INBOUND_SMTP_PORT=str(inbound),
        RAPPORT_TELEGRAM_TOKEN=TOKEN, RAPPORT_TELEGRAM_API_URL=api.base_url, **extra,
    )  # fmt: skip
    return Shop(tmp_path, env), web, inbound
