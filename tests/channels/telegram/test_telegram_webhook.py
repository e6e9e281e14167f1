"""Webhook mode: the stand-in POSTs updates; the secret is checked; 200 only after commit."""

from __future__ import annotations

import asyncio
import json

import pytest
from aiohttp import ClientSession

from rapport.channels.telegram.service import SECRET_HEADER
from rapport.channels.telegram.testing import BotApiStandIn
from rapport.crm.database import Database
from rapport.crm.models import Interaction
from rapport.crm.operations.dead_letters import DEAD, dead_letters
from tests.support.db_locks import impatient_database, write_lock
from tests.support.telegram_webhook import SECRET, webhook_bot
from tests.support.tg_helpers import count, interactions

DAN = 5005


async def test_webhook_mode_receives_checks_the_secret_and_stores_once(
    api: BotApiStandIn, db: Database
) -> None:
    async with webhook_bot(api, db) as (_, url):
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


async def test_webhook_keeps_an_unparseable_update_as_a_dead_letter_and_goes_on(
    api: BotApiStandIn, db: Database
) -> None:
    async with webhook_bot(api, db):
        api.user(DAN, "Dan")
        # Telegram resends a webhook update until it gets a 2xx, and holds back the rest
        # meanwhile: an update we cannot parse must be answered 200 once it is kept.
        await api.push_raw({"callback_query": {"id": "1", "data": "5"}})
        await api.send_text(DAN, "Behind the broken one")
        await api.wait_for(lambda: len(api.sent_to(DAN)) == 1)
        await api.wait_for(lambda: not api.pending)
        [letter] = dead_letters(db)
        assert (letter.kind, letter.state, letter.attempts) == ("unparseable", DEAD, 1)


async def test_the_webhook_is_a_route_of_the_one_web_application(
    api: BotApiStandIn, db: Database
) -> None:
    async with webhook_bot(api, db) as (service, url):
        base = url.removesuffix("/telegram/hook")
        async with ClientSession() as http:
            async with http.get(f"{base}/console/login") as page:  # the console, same port
                assert page.status == 200
                assert page.headers["X-Frame-Options"] == "DENY"
            # An update far above the pages' 64 KiB body limit is still an update.
            api.user(DAN, "Dan")
            big = {
                "update_id": 4242,
                "message": {
                    "message_id": 9,
                    "date": 0,
                    "chat": {"id": DAN, "type": "private"},
                    "from": {"id": DAN, "is_bot": False, "first_name": "Dan"},
                    "text": "ü" * 4000,
                    "reply_to_message": {
                        "message_id": 8,
                        "date": 0,
                        "chat": {"id": DAN, "type": "private"},
                        "text": "\u2603" * 4000 + "\\" * 20000,
                    },
                },
            }
            headers = {SECRET_HEADER: SECRET}
            assert len(json.dumps(big)) > 64 * 1024
            async with http.post(url, json=big, headers=headers) as r:
                assert r.status == 200
            # Stopping: Telegram is asked to send again, and the update is not taken.
            await service.stop()
            forged = {**big, "update_id": 4243}
            async with http.post(url, json=forged, headers=headers) as r:
                assert r.status == 503


async def test_webhook_mode_without_the_web_server_is_refused(db_url: str) -> None:
    from rapport.bot.app import WEBHOOK_NEEDS_WEB, build_app
    from rapport.crm.errors import ConfigurationError
    from rapport.crm.settings import load_settings
    from tests.support.tg_helpers import TOKEN

    with pytest.raises(ConfigurationError) as refused:
        build_app(
            load_settings(
                database_url=db_url,
                telegram_token=TOKEN,
                telegram_webhook_url="https://x.example/hook",
                telegram_webhook_secret=SECRET,
                web_port=0,
                inbound_smtp_port=0,
            )
        )
    assert str(refused.value) == WEBHOOK_NEEDS_WEB


async def test_the_webhook_answers_200_only_after_the_update_is_committed(
    api: BotApiStandIn, db: Database, db_url: str
) -> None:
    api.user(DAN, "Dan")
    impatient = impatient_database(db_url)
    try:
        async with webhook_bot(api, db, bot_db=impatient):
            with write_lock(db_url):
                await api.send_text(DAN, "Stored before it is acknowledged")
                update_id = api.last_update_id
                await api.wait_for(lambda: update_id in api.handed_out)  # POSTed to us...
                await asyncio.sleep(1.0)  # ...and answered "send it again" while locked
                assert api.pending == [update_id]
                assert api.sent_to(DAN) == []  # (PostgreSQL's lock blocks reads too)
            await api.wait_for(lambda: not api.pending, timeout=30)
            await api.wait_for(lambda: len(api.sent_to(DAN)) == 1)
        bodies = [i.body for i in interactions(db, Interaction.direction == "in")]
        assert bodies == ["Stored before it is acknowledged"]
    finally:
        impatient.dispose()
