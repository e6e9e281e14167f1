"""The outbound email channel: `rapport.crm.channel.Channel` over aiosmtplib.

Connections are kept open between messages (a handful per sender, used in
turn) because an SMTP handshake, and a TLS one even more, costs more than
the mail itself. SMTP's answers are mapped onto the core's three failures so
the dispatcher knows, from the type alone, whether to retry, give up, or
mark the address unreachable.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import math
import re
import ssl
import time
from collections import deque
from dataclasses import dataclass

import aiosmtplib

from rapport.channels.email.rendering import MailRenderer
from rapport.channels.pacing import Pacer
from rapport.crm.channel import DeliveryFailure, PermanentFailure, RecipientGone, TransientFailure
from rapport.crm.clock import utcnow
from rapport.crm.customers.identity import EMAIL, normalise_email
from rapport.crm.errors import InvalidMessage
from rapport.crm.messages import OutboundMessage, Receipt
from rapport.crm.settings import Settings, SmtpSecurity

log = logging.getLogger(__name__)

IDLE_CHECK_SECONDS = 30.0
"""A connection idle this long gets a NOOP before use: servers drop idle clients."""

AUTH_RETRY_SECONDS = 300.0
_ENHANCED = re.compile(r"^\s*([245])\.(\d{1,3})\.(\d{1,3})\b")
_GONE_CODES = frozenset({550, 551, 553})
_THROTTLING = re.compile(r"throttl|\brate\b|rate-?limit|too many|slow down", re.IGNORECASE)
"""How relays word a 4xx for sending too fast (SES: "Maximum sending rate exceeded")."""
SLOW_DOWN = 0.8
"""After a throttling reply, the share of the last second's accepted mails to pace to."""
THROTTLED_HINT = "the server limits the sending rate: set RAPPORT_SMTP_MAX_PER_SECOND"
_ADDRESS_IN_TEXT = re.compile(r"<?[^\s<>@]+@[^\s<>]+>?")
_PLAIN_ADDRESS = re.compile(
    r"(?=.{3,254}$)[a-z0-9_+-]{1,64}(\.[a-z0-9_+-]{1,64})*"
    r"@([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}"
)
"""Lower-case ASCII dot-atom addresses: what normalisation leaves unchanged."""


@dataclass(frozen=True, slots=True)
class SmtpServer:
    """Where and how to reach the relay; `tls_context` lets tests trust their own CA."""

    hostname: str
    port: int
    security: SmtpSecurity = SmtpSecurity.STARTTLS
    username: str | None = None
    password: str | None = None
    timeout: float = 30.0
    tls_context: ssl.SSLContext | None = None


