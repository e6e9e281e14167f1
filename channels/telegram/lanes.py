"""Updates handled side by side per chat, in order within a chat, acknowledged only when stored.

One lane per chat: the updates of a chat are handled one after the other,
in the order Telegram numbered them, while other chats' lanes run at the
same time. So a chat whose handler is slow, or whose answer waits out a 429
`retry_after`, holds up only itself.

Acknowledging stays "after commit". Telegram confirms updates by offset:
`getUpdates(offset=n)` drops every update below `n`. With lanes, later
updates may be stored before earlier ones, so the offset may move only to
the lowest update not yet finished (stored, or kept as a dead letter); the
finished ones above it are remembered here and skipped when Telegram hands
them out again. An update held back because the database is away stays
unfinished, so the offset stops below it however long that takes, and a
crash at any moment loses nothing: Telegram delivers again from the lowest
unfinished update, and what was already stored is a no-op by message key.

The lanes are not the polling loop's: they outlive a restart of it (the
supervisor's), so the loop just feeds them again.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable, Iterable, Mapping
from typing import Any

log = logging.getLogger(__name__)

MAX_BACKOFF = 30.0

Handle = Callable[[Mapping[str, Any]], Awaitable[bool]]
"""Handles one raw update; True when finished (may be acknowledged), False when held."""


def chat_key(data: Mapping[str, Any]) -> Hashable:
    """The chat an update belongs to (the lane it goes in), read from the raw JSON.

    Read before parsing, so even an update the library cannot parse keeps its
    chat's order. An update without a chat (an inline query) goes by its
    sender; one with neither shares a single lane.
    """
    for kind, body in data.items():
        if kind == "update_id" or not isinstance(body, Mapping):
            continue
        message = body.get("message") if kind == "callback_query" else body
        for holder in (message, body):
            chat = holder.get("chat") if isinstance(holder, Mapping) else None
            chat_id = chat.get("id") if isinstance(chat, Mapping) else None
            if isinstance(chat_id, int):
                return chat_id
        sender = body.get("from")
        sender_id = sender.get("id") if isinstance(sender, Mapping) else None
        if isinstance(sender_id, int):
            return ("user", sender_id)
    return None


class Lanes:
    """Per-chat queues of raw updates and the offset that is safe to confirm."""

    def __init__(self, handle: Handle, *, retry_delay: float = 1.0) -> None:
        self.handle = handle
        self.retry_delay = retry_delay
        self._stop = asyncio.Event()
        self._queues: dict[Hashable, collections.deque[Mapping[str, Any]]] = {}
        self._tasks: dict[Hashable, asyncio.Task[None]] = {}
        self._unfinished: set[int] = set()
        self._finished: set[int] = set()
        self._highest: int | None = None
        self._floor: int | None = None
        self.progress = asyncio.Event()
        """Set whenever the safe offset moves on (the poller confirms at once)."""

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    @property
    def busy(self) -> bool:
        """Updates taken and not yet finished."""
        return bool(self._unfinished)

    def offset(self) -> int | None:
        """The getUpdates offset that confirms only finished updates (None: nothing seen)."""
        if self._unfinished:
            return min(self._unfinished)
        return None if self._highest is None else self._highest + 1

    def take(self, updates: Iterable[Mapping[str, Any]]) -> int:
        """Queue the updates not seen before in their chats' lanes; how many were new."""
        new = 0
        for data in updates:
            update_id = data.get("update_id")
            if not isinstance(update_id, int) or self.stopping:
                continue
            if self._floor is not None and update_id < self._floor:
                continue  # confirmed already (Telegram should not send it again)
            if update_id in self._unfinished or update_id in self._finished:
                continue  # handed out again because an earlier one is unfinished
            self._unfinished.add(update_id)
            self._highest = max(update_id, self._highest or update_id)
            key = chat_key(data)
            self._queues.setdefault(key, collections.deque()).append(data)
            if key not in self._tasks:
                self._tasks[key] = asyncio.create_task(self._run(key))
            new += 1
        return new

    async def drain(self, timeout: float) -> None:
        """Let the updates being handled finish (no new ones start); give up after `timeout`."""
        self._stop.set()
        tasks = list(self._tasks.values())
        if tasks:
            _, late = await asyncio.wait(tasks, timeout=timeout)
            for task in late:
                task.cancel()
            for task in late:
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def _run(self, key: Hashable) -> None:
        queue = self._queues[key]
        try:
            while queue and not self.stopping:
                data = queue[0]
                if not await self._until_finished(data):
                    return  # stopping while held: left unacknowledged, delivered again later
                queue.popleft()
                self._finish(int(data["update_id"]))
        finally:
            if not queue or self.stopping:
                self._queues.pop(key, None)
            self._tasks.pop(key, None)

    async def _until_finished(self, data: Mapping[str, Any]) -> bool:
        """Handle one update until it is finished; False if stopping before that."""
        delay = self.retry_delay
        while True:
            try:
                if await self.handle(data):
                    return True
            except Exception as exc:  # a bug here must not lose the update or stall others
                log.error("telegram update %s: handling raised %s; trying again",
                          data.get("update_id"), type(exc).__name__)  # fmt: skip
            if self.stopping:
                return False
            # Held (the database is away): this chat waits, the others go on.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), delay)
            delay = min(delay * 2, MAX_BACKOFF)

    def _finish(self, update_id: int) -> None:
        before = self.offset()
        self._unfinished.discard(update_id)
        self._finished.add(update_id)
        after = self.offset()
        if after is not None and after != before:
            self._floor = after
            self._finished = {u for u in self._finished if u >= after}
            self.progress.set()


class _Turn:
    __slots__ = ("lock", "users")

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.users = 0


class ChatTurns:
    """A lock per chat, forgotten when nobody holds or waits for it.

    The lanes keep a chat's polled updates in order; this keeps the other
    paths (a dead letter tried again, a webhook request) from running beside
    them in the same chat.
    """

    def __init__(self) -> None:
        self._turns: dict[Hashable, _Turn] = {}

    def __len__(self) -> int:
        return len(self._turns)

    @contextlib.asynccontextmanager
    async def of(self, chat: Hashable) -> AsyncIterator[None]:
        turn = self._turns.get(chat)
        if turn is None:
            turn = self._turns[chat] = _Turn()
        turn.users += 1
        try:
            async with turn.lock:
                yield
        finally:
            turn.users -= 1
            if not turn.users:
                del self._turns[chat]
