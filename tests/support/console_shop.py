"""A real `rapport run` with the console for browser tests: its environment (SQLite,
the Bot API stand-in, the sink as relay) and the /login link staff get in Telegram."""

from __future__ import annotations

import re
from pathlib import Path

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
