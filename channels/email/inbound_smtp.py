"""Rapport's own SMTP server: mail routed to it is ingested before we say 250.

A shop points an MX (or a forwarding rule of its mail provider) at this
server. SMTP gives us the one guarantee we need for "nothing lost": the
sending server keeps the mail and retries until we answer 250, so we answer
250 only once `ingest` has committed, 4xx when our side failed (try again
later) and 5xx when the mail itself can never be stored (a clear bounce).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, AnyStr

from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy.exc import SQLAlchemyError

from rapport.channels.email.receiving import Stored, store_mail
from rapport.crm.database import Database
from rapport.crm.errors import ConfigurationError, InvalidMessage
from rapport.crm.interactions.bounces import DEFAULT_SOFT_BOUNCE_LIMIT
from rapport.crm.interactions.checking import DEFAULT_MAX_CHARS

log = logging.getLogger(__name__)

DEFAULT_MAX_BYTES = 32 * 1024 * 1024
"""Largest mail accepted (SIZE), enough for a 20 MB attachment in base64."""

SERVER_NAME = "rapport"
STORE_THREADS = 4
"""Mails stored at once: each is one short transaction, so four threads store hundreds
a second; more would only wait on the database, whose connection pool the rest of the
process shares, and each would hold its own memory."""


class IngestHandler:
    """aiosmtpd handler: parse and ingest in a worker thread, then answer."""

    def __init__(
        self,
        db: Database,
        *,
        max_chars: int = DEFAULT_MAX_CHARS,
        soft_bounce_limit: int = DEFAULT_SOFT_BOUNCE_LIMIT,
    ) -> None:
        self.db = db
        self.max_chars = max_chars
        self.soft_bounce_limit = soft_bounce_limit

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or envelope.content or b""
        if isinstance(raw, str):
            raw = raw.encode("utf-8", "surrogateescape")
        sender = envelope.mail_from
        try:
            # Parsing a 10 MB mail and the database round trip both block:
            # a thread keeps other sessions flowing meanwhile.
            result = await asyncio.to_thread(self._store, raw, sender)
        except InvalidMessage as exc:
            # The reason may quote the sender's address: not at INFO.
            log.info("inbound mail refused as invalid")
            log.debug("inbound mail refused: %s", _reason(exc))
            return f"554 5.6.0 Message refused: {_reason(exc)}"
        except SQLAlchemyError as exc:
            # SQLAlchemy's message quotes the statement's parameters (addresses,
            # text): name the error at ERROR, keep the details for DEBUG.
            log.error("inbound mail not stored: database error (%s)", _error_name(exc))
            log.debug("database error detail", exc_info=True)
            return "451 4.3.0 Temporary failure storing the message, try again later"
        except Exception:
            log.exception("inbound mail not stored: unexpected error")
            return "451 4.3.0 Temporary failure, try again later"
        if result.duplicate:
            log.info("inbound mail was a replay (%s)", result.kind)
        return "250 2.0.0 Message accepted"

    def _store(self, raw: bytes, envelope_sender: str | None) -> Stored:
        return store_mail(
            self.db,
            raw,
            envelope_sender=envelope_sender,
            max_chars=self.max_chars,
            soft_bounce_limit=self.soft_bounce_limit,
        )


class InboundSmtpService:
    """The SMTP server as a `rapport.channels.lifecycle.Service`, on a loop of its own.

    The server runs in its own thread with its own event loop, and so its own
    pool of threads to store mail in: a mail's turn never waits behind the
    app's other work on the main loop (Telegram chats, campaign
    bookkeeping, the console), which shares the main loop's pool. The sending
    server waits for our 250 with a connection open; the sooner it has it,
    the fewer connections it holds.
    """

    name = "email-inbound-smtp"

    def __init__(
        self,
        db: Database,
        host: str,
        port: int,
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
        max_chars: int = DEFAULT_MAX_CHARS,
        timeout: float = 300,
        soft_bounce_limit: int = DEFAULT_SOFT_BOUNCE_LIMIT,
    ) -> None:
        self.handler = IngestHandler(db, max_chars=max_chars, soft_bounce_limit=soft_bounce_limit)
        self.host = host
        self.port = port
        self.max_bytes = max_bytes
        self.timeout = timeout
        self._server: asyncio.base_events.Server | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def _protocol(self) -> SMTP:
        return PrintableReplies(
            self.handler,
            data_size_limit=self.max_bytes,
            hostname=SERVER_NAME,
            ident="Rapport ESMTP",
            timeout=self.timeout,
        )

    async def start(self) -> None:
        loop = asyncio.new_event_loop()
        loop.set_default_executor(
            ThreadPoolExecutor(max_workers=STORE_THREADS, thread_name_prefix="smtp-store")
        )
        thread = threading.Thread(target=loop.run_forever, name=self.name, daemon=True)
        thread.start()
        try:
            await self._on_own_loop(loop, self._listen())
        except BaseException:
            await self._stop_loop(loop, thread)
            raise
        self._loop, self._thread = loop, thread
        log.info("inbound SMTP listening on %s:%d", self.host, self.bound_port)

    async def _listen(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            self._server = await loop.create_server(self._protocol, host=self.host, port=self.port)
        except OSError as exc:
            raise ConfigurationError(
                f"inbound SMTP cannot listen on {self.host}:{self.port} ({exc.strerror or exc}); "
                "change RAPPORT_INBOUND_SMTP_HOST or RAPPORT_INBOUND_SMTP_PORT "
                "(0 turns the server off)"
            ) from None

    @property
    def bound_port(self) -> int:
        """The real port (useful when 0-ish ephemeral ports are used in tests)."""
        if self._server is None or not self._server.sockets:
            return self.port
        address: Any = self._server.sockets[0].getsockname()
        return int(address[1])

    async def stop(self) -> None:
        loop, thread, self._loop, self._thread = self._loop, self._thread, None, None
        if loop is None or thread is None:
            return
        await self._on_own_loop(loop, self._close())
        await self._stop_loop(loop, thread)

    async def _close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    @staticmethod
    async def _on_own_loop(
        loop: asyncio.AbstractEventLoop, work: Coroutine[Any, Any, None]
    ) -> None:
        await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(work, loop))

    @staticmethod
    async def _stop_loop(loop: asyncio.AbstractEventLoop, thread: threading.Thread) -> None:
        """Stop the server's loop, its sessions cancelled and its store threads finished."""

        async def wind_down() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await loop.shutdown_default_executor()

        await InboundSmtpService._on_own_loop(loop, wind_down())
        loop.call_soon_threadsafe(loop.stop)
        await asyncio.to_thread(thread.join)
        loop.close()


class PrintableReplies(SMTP):
    """aiosmtpd's server whose every reply line is printable ASCII (RFC 5321 4.2).

    aiosmtpd echoes an unknown command back (`500 Error: command "…" not
    recognized`), control characters included: a client sending a NUL got a
    malformed reply. Anything outside printable ASCII becomes `?`.
    """

    async def push(self, status: AnyStr) -> None:
        text = status.decode("ascii", "replace") if isinstance(status, bytes) else status
        await super().push(_printable(text))


def _printable(text: str) -> str:
    return "".join(ch if " " <= ch <= "~" else "?" for ch in text)


def _error_name(exc: SQLAlchemyError) -> str:
    original = getattr(exc, "orig", None)
    return type(original if original is not None else exc).__name__


def _reason(exc: Exception) -> str:
    """An exception's message fit for one SMTP reply line: printable ASCII (RFC 5321 4.2).

    The reason may quote an IDN address or an en dash; sent as is, aiosmtpd
    fails to encode it and the client gets a malformed `500 Error` instead.
    Anything outside printable ASCII becomes `?`.
    """
    text = _printable(" ".join(str(exc).split()))
    return text[:400] or type(exc).__name__
