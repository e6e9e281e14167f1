"""Polling an IMAP mailbox: the other way a business really receives mail.

Most shops already have a mailbox at a provider; Rapport reads it instead
of receiving mail itself. The mailbox is the queue: a mail is fetched with
BODY.PEEK (which leaves it unread), ingested, and only after `ingest`
committed is it flagged \\Seen. A crash in between means the next poll sees
it again and the core's idempotence on Message-ID makes that a no-op.

The standard library's imaplib runs in a worker thread: it is synchronous,
but it is complete, and a poll every minute is no load.
"""

from __future__ import annotations

import asyncio
import contextlib
import imaplib
import logging
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy.exc import SQLAlchemyError

from rapport.channels.email.receiving import store_mail
from rapport.crm.database import Database
from rapport.crm.errors import InvalidMessage
from rapport.crm.interactions.bounces import DEFAULT_SOFT_BOUNCE_LIMIT
from rapport.crm.interactions.checking import DEFAULT_MAX_CHARS

log = logging.getLogger(__name__)

REFUSED_KEYWORD = "RapportRefused"
"""Flag for mail Rapport cannot store; it stays unread for a person to read."""

DEFAULT_INTERVAL = 60.0
IMAPS_PORT = 993


@dataclass(frozen=True, slots=True)
class ImapAccount:
    host: str
    port: int
    username: str
    password: str
    folder: str = "INBOX"
    timeout: float = 30.0
    tls_context: ssl.SSLContext | None = None

    @property
    def implicit_tls(self) -> bool:
        return self.port == IMAPS_PORT


@dataclass(frozen=True, slots=True)
class PollResult:
    ingested: int = 0
    duplicates: int = 0
    refused: int = 0


class ImapPoller:
    """A `rapport.channels.lifecycle.Service` that polls one folder every `interval` seconds."""

    name = "email-imap"

    def __init__(
        self,
        db: Database,
        account: ImapAccount,
        *,
        interval: float = DEFAULT_INTERVAL,
        max_chars: int = DEFAULT_MAX_CHARS,
        soft_bounce_limit: int = DEFAULT_SOFT_BOUNCE_LIMIT,
    ) -> None:
        self.db = db
        self.account = account
        self.interval = interval
        self.max_chars = max_chars
        self.soft_bounce_limit = soft_bounce_limit
        self._stopping = threading.Event()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def poll_once(self) -> PollResult:
        """Ingest every unread mail of the folder; blocking (call it in a thread)."""
        ingested = duplicates = refused = 0
        with self._session() as imap:
            status, data = imap.uid("SEARCH", "UNSEEN", "UNKEYWORD", REFUSED_KEYWORD)
            _expect_ok(status, data, "SEARCH")
            # UIDs are ASCII digits; imaplib takes its arguments as str.
            uids = data[0].decode("ascii").split() if data and data[0] else []
            for uid in uids:
                if self._stopping.is_set():
                    break
                raw = _fetch(imap, uid)
                if raw is None:  # expunged by someone else meanwhile
                    continue
                try:
                    result = store_mail(
                        self.db,
                        raw,
                        max_chars=self.max_chars,
                        soft_bounce_limit=self.soft_bounce_limit,
                    )
                except InvalidMessage as exc:
                    log.info("IMAP mail uid %s refused as invalid", uid)
                    log.debug("IMAP mail uid %s refused: %s", uid, exc)
                    _store_flag(imap, uid, REFUSED_KEYWORD)
                    refused += 1
                    continue
                # Only now, with the interaction committed, may the mail count as read.
                _store_flag(imap, uid, "\\Seen")
                if result.duplicate:
                    duplicates += 1
                else:
                    ingested += 1
        return PollResult(ingested=ingested, duplicates=duplicates, refused=refused)

    @contextlib.contextmanager
    def _session(self) -> Iterator[imaplib.IMAP4]:
        account = self.account
        imap: imaplib.IMAP4
        if account.implicit_tls:
            imap = imaplib.IMAP4_SSL(
                account.host,
                account.port,
                ssl_context=account.tls_context,
                timeout=account.timeout,
            )
        else:
            imap = imaplib.IMAP4(account.host, account.port, timeout=account.timeout)
            if "STARTTLS" in imap.capabilities:
                imap.starttls(ssl_context=account.tls_context)
        try:
            imap.login(account.username, account.password)
            status, data = imap.select(_quoted(account.folder))
            _expect_ok(status, data, f"SELECT {account.folder}")
            yield imap
        finally:
            with contextlib.suppress(imaplib.IMAP4.error, OSError):
                imap.logout()

    async def start(self) -> None:
        self._stopping.clear()
        self._task = asyncio.create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        if self._task is not None:
            # The thread finishes the mail in hand (never half-ingested), then stops.
            await self._task
            self._task = None

    async def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                result = await asyncio.to_thread(self.poll_once)
                if result.ingested or result.refused:
                    log.info(
                        "IMAP poll: %d ingested, %d duplicate(s), %d refused",
                        result.ingested,
                        result.duplicates,
                        result.refused,
                    )
            except SQLAlchemyError as exc:
                # The mail stays unread in the mailbox; the next poll retries.
                # (The error's text quotes addresses and bodies: not logged.)
                original = getattr(exc, "orig", None) or exc
                log.warning("IMAP poll failed: database error (%s)", type(original).__name__)
                log.debug("database error detail", exc_info=True)
            except Exception as exc:
                # Network or login trouble: as above, the next poll retries.
                log.warning("IMAP poll failed: %s: %s", type(exc).__name__, exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.interval)


def _fetch(imap: imaplib.IMAP4, uid: str) -> bytes | None:
    status, data = imap.uid("FETCH", uid, "(BODY.PEEK[])")
    _expect_ok(status, data, "FETCH")
    for item in data:
        if isinstance(item, tuple) and len(item) == 2 and isinstance(item[1], bytes):
            return item[1]
    return None


def _store_flag(imap: imaplib.IMAP4, uid: str, flag: str) -> None:
    status, data = imap.uid("STORE", uid, "+FLAGS.SILENT", f"({flag})")
    _expect_ok(status, data, "STORE")


def _expect_ok(status: str, data: object, command: str) -> None:
    if status != "OK":
        raise imaplib.IMAP4.error(f"IMAP {command} failed: {status} {data!r}")


def _quoted(folder: str) -> str:
    escaped = folder.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'
