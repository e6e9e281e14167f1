"""A lean SMTP sink for scale, fault and soak tests: real SMTP on loopback, scripted faults.

aiosmtpd is the reference server for the email tests, but in Python it tops
out near 1,500 mails/s on a quiet machine and far lower on a busy 2-core
one; a 20,000-mail run through it measures aiosmtpd. This sink speaks just
the SMTP our sender uses (EHLO/HELO, MAIL, RCPT, DATA with dot-unstuffing,
RSET, NOOP, QUIT) as a bare `asyncio.Protocol`, and records for every mail
it accepted the recipients and the Message-ID, which is what exactly-once
checks need.

Faults are scripted per recipient and attempt: `faults(address, attempt)`
returns the reply to give at RCPT (say "451 4.3.0 try later", "421 4.3.2
closing" which also closes the connection, "550 5.1.1 unknown"), `DROP` to
close the connection without a word, or None to accept. `attempt` counts
from 1 per address, so "fail the first time, accept the retry" is easy to
say and deterministic. `sending_quota` scripts a relay that counts mails per
second, as Amazon SES does.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field

DROP = "drop"
Faults = Callable[[str, int], str | None]

_MESSAGE_ID = re.compile(rb"^Message-ID:\s*(<[^>\r\n]*>)", re.IGNORECASE | re.MULTILINE)
_ADDRESS = re.compile(rb"<([^>]*)>")


def no_faults(address: str, attempt: int) -> str | None:
    return None


THROTTLED = "454 4.7.0 Throttling failure: Maximum sending rate exceeded."
"""What Amazon SES answers a mail over the account's sending rate."""


def sending_quota(per_second: float, clock: Callable[[], float] = time.monotonic) -> Faults:
    """A relay with a sending quota: a RCPT past `per_second` mails in the last second
    is answered `THROTTLED`, and only the mails let through count."""
    accepted: deque[float] = deque()

    def faults(address: str, attempt: int) -> str | None:
        now = clock()
        while accepted and accepted[0] <= now - 1.0:
            accepted.popleft()
        if len(accepted) >= per_second:
            return THROTTLED
        accepted.append(now)
        return None

    return faults


@dataclass(frozen=True, slots=True)
class Mail:
    recipients: tuple[str, ...]
    message_id: str
    size: int


@dataclass
class SinkRecord:
    """What the sink saw: accepted mails, RCPT attempts per address, faults given."""

    mails: list[Mail] = field(default_factory=list)
    attempts: Counter[str] = field(default_factory=Counter)
    faults_given: Counter[str] = field(default_factory=Counter)
    connections: int = 0
    keep_bodies: bool = False
    bodies: list[bytes] = field(default_factory=list)

    def per_recipient(self) -> Counter[str]:
        return Counter(r for mail in self.mails for r in mail.recipients)


class _Session(asyncio.Protocol):
    def __init__(self, record: SinkRecord, faults: Faults) -> None:
        self.record = record
        self.faults = faults
        self.transport: asyncio.Transport | None = None
        self.buffer = b""
        self.in_data = False
        self.recipients: list[str] = []
        self.mail_from = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.record.connections += 1
        transport.write(b"220 sink ESMTP\r\n")

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while self.transport is not None and not self.transport.is_closing():
            if self.in_data:
                if not self._take_data():
                    return
                continue
            line, sep, rest = self.buffer.partition(b"\r\n")
            if not sep:
                return
            self.buffer = rest
            self._command(line)

    def _reply(self, text: str) -> None:
        assert self.transport is not None
        self.transport.write(text.encode() + b"\r\n")

    def _command(self, line: bytes) -> None:
        verb = line[:4].upper()
        if verb in (b"EHLO", b"HELO"):
            self._reset()
            self._reply("250-sink\r\n250 8BITMIME" if verb == b"EHLO" else "250 sink")
        elif verb == b"MAIL":
            self._reset()
            self.mail_from = True
            self._reply("250 OK")
        elif verb == b"RCPT":
            self._rcpt(line)
        elif verb == b"DATA":
            if not self.recipients:
                self._reply("503 need RCPT first")
                return
            self.in_data = True
            self._reply("354 go ahead")
        elif verb == b"RSET":
            self._reset()
            self._reply("250 OK")
        elif verb == b"NOOP":
            self._reply("250 OK")
        elif verb == b"QUIT":
            self._reply("221 bye")
            assert self.transport is not None
            self.transport.close()
        else:
            self._reply("502 not implemented")

    def _rcpt(self, line: bytes) -> None:
        if not self.mail_from:
            self._reply("503 need MAIL first")
            return
        found = _ADDRESS.search(line)
        address = found.group(1).decode("utf-8", "replace").lower() if found else ""
        self.record.attempts[address] += 1
        reply = self.faults(address, self.record.attempts[address])
        if reply is None:
            self.recipients.append(address)
            self._reply("250 OK")
            return
        self.record.faults_given[reply if reply == DROP else reply[:3]] += 1
        assert self.transport is not None
        if reply == DROP:
            self.transport.abort()
            return
        self._reply(reply)
        if reply.startswith("421"):
            self.transport.close()

    def _take_data(self) -> bool:
        end = self.buffer.find(b"\r\n.\r\n")
        if end < 0:
            return False
        body = self.buffer[: end + 2].replace(b"\r\n..", b"\r\n.")
        self.buffer = self.buffer[end + 5 :]
        self.in_data = False
        found = _MESSAGE_ID.search(body)
        message_id = found.group(1).decode("ascii", "replace") if found else ""
        self.record.mails.append(Mail(tuple(self.recipients), message_id, len(body)))
        if self.record.keep_bodies:
            self.record.bodies.append(body)
        self._reset()
        self._reply("250 OK queued")
        return True

    def _reset(self) -> None:
        self.recipients = []
        self.mail_from = False

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None


class LeanSmtpSink:
    """Started on an ephemeral loopback port in the running loop; `record` holds the mail."""

    def __init__(self, faults: Faults = no_faults, *, keep_bodies: bool = False) -> None:
        self.record = SinkRecord(keep_bodies=keep_bodies)
        self.faults = faults
        self.port = 0
        self._server: asyncio.base_events.Server | None = None
        self._sessions: list[_Session] = []

    def _session(self) -> _Session:
        session = _Session(self.record, self.faults)
        self._sessions = [s for s in self._sessions if s.transport is not None]
        self._sessions.append(session)
        return session

    def drop_all_connections(self) -> None:
        for session in self._sessions:
            if session.transport is not None:
                session.transport.abort()

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> LeanSmtpSink:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._session, host, port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            self.drop_all_connections()
            await self._server.wait_closed()

    async def __aenter__(self) -> LeanSmtpSink:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
