"""A recording channel for core-only tests: a real `Channel`, no network.

It keeps what it was asked to send, and can be told to fail for given
addresses with the core's typed failures, the way a real channel would.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from rapport.crm.clock import utcnow
from rapport.crm.messages import OutboundMessage, Receipt


class RecordingChannel:
    def __init__(self, name: str = "email", clock: Callable[[], datetime] = utcnow) -> None:
        self.name = name
        self.clock = clock
        self.sent: list[tuple[str, OutboundMessage, str]] = []
        self.failures: dict[str, list[Exception]] = defaultdict(list)

    def fail(self, external_id: str, *errors: Exception) -> None:
        """The next sends to this address raise these, in order."""
        self.failures[external_id].extend(errors)

    async def send(self, external_id: str, message: OutboundMessage) -> Receipt:
        pending = self.failures.get(external_id)
        if pending:
            raise pending.pop(0)
        key = f"{self.name}-out-{len(self.sent) + 1}"
        self.sent.append((external_id, message, key))
        return Receipt(channel=self.name, message_key=key, sent_at=self.clock())

    def to(self, external_id: str) -> list[OutboundMessage]:
        return [m for x, m, _ in self.sent if x == external_id]


class FileSinkChannel:
    """Appends each message to a file before returning, like a mail server's 250.

    Used by the crash tests: what is in the file was delivered, whatever the
    dispatcher managed to record before it was killed. `die_after` kills the
    process with SIGKILL right after the Nth message is delivered: the window
    between a channel's acceptance and our commit.
    """

    def __init__(
        self,
        path: Path,
        name: str = "email",
        die_after: int | None = None,
        delay: float = 0.0,
        parallel: int = 1,
    ) -> None:
        self.name = name
        self.parallel = parallel
        """Sends taken at once, like an SMTP sender's connections: the dispatcher's steps."""
        self.delay = delay
        self.path = path
        self.die_after = die_after
        self.count = 0

    async def send(self, external_id: str, message: OutboundMessage) -> Receipt:
        if self.delay:
            await asyncio.sleep(self.delay)
        self.count += 1
        key = f"sink-{os.getpid()}-{self.count}"
        with self.path.open("a") as sink:
            sink.write(json.dumps({"to": external_id, "key": key}) + "\n")
            sink.flush()
            os.fsync(sink.fileno())
        if self.die_after is not None and self.count >= self.die_after:
            os.kill(os.getpid(), 9)
        return Receipt(channel=self.name, message_key=key, sent_at=utcnow())


def sink_lines(path: Path) -> list[dict[str, str]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