class EmailSender:
    """Sends one message per call; safe to call from many tasks at once."""

    name = EMAIL

    def __init__(
        self,
        server: SmtpServer,
        mail_from: str,
        *,
        from_name: str | None = None,
        connections: int = 1,
        max_per_second: float | None = None,
    ) -> None:
        if connections < 1:
            raise ValueError("an email sender needs at least one connection")
        if max_per_second is not None and max_per_second <= 0:
            raise ValueError("an email sender's rate must be above 0 mails/s")
        self.server = server
        self.renderer = MailRenderer(mail_from, from_name)
        self._envelope_from = smtp_address(mail_from)
        self._connections = connections
        self.max_per_second = max_per_second
        """The relay's quota, this process's share of it: a relay that counts mails per
        second answers the excess with 4xx (Amazon SES: 454 "Maximum sending rate
        exceeded"), each answer a failed attempt, and a delivery fails for good after
        `dispatch_max_attempts` of them. Lowered when the relay throttles anyway
        (`_slow_down`)."""
        self._idle: asyncio.LifoQueue[_Connection] | None = None
        self._pace: Pacer | None = None
        self._taken: deque[float] = deque()
        """When the relay accepted each mail of the last second: what a slow-down starts from."""
        self._slowed_at = -math.inf

    @property
    def parallel(self) -> int:
        """Sends this sender takes at once: one per pooled connection.

        The dispatcher sends a step of a campaign this many at a time, so
        every connection has a mail in flight while the others wait for
        their server's answer (`rapport.crm.dispatch.dispatcher`).
        """
        return self._connections

    @classmethod
    def from_settings(cls, settings: Settings) -> EmailSender:
        if not settings.smtp_host or not settings.mail_from:
            raise ValueError("RAPPORT_SMTP_HOST and RAPPORT_MAIL_FROM must both be set")
        server = SmtpServer(
            hostname=settings.smtp_host,
            port=settings.smtp_port,
            security=settings.smtp_tls,
            username=settings.smtp_username,
            password=(
                settings.smtp_password.get_secret_value() if settings.smtp_password else None
            ),
        )
        return cls(
            server,
            settings.mail_from,
            from_name=settings.business_name,
            connections=settings.smtp_connections,
            max_per_second=settings.smtp_max_per_second,
        )

    async def send(self, external_id: str, message: OutboundMessage) -> Receipt:
        """Hand one mail to the relay; the receipt's key is the mail's Message-ID."""
        address = smtp_address(external_id)
        if self.max_per_second is not None:
            await self._pacer().wait(urgent=not message.marketing)
        message_id, data = self.renderer.render(address, message)
        await self.send_bytes(address, data, message_id)
        return Receipt(channel=EMAIL, message_key=message_id, sent_at=utcnow())

    async def send_bytes(self, address: str, data: bytes, message_id: str) -> None:
        """Send pre-rendered bytes over a pooled connection, mapping SMTP's errors."""
        pool = self._pool()
        connection = await pool.get()
        try:
            await connection.ensure_open()
            await connection.transact(self._envelope_from, address, data)
        except aiosmtplib.SMTPException as exc:
            failure = classify(exc)
            if isinstance(failure, TransientFailure):
                connection.drop()
            if is_throttling(exc):
                self._slow_down()
            log.warning("mail %s not sent: %s", _tag(message_id), failure)
            raise failure from exc
        except asyncio.CancelledError:
            connection.drop()  # cancelled mid-dialogue: the session's state is unknown
            raise
        except (OSError, TimeoutError) as exc:
            connection.drop()
            log.warning("mail %s not sent: connection failed (%s)", _tag(message_id), exc)
            raise TransientFailure(f"SMTP connection failed: {exc}") from exc
        finally:
            connection.last_used = time.monotonic()
            pool.put_nowait(connection)
        self._took(connection.last_used)
        if log.isEnabledFor(logging.DEBUG):  # the tag is a hash: not for every mail unasked
            log.debug("mail %s sent", _tag(message_id))

    async def close(self) -> None:
        """Say QUIT on every open connection."""
        if self._idle is None:
            return
        while not self._idle.empty():
            await self._idle.get_nowait().quit()
        self._idle = None
        self._pace = None

    def _took(self, now: float) -> None:
        self._taken.append(now)
        self._taken_in_last_second(now)

    def _taken_in_last_second(self, now: float) -> int:
        taken = self._taken
        while taken and taken[0] <= now - 1.0:
            taken.popleft()
        return len(taken)

    def _slow_down(self) -> None:
        """The relay said we send too fast: from now on, a little under what it took.

        Without this, a campaign through a relay with a quota nobody set
        (RAPPORT_SMTP_MAX_PER_SECOND) was answered 454 for nearly every mail
        past the first second's, each a failed attempt, and its retries came
        back as one burst again. Paced to 0.8 of the mails the relay accepted
        in the last second (at least one a second), after a second's pause for
        the relay's count to run out, only the mails already on their way
        when the first refusal came wait for a retry. One step per
        second: the sends in flight meet the same limit. It stays for the
        process's life; the setting is the way to say the real quota.
        """
        now = time.monotonic()
        if now - self._slowed_at < 1.0:
            return
        self._slowed_at = now
        rate = SLOW_DOWN * self._taken_in_last_second(now)
        if self.max_per_second is not None:
            rate = min(rate, SLOW_DOWN * self.max_per_second)
        self.max_per_second = rate = max(1.0, rate)
        pace = self._pacer()
        pace.interval = 1.0 / rate
        pace.push_back(now + 1.0)  # the relay's count of the last second runs out first
        log.warning(
            "the SMTP server throttles our mail: sending at most %.1f a second from now on "
            "(set RAPPORT_SMTP_MAX_PER_SECOND to the provider's quota)",
            rate,
        )

    def _pacer(self) -> Pacer:
        # Made on first use, as the pool is: its lock belongs to the loop that sends.
        if self._pace is None:
            assert self.max_per_second is not None
            self._pace = Pacer(self.max_per_second)
        return self._pace

    def _pool(self) -> asyncio.LifoQueue[_Connection]:
        # Created on first use so the queue belongs to the loop that sends.
        # LIFO: the most recently used connection is the least likely to be stale.
        if self._idle is None:
            self._idle = asyncio.LifoQueue()
            for _ in range(self._connections):
                self._idle.put_nowait(_Connection(self.server))
        return self._idle


