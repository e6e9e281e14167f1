"""A small in-memory rate limit for the sign-in routes, per client address.

In-memory is enough: there is one `rapport run` per database (the web
server never runs in workers), and a restart forgetting the counts only
gives an attacker a fresh ten tries a minute.
"""

from __future__ import annotations

import time
from collections import deque


class RateLimit:
    def __init__(self, times: int, per_seconds: float) -> None:
        self.times = times
        self.per = per_seconds
        self._seen: dict[str, deque[float]] = {}

    def allow(self, key: str, now: float | None = None) -> bool:
        """Count one attempt for `key`; False when it is over the limit."""
        now = time.monotonic() if now is None else now
        seen = self._seen.setdefault(key, deque())
        while seen and seen[0] <= now - self.per:
            seen.popleft()
        if len(seen) >= self.times:
            return False
        seen.append(now)
        if len(self._seen) > 10_000:  # forget idle addresses
            self._seen = {k: v for k, v in self._seen.items() if v and v[-1] > now - self.per}
        return True
