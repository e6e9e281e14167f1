"""Keeping within Telegram's send limits: about 30 messages/s overall, 1/s per chat.

PTB's `AIORateLimiter` only limits group chats per chat, and a leaky bucket
lets a burst through at start; a campaign to thousands of private chats wants
even pacing instead: every send waits for its chat's turn and then for its
turn overall, so the bot never asks for more than the limits
and a 429 is the exception. When one comes anyway, the request waits the
`retry_after` Telegram gave and tries again (a few times), and that chat's
next slot moves behind the wait. Campaign messages (`rate_limit_args=BULK`)
give way to replies waiting for the overall rate.
"""

from __future__ import annotations

import asyncio
import logging
import time
import warnings
from collections.abc import Callable, Coroutine
from typing import Any

from telegram.error import RetryAfter
from telegram.ext import BaseRateLimiter
from telegram.warnings import PTBDeprecationWarning

from rapport.channels.pacing import Pacer

log = logging.getLogger(__name__)

# Methods that put a message into a chat and so count against the limits.
LIMITED_ENDPOINTS = frozenset(
    {
        "sendMessage",
        "sendPhoto",
        "sendDocument",
        "editMessageText",
        "sendMediaGroup",
        "copyMessage",
        "forwardMessage",
    }
)

Result = bool | dict[str, Any] | list[dict[str, Any]]

BULK = 1
"""`rate_limit_args` of campaign sends: they give way to replies within the overall rate."""


def retry_seconds(exc: RetryAfter) -> float:
    """`retry_after` in seconds, whichever type this PTB version returns (int or timedelta)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        wait = exc.retry_after
    return wait.total_seconds() if hasattr(wait, "total_seconds") else float(wait)


class PacedRateLimiter(BaseRateLimiter[int]):
    """A PTB rate limiter pacing sends per chat and overall, obeying 429s.

    The defaults sit a little under Telegram's published limits (29.5/s, one
    per 1.05 s per chat) so clock jitter does not cost a 429.
    """

    def __init__(
        self,
        overall_rate: float = 29.5,
        chat_rate: float = 1 / 1.05,
        max_retries: int = 3,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.overall = Pacer(overall_rate, clock)
        self.chat_rate = chat_rate
        self.chats: dict[str, Pacer] = {}
        self.chat_turns: dict[str, asyncio.Lock] = {}
        self.max_retries = max_retries
        self.clock = clock
        self.retries_after_429 = 0

    async def initialize(self) -> None:
        return None

    async def shutdown(self) -> None:
        self.chats.clear()
        self.chat_turns.clear()

    async def _send_in_turn(
        self, chat_key: str | None, urgent: bool, send: Callable[[], Coroutine[Any, Any, Result]]
    ) -> Result:
        if chat_key is None:
            await self.overall.wait(urgent)
            return await send()
        pacer = self.chats.get(chat_key)
        if pacer is None:
            if len(self.chats) > 10_000:
                self._forget_idle_chats()
            pacer = self.chats[chat_key] = Pacer(self.chat_rate, self.clock)
        turn = self.chat_turns.setdefault(chat_key, asyncio.Lock())
        # One message per chat between its chat slot and its overall slot, and the
        # chat's next slot counted from when this one really went: a campaign message
        # can wait long for an overall slot (it gives way to replies), and a reply
        # to the same chat paced from the campaign's earlier chat slot followed it
        # within the second and drew a 429 (22 of 28 in a 10-minute soak).
        # "Went" is when Telegram answered, not when the request left: on a busy
        # machine a request can take a while to arrive, and the next one, paced from
        # its start, reached Telegram 1.00 s after it (a 429 in a 10-minute soak).
        async with turn:
            await pacer.wait()
            await self.overall.wait(urgent)
            try:
                return await send()
            finally:
                pacer.push_back(self.clock() + pacer.interval)

    def _forget_idle_chats(self) -> None:
        now = self.clock()
        self.chats = {k: p for k, p in self.chats.items() if p.next_free > now}
        self.chat_turns = {
            k: t for k, t in self.chat_turns.items() if k in self.chats or t.locked()
        }

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, Result]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> Result:
        limited = endpoint in LIMITED_ENDPOINTS
        chat_key = str(data.get("chat_id")) if limited and "chat_id" in data else None
        urgent = rate_limit_args != BULK
        attempt = 0
        while True:
            try:
                if limited:
                    return await self._send_in_turn(
                        chat_key, urgent, lambda: callback(*args, **kwargs)
                    )
                return await callback(*args, **kwargs)
            except RetryAfter as exc:
                seconds = retry_seconds(exc)
                if attempt >= self.max_retries:
                    raise
                attempt += 1
                self.retries_after_429 += 1
                log.warning("Telegram asked to slow down; waiting %.1f s (%s)", seconds, endpoint)
                if chat_key is not None and chat_key in self.chats:
                    self.chats[chat_key].push_back(self.clock() + seconds)
                await asyncio.sleep(seconds)
