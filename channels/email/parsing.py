"""Turning the raw bytes of one email into the core's `InboundMessage`.

Real-world mail is messy (wrong charsets, broken boundaries, HTML-only
bodies, auto-replies), and both inbound paths (our SMTP server and IMAP
polling) share this one parser so they store the same thing for the same
bytes. Anything we cannot make sense of becomes `InvalidMessage` with a clear
reason, never another exception: the SMTP server turns it into a 5xx and the
IMAP poller leaves the mail unread for a person.
"""

from __future__ import annotations

import hashlib
import html
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage, Message
from email.parser import BytesParser
from email.utils import parsedate_to_datetime
from html.parser import HTMLParser

from rapport.crm.clock import utcnow
from rapport.crm.customers.identity import EMAIL
from rapport.crm.errors import InvalidMessage
from rapport.crm.messages import Attachment, InboundMessage

GENERATED_ID_DOMAIN = "rapport.invalid"
"""Domain of the Message-IDs we make up for mail that came without one."""

MAX_PARTS = 1_000
"""More MIME parts than any person sends; beyond it the mail is refused."""

MAX_DEPTH = 20

MAX_CLOCK_SKEW = timedelta(days=1)
"""How far in the future a Date: header may be before we use reception time."""

MAX_DELIVERY_DELAY = timedelta(days=7)
"""How far in the past a Date: header may be: longer than mail servers keep retrying
(usually 5 days). An older claim is a wrong clock or a forgery (a year-1 date would
backdate the customer's activity and make the message due for retention at once)."""

_PARSER = BytesParser(policy=policy.default)
_MSGID = re.compile(r"<[^<>\s]{1,298}>")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_AUTO_SENDERS = re.compile(r"^(mailer-daemon|postmaster|no-?reply|bounces?)([+@.-]|$)", re.I)
_QUOTE_HEADER = re.compile(
    r"^\s*(On .{1,300} wrote:|Am .{1,300} schrieb .{0,100}:|Le .{1,300} a écrit\s?:"
    r"|-{2,}\s*Original Message\s*-{2,}|_{10,})\s*$",
    re.I,
)
_OUTLOOK_HEADER = re.compile(r"^\s*From:\s.+$", re.I)
_SURROGATE = re.compile("[\ud800-\udfff]")
_MIME_HEADER_LINE = re.compile(r"^(Content-[A-Za-z-]+|MIME-Version):", re.I)


def parse_email(
    raw: bytes,
    *,
    envelope_sender: str | None = None,
    received_at: datetime | None = None,
) -> InboundMessage:
    """The inbound message these bytes hold, or InvalidMessage saying why not.

    `envelope_sender` is the SMTP `MAIL FROM` when known; an empty one (`<>`)
    is the mark of a bounce. `received_at` stands in for a missing or
    unreadable `Date:` header (now, by default).
    """
    if not raw or not raw.strip():
        raise InvalidMessage("the mail is empty")
    try:
        message = _PARSER.parsebytes(raw)
        return _to_inbound(message, raw, envelope_sender, received_at)
    except InvalidMessage:
        raise
    except Exception as exc:
        # The stdlib parser is lenient, but header objects and content
        # managers raise a zoo of errors on hostile input; all of them mean
        # "this mail cannot be read", which is what the caller must hear.
        raise InvalidMessage(f"the mail cannot be parsed ({type(exc).__name__})") from None


def message_key_of(message: Message, raw: bytes) -> str:
    """The mail's Message-ID, or a stable one derived from its bytes.

    Deriving it from the bytes keeps a replay of the same mail a no-op even
    when the sender forgot the header.
    """
    found = _MSGID.search(_header_text(message, "Message-ID"))
    if found:
        return found.group(0)
    digest = hashlib.sha256(raw).hexdigest()[:40]
    return f"<{digest}@{GENERATED_ID_DOMAIN}>"


def is_automated(message: Message, envelope_sender: str | None) -> bool:
    """True for bounces, delivery reports and auto-replies (RFC 3834, DSNs).

    They are stored, but they must never count as a customer answering.
    """
    if envelope_sender is not None and envelope_sender.strip() in ("", "<>"):
        return True
    if _header_text(message, "Return-Path").strip() == "<>":  # the null sender, seen via IMAP
        return True
    auto_submitted = _header_text(message, "Auto-Submitted").strip().lower()
    if auto_submitted and not auto_submitted.startswith("no"):
        return True
    if any(
        _header_text(message, name)
        for name in ("X-Autoreply", "X-Autorespond", "X-Autoresponder", "X-Auto-Reply")
    ):
        return True
    if _header_text(message, "Precedence").strip().lower() in ("auto_reply", "bulk", "junk"):
        return True
    content_type = message.get_content_type()
    if content_type == "multipart/report" or content_type.startswith("message/delivery-status"):
        return True
    address = _from_address(message)
    return address is not None and bool(_AUTO_SENDERS.match(address.addr_spec))