class _Connection:
    """One SMTP session, opened on demand and reopened after a drop."""

    def __init__(self, server: SmtpServer) -> None:
        self.server = server
        self.smtp: aiosmtplib.SMTP = self._client()
        self.last_used = 0.0

    def _client(self) -> aiosmtplib.SMTP:
        server = self.server
        return aiosmtplib.SMTP(
            hostname=server.hostname,
            port=server.port,
            username=server.username,
            password=server.password,
            timeout=server.timeout,
            use_tls=server.security is SmtpSecurity.TLS,
            start_tls=server.security is SmtpSecurity.STARTTLS,
            tls_context=server.tls_context,
        )

    async def ensure_open(self) -> None:
        if self.smtp.is_connected and time.monotonic() - self.last_used > IDLE_CHECK_SECONDS:
            try:
                await self.smtp.noop()
            except (aiosmtplib.SMTPException, OSError):
                self.drop()
        if not self.smtp.is_connected:
            await self.smtp.connect()
        if self.smtp.is_ehlo_or_helo_needed:
            await self.smtp.ehlo()

    async def transact(self, sender: str, recipient: str, data: bytes) -> None:
        """MAIL, RCPT, DATA for one mail whose addresses are already checked.

        aiosmtplib's `sendmail` re-parses both addresses with the stdlib's
        address parser and re-normalises line ends to compute SIZE on every
        call, which costs about as much as the rest of the transaction;
        our addresses are plain and our bytes already end lines with CRLF.
        """
        smtp = self.smtp
        mail_args = [b"FROM:<" + sender.encode("ascii") + b">"]
        if smtp.supports_extension("size"):
            mail_args.append(b"SIZE=%d" % len(data))
        try:
            response = await smtp.execute_command(b"MAIL", *mail_args)
            if response.code != 250:
                raise aiosmtplib.SMTPSenderRefused(response.code, response.message, sender)
            response = await smtp.execute_command(
                b"RCPT", b"TO:<" + recipient.encode("ascii") + b">"
            )
            if response.code not in (250, 251):
                raise aiosmtplib.SMTPRecipientRefused(response.code, response.message, recipient)
            await smtp.data(data)
        except aiosmtplib.SMTPResponseException:
            # Leave the session clean for the next mail, as sendmail would.
            with contextlib.suppress(aiosmtplib.SMTPException, OSError):
                await smtp.rset()
            raise

    def drop(self) -> None:
        """Forget the session without a goodbye; the next use connects afresh."""
        self.smtp.close()
        self.smtp = self._client()

    async def quit(self) -> None:
        if self.smtp.is_connected:
            try:
                await self.smtp.quit()
            except (aiosmtplib.SMTPException, OSError):
                self.smtp.close()


