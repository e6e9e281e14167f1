"""Telegram's webhook as one route of the process's HTTP application.

The Telegram channel serves no HTTP of its own: in webhook mode it exposes
`webhook_path` and `accept_webhook(secret, body) -> status`
(rapport.channels.telegram.service), and this route hands each POST on that
path to it, so the console, the API, the public pages and the webhook share
one port behind one TLS proxy. The channel checks the secret and answers 200
only after the update is committed; this layer only translates.
"""

from __future__ import annotations

from typing import Protocol

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from rapport.channels.telegram.service import SECRET_HEADER

MAX_UPDATE = 1024 * 1024
"""Largest update body taken: a long message quoting another is well under it."""

ANSWERS = {
    400: "not a Telegram update",
    403: "forbidden",
    500: "not stored; send it again",
    503: "not receiving yet; send it again",
}


class TelegramHook(Protocol):
    """What the Telegram service offers the web application in webhook mode."""

    @property
    def webhook_path(self) -> str | None: ...

    async def accept_webhook(self, secret: str | None, body: bytes) -> int: ...


def telegram_router(hook: TelegramHook, path: str) -> APIRouter:
    """POST `path` → the channel; the body is read whole (the app's guard bounds it)."""
    router = APIRouter()

    @router.post(path, include_in_schema=False)
    async def telegram_webhook(request: Request) -> Response:
        status = await hook.accept_webhook(request.headers.get(SECRET_HEADER), await request.body())
        if status == 200:
            return Response(status_code=200)
        return PlainTextResponse(ANSWERS.get(status, "refused"), status_code=status)

    return router