def _to_inbound(
    message: EmailMessage,
    raw: bytes,
    envelope_sender: str | None,
    received_at: datetime | None,
) -> InboundMessage:
    sender = _from_address(message)
    if sender is None or not sender.addr_spec or "@" not in sender.addr_spec:
        raise InvalidMessage("the mail has no usable From: address")
    parts = list(_leaves(message))
    if len(parts) > MAX_PARTS:
        raise InvalidMessage(f"the mail has {len(parts):,} MIME parts; the limit is {MAX_PARTS:,}")
    body, attachments = _body_and_attachments(parts)
    subject = _clean(_header_text(message, "Subject")) or None
    text = strip_quotes_and_signature(body)
    if not text.strip() and not attachments and subject:
        text = subject
    in_reply_to = _MSGID.search(_header_text(message, "In-Reply-To"))
    sent_at, claimed = _sent_at(message, received_at)
    return InboundMessage(
        channel=EMAIL,
        external_id=raw_header_text(sender.addr_spec),
        sender=raw_header_text(sender.display_name) or None,
        text=text,
        sent_at=sent_at,
        claimed_sent_at=claimed,
        message_key=message_key_of(message, raw),
        subject=subject,
        in_reply_to=in_reply_to.group(0) if in_reply_to else None,
        automated=is_automated(message, envelope_sender),
        attachments=tuple(attachments),
    )


def _header_text(message: Message, name: str) -> str:
    """A header's decoded value, or "" when it is absent or unreadable."""
    raw = _raw_header(message, name)
    if raw is not None and _SURROGATE.search(raw):
        # 8-bit bytes in the header: the stdlib would turn them into U+FFFD.
        return " ".join(raw_header_text(raw).split())
    try:
        value = message.get(name)
    except Exception:
        return ""
    return "" if value is None else raw_header_text(str(value))


def _raw_header(message: Message, name: str) -> str | None:
    wanted = name.lower()
    for key, value in message.raw_items():
        if key.lower() == wanted:
            return value if isinstance(value, str) else None
    return None


def raw_header_text(value: str) -> str:
    """Undo the parser's surrogate escapes for raw 8-bit header bytes.

    Mail clients often put UTF-8 (RFC 6532), sometimes Latin-1, straight
    into headers; the parser keeps such bytes as lone surrogates, which no
    database can store. We read them as UTF-8, else as Windows-1252.
    """
    if not _SURROGATE.search(value):
        return value
    try:
        raw = value.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # surrogates that never were bytes
        return value.encode("utf-8", "replace").decode("utf-8")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("cp1252", "replace")


def _from_address(message: Message) -> Address | None:
    try:
        header = message.get("From")
        addresses = getattr(header, "addresses", ())
    except Exception:
        return None
    return addresses[0] if addresses else None


_YEAR = re.compile(r"\b([0-9]{1,4})\s+[0-9]{1,2}:[0-9]{2}")


def _sent_at(message: Message, received_at: datetime | None) -> tuple[datetime, str | None]:
    """When the mail was sent, and the sender's claim when we did not believe it.

    The `Date:` header is the sender's word: used only within a window around
    the reception time (`MAX_CLOCK_SKEW` ahead, `MAX_DELIVERY_DELAY` behind),
    otherwise the reception time wins and the claimed date is kept (the raw
    header, clipped) for staff to see.
    """
    fallback = received_at or utcnow()
    value = _header_text(message, "Date")
    if not value:
        return fallback, None
    raw = _raw_header(message, "Date")
    raw = " ".join(raw_header_text(raw).split()) if raw is not None else value
    claim = _clean(raw)[:100] or None
    year = _YEAR.search(raw)
    if year is not None and len(year.group(1)) < 4:
        # The stdlib reads years 0-99 as 2000-2099 (RFC 2822's obsolete two-digit
        # years): "year 1" would become 2001. Four digits or nothing.
        return fallback, claim
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return fallback, claim
    if parsed.tzinfo is None:  # "-0000": the sender's zone is unknown, the instant is UTC
        parsed = parsed.replace(tzinfo=UTC)
    parsed = parsed.astimezone(UTC)
    if parsed - fallback > MAX_CLOCK_SKEW or fallback - parsed > MAX_DELIVERY_DELAY:
        # A Date: from the future would pin the customer's "last activity"
        # there, one from long ago backdate it: the reception time wins.
        return fallback, claim
    return parsed, None


def _leaves(part: Message, depth: int = 0) -> Iterator[Message]:
    """The parts that hold content, in order; a forwarded mail is one leaf.

    We do not descend into message/rfc822: a forwarded mail's text is an
    attachment of this one, not words the customer wrote.
    """
    if depth > MAX_DEPTH:
        raise InvalidMessage(f"the mail's MIME parts nest deeper than {MAX_DEPTH} levels")
    payload = part.get_payload()
    if part.get_content_maintype() == "message" or not isinstance(payload, list):
        yield part
        return
    for sub in payload:
        if isinstance(sub, Message):  # always, for a parsed multipart; the check tells mypy
            yield from _leaves(sub, depth + 1)


