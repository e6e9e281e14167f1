"""Webhook mode: the stand-in POSTs updates; the secret is checked; 200 only after commit."""

from __future__ import annotations

import socket

from aiohttp import ClientSession

from rapport.bot.app import customer_bot
from rapport.bot.context import BotShared
from rapport.channels.telegram.service import SECRET_HEADER
from rapport.channels.telegram.testing import BotApiStandIn
from rapport.crm.database import Database
from rapport.crm.models import Interaction
from rapport.crm.operations.dead_letters import DEAD, dead_letters
from tests.support.tg_helpers import bot_settings, count, interactions

DAN = 5005
SECRET = "s3cret-Token_1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_webhook_mode_receives_checks_the_secret_and_stores_once(
    api: BotApiStandIn, db: Database
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/telegram/hook"
    settings = bot_settings(
        api,
        telegram_webhook_url=url,
        telegram_webhook_secret=SECRET,
        telegram_webhook_port=port,
    )
    service = customer_bot(settings, db, BotShared())
    await service.start()
    try:
        assert (api.webhook_url, api.webhook_secret) == (url, SECRET)
        api.user(DAN, "Dan")
        await api.send_text(DAN, "Hello from the webhook")
        await api.wait_for(lambda: len(api.sent_to(DAN)) == 1)
        await api.wait_for(lambda: not api.pending)
        await api.redeliver(api.last_update_id)
        await api.wait_for(lambda: not api.pending)
        assert [i.body for i in interactions(db, Interaction.direction == "in")] == [
            "Hello from the webhook"
        ]

        forged = {"update_id": 999, "message": api.history[api.last_update_id]["message"]}
        async with ClientSession() as http:
            for headers in ({}, {SECRET_HEADER: "wrong"}):
                async with http.post(url, json=forged, headers=headers) as response:
                    assert response.status == 403
            async with http.post(url, data="not json", headers={SECRET_HEADER: SECRET}) as r:
                assert r.status == 400
        assert count(db, Interaction, Interaction.direction == "in") == 1
    finally:
        await service.stop()


async def test_webhook_keeps_an_unparseable_update_as_a_dead_letter_and_goes_on(
    api: BotApiStandIn, db: Database
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/telegram/hook"
    settings = bot_settings(
        api, telegram_webhook_url=url, telegram_webhook_secret=SECRET, telegram_webhook_port=port
    )
    service = customer_bot(settings, db, BotShared())
    await service.start()
    try:
        api.user(DAN, "Dan")
        # Telegram resends a webhook update until it gets a 2xx, and holds back the rest
        # meanwhile: an update we cannot parse must be answered 200 once it is kept.
        await api.push_raw({"callback_query": {"id": "1", "data": "5"}})
        await api.send_text(DAN, "Behind the broken one")
        await api.wait_for(lambda: len(api.sent_to(DAN)) == 1)
        await api.wait_for(lambda: not api.pending)
        [letter] = dead_letters(db)
        assert (letter.kind, letter.state, letter.attempts) == ("unparseable", DEAD, 1)
    finally:
        await service.stop()