def smtp_address(external_id: str) -> str:
    """The recipient as the envelope and To: need it: normalised, ASCII.

    Internationalised domains go out as IDNA; a non-ASCII local part would
    need SMTPUTF8, which this sender does not speak, so it is refused.
    Addresses the core stored are already normalised: the plain ones take a
    fast path (full validation costs more than rendering the mail).
    """
    if _PLAIN_ADDRESS.fullmatch(external_id):
        return external_id
    try:
        address = normalise_email(external_id)
    except InvalidMessage as exc:
        raise PermanentFailure(str(exc)) from None
    if address.isascii():
        return address
    local, _, domain = address.rpartition("@")
    if not local.isascii():
        raise PermanentFailure("addresses with a non-ASCII local part need SMTPUTF8")
    try:
        return f"{local}@{domain.encode('idna').decode('ascii')}"
    except UnicodeError:
        raise PermanentFailure("the address's domain cannot be encoded (IDNA)") from None


def is_throttling(exc: aiosmtplib.SMTPException) -> bool:
    """A 4xx saying the relay counts our rate (SES's 454, "too many", "slow down")."""
    return (
        isinstance(exc, aiosmtplib.SMTPResponseException)
        and 400 <= exc.code < 500
        and _THROTTLING.search(exc.message or "") is not None
    )


def classify(exc: aiosmtplib.SMTPException) -> DeliveryFailure:
    """The core's failure type for one SMTP error.

    4xx, drops and timeouts: try later. 5xx on the recipient with "user
    unknown" meaning (550/551/553, or enhanced status 5.1.x): the address is
    gone. Any other 5xx: this mail will never pass as it is.
    """
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused) and exc.recipients:
        return classify(exc.recipients[0])
    if isinstance(exc, aiosmtplib.SMTPConnectError | aiosmtplib.SMTPServerDisconnected):
        # Even a 5xx greeting is about the server's state, not this mail.
        return TransientFailure(f"SMTP connection failed: {_one_line(str(exc))}")
    if isinstance(exc, aiosmtplib.SMTPNotSupported):
        return TransientFailure(
            f"the SMTP server lacks a feature we need ({_one_line(str(exc))}); "
            "check RAPPORT_SMTP_TLS"
        )
    if isinstance(exc, aiosmtplib.SMTPAuthenticationError):
        # Our credentials, not the mail: retry once an operator fixed them.
        return TransientFailure(
            f"the SMTP server refused our login ({exc.code}); "
            "check RAPPORT_SMTP_USERNAME and RAPPORT_SMTP_PASSWORD",
            retry_after=AUTH_RETRY_SECONDS,
        )
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        text = f"SMTP {exc.code} {_one_line(exc.message)}"
        if 400 <= exc.code < 500:
            if is_throttling(exc):
                text = f"{text} ({THROTTLED_HINT})"  # shown with the delivery and its run
            return TransientFailure(text)
        if isinstance(exc, aiosmtplib.SMTPRecipientRefused) and _recipient_unknown(exc):
            return RecipientGone(text)
        if 500 <= exc.code < 600:
            return PermanentFailure(text)
        return TransientFailure(text)
    return TransientFailure(f"SMTP failure: {_one_line(str(exc))}")


def _recipient_unknown(exc: aiosmtplib.SMTPResponseException) -> bool:
    enhanced = _ENHANCED.match(exc.message or "")
    if enhanced:
        return enhanced.group(1) == "5" and enhanced.group(2) == "1"
    return exc.code in _GONE_CODES


def _one_line(text: str) -> str:
    """A server reply fit for an exception and a log line: one line, no addresses.

    Replies often quote the recipient ("550 5.1.1 <ann@example.org>: user
    unknown"); the failure travels into logs, which must not hold addresses.
    """
    return _ADDRESS_IN_TEXT.sub("<address>", " ".join((text or "").split()))[:300]


def _tag(message_id: str) -> str:
    """A short hash standing for a mail in logs (Message-IDs are not personal, but long)."""
    return hashlib.sha256(message_id.encode()).hexdigest()[:12]