def _body_and_attachments(parts: list[Message]) -> tuple[str, list[Attachment]]:
    """The best text of the mail (plain over HTML) and what came attached."""
    plain: list[str] = []
    html_texts: list[str] = []
    attachments: list[Attachment] = []
    for part in parts:
        content_type = part.get_content_type()
        if content_type.startswith("multipart/"):
            # A multipart whose boundary never appears: the parser leaves
            # its body as one string. Keep the words, drop the MIME debris.
            plain.append(_unbounded_multipart_text(part))
            continue
        filename = _filename(part)
        disposition = (part.get_content_disposition() or "").lower()
        is_body = (
            content_type in ("text/plain", "text/html")
            and disposition != "attachment"
            and not filename
        )
        if not is_body:
            attachments.append(
                Attachment(
                    filename=filename or "unnamed",
                    content_type=content_type,
                    size=len(_payload_bytes(part)),
                )
            )
            continue
        text = _decoded_text(part)
        if content_type == "text/plain":
            plain.append(text)
        else:
            html_texts.append(html_to_text(text))
    chosen = plain if any(t.strip() for t in plain) else html_texts
    return _clean("\n\n".join(t.strip("\n") for t in chosen)), attachments


def _unbounded_multipart_text(part: Message) -> str:
    payload = part.get_payload()
    text = payload if isinstance(payload, str) else ""
    kept = [
        line
        for line in text.splitlines()
        if not line.startswith("--") and not _MIME_HEADER_LINE.match(line)
    ]
    return "\n".join(kept).strip()


def _filename(part: Message) -> str | None:
    try:
        name = part.get_filename()
    except Exception:
        return None
    cleaned = _clean(raw_header_text(name or "")).strip()
    return cleaned[:255] or None


def _payload_bytes(part: Message) -> bytes:
    try:
        payload = part.get_payload(decode=True)
    except Exception:
        payload = None
    if isinstance(payload, bytes):
        return payload
    raw = part.get_payload()
    if isinstance(raw, list):  # message/*: the size of the enclosed mail(s)
        return b"".join(m.as_bytes() for m in raw if isinstance(m, Message))
    return raw.encode("utf-8", "replace") if isinstance(raw, str) else b""


def _decoded_text(part: Message) -> str:
    """The part's text in whatever charset it claims, falling back gracefully.

    Unknown or lying charsets are common (`charset=unknown-8bit`, Windows-1252
    sent as ISO-8859-1); replacement characters beat refusing a customer.
    """
    payload = _payload_bytes(part)
    charset = part.get_content_charset() or "utf-8"
    for candidate in (charset, "utf-8"):
        try:
            return payload.decode(candidate)
        except (LookupError, UnicodeDecodeError):
            continue
    return payload.decode("latin-1")


def _clean(text: str) -> str:
    """Text safe to store: no NULs or stray control characters, Unix newlines."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _CONTROL.sub("", text)


class _TextExtractor(HTMLParser):
    """HTML to readable text: block elements become line breaks, scripts vanish."""

    _BLOCKS = frozenset(
        {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "hr"}
    )
    _HIDDEN = frozenset({"script", "style", "head", "title"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.chunks: list[str] = []
        self.hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._HIDDEN:
            self.hidden += 1
        elif tag in self._BLOCKS:
            self.chunks.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._HIDDEN:
            self.hidden = max(0, self.hidden - 1)
        elif tag in self._BLOCKS:
            self.chunks.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.hidden:
            self.chunks.append(data)


def html_to_text(markup: str) -> str:
    """Readable text of an HTML body, for mail that has no text/plain part."""
    extractor = _TextExtractor()
    try:
        extractor.feed(markup)
        extractor.close()
    except Exception:  # HTMLParser gives up on some broken markup; keep what we have
        pass
    text = html.unescape("".join(extractor.chunks)).replace("\xa0", " ")
    lines = [" ".join(line.split()) for line in text.splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def strip_quotes_and_signature(text: str) -> str:
    """The customer's own words: quoted history and signature cut off.

    Sentiment must score what the customer wrote now, not our campaign text
    they quoted below it. If cutting would leave nothing, the text stays whole.
    """
    kept: list[str] = []
    lines = text.split("\n")
    for index, line in enumerate(lines):
        stripped = line.rstrip()
        if stripped == "--":
            break
        if _QUOTE_HEADER.match(line):
            break
        # Clients wrap a long "On <date>, <name> <address> wrote:" over two lines.
        if index + 1 < len(lines) and _QUOTE_HEADER.match(f"{stripped} {lines[index + 1]}"):
            break
        if _OUTLOOK_HEADER.match(line) and kept and not kept[-1].strip():
            break
        if line.lstrip().startswith(">"):
            continue
        kept.append(stripped)
    result = "\n".join(kept).strip()
    return result if result else text.strip()
