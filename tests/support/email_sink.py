"""A real aiosmtpd server on loopback that records what it receives.

Tests script its answers per recipient (550 user unknown, 452 mailbox full,
a dropped connection) to see how the sender maps real SMTP replies.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from ssl import SSLContext
from typing import Any

import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session

DROP = "drop"
"""A scripted answer: close the connection instead of replying."""


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    session: int
    tls: bool = False
    login: object = None

    @property
    def message(self) -> EmailMessage:
        parsed = BytesParser(policy=policy.default).parsebytes(self.data)
        assert isinstance(parsed, EmailMessage)
        return parsed


@dataclass
class RecordingHandler:
    received: list[Received] = field(default_factory=list)
    rcpt_replies: dict[str, str] = field(default_factory=dict)
    data_replies: dict[str, str] = field(default_factory=dict)
    protocols: list[SMTP] = field(default_factory=list)

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        reply = self.rcpt_replies.get(address)
        if reply == DROP:
            assert server.transport is not None
            server.transport.close()
            return "421 closing"
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        for rcpt in envelope.rcpt_tos:
            if rcpt in self.data_replies:
                reply = self.data_replies[rcpt]
                if reply == DROP:
                    assert server.transport is not None
                    server.transport.close()
                return reply
        data = envelope.original_content or b""
        self.received.append(
            Received(
                str(envelope.mail_from),
                list(envelope.rcpt_tos),
                data,
                id(session),
                tls=session.ssl is not None
                or server.transport.get_extra_info("sslcontext") is not None,
                login=session.auth_data,
            )
        )
        return "250 OK"

    @property
    def sessions(self) -> int:
        return len({r.session for r in self.received})


class Sink:
    """The server, started on an ephemeral loopback port in the test's loop."""

    def __init__(self, *, ssl: SSLContext | None = None, **smtp_options: Any) -> None:
        """`ssl` wraps the port in TLS (SMTPS); `smtp_options` go to aiosmtpd's SMTP."""
        self.handler = RecordingHandler()
        self.server: asyncio.base_events.Server | None = None
        self.port = 0
        self.ssl = ssl
        self.smtp_options = smtp_options

    def _protocol(self) -> SMTP:
        protocol = SMTP(self.handler, hostname="sink", ident="sink", **self.smtp_options)
        self.handler.protocols.append(protocol)
        return protocol

    async def start(self) -> Sink:
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(self._protocol, "127.0.0.1", 0, ssl=self.ssl)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    def drop_all_connections(self) -> None:
        for protocol in self.handler.protocols:
            if protocol.transport is not None:
                protocol.transport.close()

    async def stop(self) -> None:
        self.drop_all_connections()
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()

    @property
    def received(self) -> list[Received]:
        return self.handler.received


@pytest.fixture
async def sink() -> AsyncIterator[Sink]:
    """A plain sink on loopback; tests/conftest.py makes it every module's `sink`."""
    server = await Sink().start()
    yield server
    await server.stop()
