"""Customers writing in over both channels, as a sending MTA and Telegram would.

Used by the soak run and the ingest crash tests. Each message carries a
unique token in its text so the database can be checked for it exactly once.

- Email: one SMTP session per mail to Rapport's inbound server. Like a real
  sending MTA, a mail that gets no 250 (connection refused or dropped, a 4xx)
  is tried again until it does; the 250 comes only after Rapport committed,
  so "acknowledged" means "stored".
- Telegram: updates are queued at the Bot API stand-in, which hands them out
  until Rapport confirms them with a getUpdates offset (after its commit), as
  Telegram does.

Latency is from the first try (the update's arrival) to the acknowledgement;
`offered_wall` lets a caller measure to the commit instead (the interaction's
`recorded_at`), which for Telegram comes before the bot's answer is sent and
the update confirmed.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from email.message import EmailMessage

import aiosmtplib

from rapport.channels.telegram.testing import BotApiStandIn


@dataclass
class Tracked:
    """One inbound message: its token, when it was first offered, when it was acknowledged."""

    token: str
    channel: str
    offered: float
    offered_wall: float = 0.0
    """Wall-clock time of the offer, to compare with times the database recorded."""
    acked: float | None = None
    tries: int = 0

    @property
    def latency(self) -> float | None:
        return None if self.acked is None else self.acked - self.offered


@dataclass
class Traffic:
    """Every message offered so far, by token."""

    messages: dict[str, Tracked] = field(default_factory=dict)

    def track(self, token: str, channel: str) -> Tracked:
        tracked = Tracked(token, channel, time.monotonic(), time.time())
        self.messages[token] = tracked
        return tracked

    def unacked(self) -> list[Tracked]:
        return [m for m in self.messages.values() if m.acked is None]

    def latencies(self, channel: str | None = None) -> list[float]:
        return sorted(
            m.latency
            for m in self.messages.values()
            if m.latency is not None and (channel is None or m.channel == channel)
        )


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile of sorted `values` (0 when empty)."""
    if not values:
        return 0.0
    rank = max(0, min(len(values) - 1, round(p / 100 * len(values) + 0.5) - 1))
    return values[rank]


class MailFeeder:
    def __init__(self, traffic: Traffic, host: str, port: int, *, retry_wait: float = 0.2) -> None:
        self.traffic = traffic
        self.host = host
        self.port = port
        self.retry_wait = retry_wait

    async def send(self, sender: str, text: str, token: str) -> Tracked:
        """Deliver one mail, trying again until Rapport answers 250."""
        tracked = self.traffic.track(token, "email")
        mail = EmailMessage()
        mail["From"] = sender
        mail["To"] = "shop@example.com"
        mail["Subject"] = f"Question {token}"
        mail["Message-ID"] = f"<{token}@customers.example>"
        mail.set_content(f"{text} [{token}]")
        while True:
            tracked.tries += 1
            try:
                await aiosmtplib.send(mail, hostname=self.host, port=self.port, timeout=30)
            except (aiosmtplib.SMTPException, OSError, TimeoutError):
                await asyncio.sleep(self.retry_wait)
                continue
            tracked.acked = time.monotonic()
            return tracked


class TelegramFeeder:
    def __init__(self, traffic: Traffic, api: BotApiStandIn) -> None:
        self.traffic = traffic
        self.api = api
        self._pending: list[tuple[int, Tracked]] = []

    async def send(self, chat_id: int, text: str, token: str) -> Tracked:
        """Queue one customer message; `watch` notes when Rapport confirms it."""
        if chat_id not in self.api.users:
            self.api.user(chat_id, f"Chat{chat_id}")
        tracked = self.traffic.track(token, "telegram")
        tracked.tries = 1
        await self.api.send_text(chat_id, f"{text} [{token}]")
        self._pending.append((self.api.last_update_id, tracked))
        return tracked

    def note_confirmations(self) -> None:
        now = time.monotonic()
        confirmed = self.api.confirmed_up_to
        still: list[tuple[int, Tracked]] = []
        for update_id, tracked in self._pending:
            if update_id <= confirmed:
                tracked.acked = now
            else:
                still.append((update_id, tracked))
        self._pending = still

    async def watch(self, interval: float = 0.005) -> None:
        """Run as a task: stamps acknowledgement times as offsets advance."""
        while True:
            self.note_confirmations()
            await asyncio.sleep(interval)
