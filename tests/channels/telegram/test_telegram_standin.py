"""The stand-in answers PTB's real requests the way Telegram does."""

from __future__ import annotations

import asyncio
import time

import pytest
from telegram import Bot, Message
from telegram.error import Conflict, Forbidden, InvalidToken

from rapport.channels.telegram.testing import BotApiStandIn
from tests.support.tg_helpers import TOKEN


async def test_media_edits_offsets_long_polls_and_webhook_conflict(api: BotApiStandIn) -> None:
    async with Bot(TOKEN, base_url=api.base_url) as bot:
        assert bot.username == "rapport_test_bot"
        api.user(7, "Eve")
        photo = await bot.send_photo(7, photo=b"\x89PNG fake", caption="our new mug")
        document = await bot.send_document(7, document=b"%PDF-1.4", filename="menu.pdf")
        assert isinstance(photo, Message) and photo.photo and photo.caption == "our new mug"
        assert document.document is not None
        assert [m.kind for m in api.sent_to(7)] == ["photo", "document"]
        text = await bot.send_message(7, "price: 10")
        edited = await bot.edit_message_text("price: 12", chat_id=7, message_id=text.message_id)
        assert isinstance(edited, Message) and edited.text == "price: 12"
        assert text.message_id == document.message_id + 1  # one sequence per chat

        first = await api.send_text(7, "one")
        await api.send_text(7, "two")
        updates = await bot.get_updates(timeout=0)
        assert [u.message.text for u in updates if u.message] == ["one", "two"]
        assert updates[0].message is not None
        assert updates[0].message.message_id == first["message_id"]
        again = await bot.get_updates(offset=updates[0].update_id + 1, timeout=0)
        assert [u.update_id for u in again] == [updates[1].update_id]  # the first is confirmed
        assert api.pending == [updates[1].update_id]

        started = time.monotonic()
        empty = await bot.get_updates(offset=updates[1].update_id + 1, timeout=1)
        assert empty == () and time.monotonic() - started >= 0.9  # a real long poll
        poll = asyncio.create_task(bot.get_updates(offset=updates[1].update_id + 1, timeout=5))
        await asyncio.sleep(0.1)
        await api.send_text(7, "three")
        assert [u.message.text for u in await poll if u.message] == ["three"]  # woken at once

        api.block(7)
        with pytest.raises(Forbidden, match="blocked"):
            await bot.send_message(7, "hello?")
        await bot.set_webhook("http://127.0.0.1:9/hook", secret_token="abc")
        with pytest.raises(Conflict):
            await bot.get_updates(timeout=0)
        await bot.delete_webhook()

    with pytest.raises(InvalidToken):
        async with Bot("999:wrong", base_url=api.base_url):
            pass
