"""Pacing sends to a rate: one turn at a time, replies before campaign messages.

Telegram's overall and per-chat limits (`rapport.channels.telegram.ratelimit`)
and a mail relay's sending quota (`rapport.channels.email.outbound`) are both
paced by `Pacer`: even spacing rather than a bucket that lets a burst through,
so the other side never sees more than the rate it allows.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable

REPLY_WINDOW = 1.0
"""Seconds after a reply during which campaign messages leave every other slot free."""


class Pacer:
    """Lets callers through one at a time, at least `interval` apart.

    A caller takes its turn only when the one before it has gone, so after a
    stall of the event loop the queue resumes at the paced rate instead of
    sending every overdue slot at once (a clump Telegram, or a mail relay
    counting its quota per second, would refuse).
    """

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = 1.0 / rate
        self.next_free = 0.0
        self.clock = clock
        self._turn = asyncio.Lock()
        self._urgent_waiting = 0
        self._no_urgent = asyncio.Event()
        self._no_urgent.set()
        self._last_urgent = -math.inf
        self._spare: float | None = None
        """A slot a campaign message left free for a reply."""

    async def wait(self, urgent: bool = True) -> None:
        """Wait for a turn; a non-urgent caller (a campaign) gives way to urgent ones.

        Replies to customers are urgent: the bot answers an update before it
        takes the next, so a reply stuck behind campaign messages holds up
        every customer writing in after it (and staff answering by mail wait
        for theirs to leave). So a campaign message lets urgent
        callers already waiting go first, and while replies are flowing (one
        in the last `REPLY_WINDOW` seconds) it leaves the slot before its own
        free for the next reply: campaigns slow down, replies do not queue.
        """
        if urgent:
            self._urgent_waiting += 1
            self._no_urgent.clear()
        try:
            while True:
                if not urgent:
                    await self._no_urgent.wait()
                async with self._turn:
                    if not urgent and self._urgent_waiting:
                        continue  # one came in while we queued: after it
                    slot, now = self._take_slot(urgent), self.clock()
                    if urgent:
                        if slot > now:
                            await asyncio.sleep(slot - now)
                        return
                # a campaign message waits outside the turn, so a reply may use
                # the spare slot it left before its own
                if slot > now:
                    await asyncio.sleep(slot - now)
                return
        finally:
            if urgent:
                self._urgent_waiting -= 1
                if not self._urgent_waiting:
                    self._no_urgent.set()

    def _take_slot(self, urgent: bool) -> float:
        now = self.clock()
        if urgent and self._spare is not None and self._spare + self.interval > now:
            slot, self._spare = max(now, self._spare), None
            self._last_urgent = slot
            return slot
        slot = max(now, self.next_free)
        if not urgent and slot - self._last_urgent < REPLY_WINDOW:
            self._spare = slot
            slot += self.interval
        # Spaced from the slot, not from when sleep returned: a late
        # wake-up must not slow every later message down.
        self.next_free = slot + self.interval
        if urgent:
            self._last_urgent = slot
        return slot

    def push_back(self, until: float) -> None:
        self.next_free = max(self.next_free, until)
