"""The webhook refuses every wrong secret with 403, whatever bytes the header holds."""

from __future__ import annotations

import asyncio
import json
import socket

from rapport.bot.app import customer_bot
from rapport.bot.context import BotShared
from rapport.channels.telegram.testing import BotApiStandIn
from rapport.crm.database import Database
from rapport.crm.models import Interaction
from tests.support.tg_helpers import bot_settings, count

SECRET = "s3cret-Token_1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def raw_post(port: int, path: str, secret: bytes, body: bytes) -> int:
    """POST with the secret header's bytes exactly as given (no client would send them)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        b"POST " + path.encode() + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/json\r\nX-Telegram-Bot-Api-Secret-Token: "
        + secret
        + b"\r\nContent-Length: "
        + str(len(body)).encode()
        + b"\r\nConnection: close\r\n\r\n"
        + body
    )
    await writer.drain()
    status = await reader.readline()
    writer.close()
    return int(status.split()[1])


async def test_non_ascii_and_wrong_secrets_get_403(api: BotApiStandIn, db: Database) -> None:
    port = free_port()
    settings = bot_settings(
        api,
        telegram_webhook_url=f"http://127.0.0.1:{port}/hook",
        telegram_webhook_secret=SECRET,
        telegram_webhook_port=port,
    )
    service = customer_bot(settings, db, BotShared())
    await service.start()
    try:
        update = {
            "update_id": 1,
            "message": {
                "message_id": 1,
                "date": 0,
                "chat": {"id": 77, "type": "private"},
                "from": {"id": 77, "is_bot": False, "first_name": "Eve"},
                "text": "forged",
            },
        }
        body = json.dumps(update).encode()
        for secret in (
            "s3cret–Token_1".encode(),  # an en dash
            "geheim-ü".encode(),
            b"\xff\xfe\x80",
            b"",
        ):
            assert await raw_post(port, "/hook", secret, body) == 403, secret
        assert count(db, Interaction) == 0
    finally:
        await service.stop()
