"""The webhook refuses every wrong secret with 403, whatever bytes the header holds."""

from __future__ import annotations

import asyncio
import json
from urllib.parse import urlsplit

from rapport.channels.telegram.testing import BotApiStandIn
from rapport.crm.database import Database
from rapport.crm.models import Interaction
from tests.support.telegram_webhook import webhook_bot
from tests.support.tg_helpers import count


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
    async with webhook_bot(api, db, path="/hook") as (_, url):
        port = urlsplit(url).port
        assert port is not None
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
