"""Building the bytes of outgoing mail, fast enough for campaigns.

The standard library's generator, not the network, limits how fast we can
send (DESIGN.md, "Measured on this kind of machine"): serialising an
`EmailMessage` per recipient runs at about 300 mails/s. So the top-level
headers are written per recipient as ASCII lines straight into bytes when
that is safe (through the stdlib's RFC 2047 folding when a value is not
plain ASCII), and the MIME body is cached per text: a campaign that says
the same to everyone renders it once. One that names each customer has a
text per recipient; a text-only body (every campaign's) is then encoded by
`plain_body` in a few µs, and only mail with an HTML part goes through the
generator.
"""

from __future__ import annotations

import binascii
import os
import re
from collections import OrderedDict
from datetime import datetime
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from functools import lru_cache

from rapport.crm.channel import PermanentFailure
from rapport.crm.clock import utcnow
from rapport.crm.messages import OutboundMessage

_POLICY = policy.SMTP
_FIELD_NAME = re.compile(r"[!-9;-~]{1,76}")
_MAX_LINE = 998
_RESERVED = frozenset(
    {
        "from",
        "sender",
        "to",
        "cc",
        "bcc",
        "reply-to",
        "subject",
        "date",
        "message-id",
        "in-reply-to",
        "references",
        "mime-version",
        "content-type",
        "content-transfer-encoding",
        "return-path",
    }
)
"""Headers the renderer writes itself; a caller's copy would forge or break the mail."""

BODY_CACHE_SIZE = 64
ONE_CLICK = "List-Unsubscribe=One-Click"
UNSUBSCRIBE_SLOT = "@@RAPPORT-UNSUBSCRIBE-LINK@@"
"""Stands in the cached body for each recipient's own link (see `_with_link`)."""
UNSUBSCRIBE_WORDS = "To stop these messages, unsubscribe here:"
_QP_CHUNK = 60
_QP_LITERAL = re.compile(r"[!-<>-~]*")
"""Printable ASCII but the space and "=": what quoted-printable writes as itself."""
_LINE_BREAK = re.compile("[\r\n\x00\u2028\u2029\x85\x0b\x0c]")
_NOT_IN_LINK = frozenset(" <>\"&'\\")
"""Characters a link must not hold: it goes into a header, plain text and an HTML attribute."""


class MailRenderer:
    """Turns an `OutboundMessage` for one address into (Message-ID, bytes).

    One renderer per sender; its caches assume a fixed From address.
    """

    def __init__(self, mail_from: str, from_name: str | None = None) -> None:
        if "@" not in mail_from or _has_line_break(mail_from):
            raise ValueError(f"mail_from must be a plain email address, not {mail_from!r}")
        self.mail_from = mail_from
        self.domain = mail_from.rsplit("@", 1)[1]
        address = Address(display_name=from_name or "", addr_spec=mail_from)
        self._from_line = _fold("From", str(address))
        self._bodies: OrderedDict[tuple[object, ...], bytes] = OrderedDict()
        self._date_second = -1
        self._date_line = b""

    def new_message_id(self) -> str:
        return f"<{os.urandom(16).hex()}@{self.domain}>"  # uuid4's randomness, a third the cost

    def render(self, to_address: str, message: OutboundMessage) -> tuple[str, bytes]:
        """The mail's Message-ID and its bytes, CRLF line ends, ready for DATA.

        Raises PermanentFailure for anything that must never go on the wire
        (CR/LF in a header value, a caller trying to set From or To, text
        that is not valid Unicode).
        """
        try:
            return self._render(to_address, message)
        except UnicodeError:
            raise PermanentFailure(
                "the message contains text that is not valid Unicode (lone surrogates)"
            ) from None

    def _render(self, to_address: str, message: OutboundMessage) -> tuple[str, bytes]:
        headers = dict(message.headers)
        link = message.unsubscribe_url
        if link is not None:
            if (
                _has_line_break(link)
                or not link.lower().startswith(("https://", "http://"))
                or any(c in link for c in _NOT_IN_LINK)
            ):
                raise PermanentFailure("the unsubscribe link is not a plain http(s) URL")
            headers.setdefault("List-Unsubscribe", f"<{link}>")
        elif message.marketing:
            # Rapport never sends campaign mail a customer cannot opt out of; the
            # dispatcher holds such deliveries before they get here.
            raise PermanentFailure("campaign mail without an unsubscribe link is never sent")
        extra = _extra_headers(headers)
        message_id = self.new_message_id()
        lines = [self._from_line, _fold("To", to_address)]
        if message.subject:
            if _has_line_break(message.subject):
                raise PermanentFailure("the subject contains a line break")
            lines.append(_fold_cached("Subject", message.subject))
        lines.append(self._date())
        lines.append(b"Message-ID: " + message_id.encode("ascii") + b"\r\n")
        if message.reply_to_key:
            parent = thread_id(message.reply_to_key)
            lines.append(_fold("In-Reply-To", parent))
            lines.append(_fold("References", parent))
        lines.extend(extra)
        body = self._body(message)
        if link is not None:
            body = _with_link(body, link)
        lines.append(body)
        return message_id, b"".join(lines)

    def _date(self) -> bytes:
        now: datetime = utcnow()
        second = int(now.timestamp())
        if second != self._date_second:
            self._date_second = second
            self._date_line = b"Date: " + format_datetime(now).encode("ascii") + b"\r\n"
        return self._date_line

    def _body(self, message: OutboundMessage) -> bytes:
        key = (message.text, message.html, message.choices, message.unsubscribe_url is not None)
        cached = self._bodies.get(key)
        if cached is not None:
            self._bodies.move_to_end(key)
            return cached
        rendered = render_body(message)
        self._bodies[key] = rendered
        if len(self._bodies) > BODY_CACHE_SIZE:
            self._bodies.popitem(last=False)
        return rendered


def render_body(message: OutboundMessage) -> bytes:
    """MIME-Version, Content-* headers, blank line and body: the part shared by a campaign.

    Quoted-printable keeps the mail 7-bit clean, so it passes relays that do
    not offer 8BITMIME.
    """
    text = _with_choices_text(message)
    if message.unsubscribe_url is not None:
        text = f"{text.rstrip()}\n\n--\n{UNSUBSCRIBE_WORDS}\n{UNSUBSCRIBE_SLOT}\n"
    if message.html is None:
        return plain_body(text)
    markup = _with_choices_html(message)
    if message.unsubscribe_url is not None:
        markup += (
            f'\n<p style="font-size:small">{UNSUBSCRIBE_WORDS}\n'
            f'<a href="{UNSUBSCRIBE_SLOT}">\nunsubscribe</a></p>\n'
        )
    body = EmailMessage(policy=_POLICY)
    body.set_content(text, cte="quoted-printable")
    body.add_alternative(markup, subtype="html", cte="quoted-printable")
    return body.as_bytes(policy=_POLICY)


_PLAIN_HEAD = (
    b'Content-Type: text/plain; charset="utf-8"\r\n'
    b"Content-Transfer-Encoding: quoted-printable\r\n"
    b"MIME-Version: 1.0\r\n"
    b"\r\n"
)


def plain_body(text: str) -> bytes:
    """A text-only body, as `EmailMessage.set_content(text, cte="quoted-printable")` writes it.

    A campaign's text differs per recipient as soon as it names them, so the
    cache above misses on every mail; the standard library's generator then
    cost about 200 µs a mail, more than the whole SMTP dialogue. Here the
    lines are split and joined as the library does and encoded by binascii's
    quoted-printable encoder, in C: the same text once decoded, for a few µs.
    Its lines keep to RFC 2045's 76 characters but where a line ends in an
    escaped space or tab, which can reach 78: the library's own limit, which
    its encoder reaches on every long line.
    """
    data = b"\n".join(text.encode("utf-8").splitlines()) + b"\n"
    return _PLAIN_HEAD + binascii.b2a_qp(data, istext=True).replace(b"\n", b"\r\n")


def _with_link(body: bytes, url: str) -> bytes:
    """The cached body with this recipient's link in the slot(s), quoted-printable.

    The slot sits alone on a short line, so the encoder never folds it; the
    link is encoded here and folded with soft line breaks, keeping lines
    under 76 characters however long the link is.
    """
    encoded = (
        url  # nearly every link: a signed token in plain ASCII, nothing to escape
        if _QP_LITERAL.fullmatch(url)
        else "".join(
            chr(byte) if _QP_LITERAL.fullmatch(chr(byte)) else f"={byte:02X}"
            for byte in url.encode("utf-8")  # the body's charset: "ü" is =C3=BC, not =FC
        )
    )
    chunks: list[str] = []
    while encoded:
        cut = _QP_CHUNK
        if "=" in encoded[cut - 2 : cut]:  # never split an =XX escape
            cut = encoded.rindex("=", 0, cut)
        chunks.append(encoded[:cut])
        encoded = encoded[cut:]
    return body.replace(UNSUBSCRIBE_SLOT.encode("ascii"), "=\r\n".join(chunks).encode("ascii"))


def choice_lines(choices: tuple[tuple[str, str], ...]) -> list[str]:
    """Choices as lines the customer answers by replying with a number.

    Scales whose labels are numbers (CSAT 1–5, NPS 0–10) show the labels
    themselves, so the reply "4" means 4; other choices are numbered from 1.
    """
    lines = []
    for position, (label, _data) in enumerate(choices, start=1):
        label = " ".join(label.split())
        first = label.split(" ", 1)[0].rstrip(".):")
        lines.append(label if first.isdigit() else f"{position}. {label}")
    return lines


def _with_choices_text(message: OutboundMessage) -> str:
    if not message.choices:
        return message.text
    listing = "\n".join(choice_lines(message.choices))
    return f"{message.text.rstrip()}\n\nReply with the number of your answer:\n{listing}\n"


def _with_choices_html(message: OutboundMessage) -> str:
    assert message.html is not None
    if not message.choices:
        return message.html
    from html import escape

    items = "".join(f"<li>{escape(line)}</li>" for line in choice_lines(message.choices))
    return (
        f"{message.html}\n<p>Reply with the number of your answer:</p>"
        f'\n<ul style="list-style: none">{items}</ul>\n'
    )


def thread_id(key: str) -> str:
    """A Message-ID in its header form, angle brackets included."""
    key = key.strip()
    if _has_line_break(key) or not key or " " in key:
        raise PermanentFailure("the Message-ID to reply to is not a valid id")
    return key if key.startswith("<") else f"<{key}>"


def _extra_headers(headers: dict[str, str]) -> list[bytes]:
    """The caller's headers (List-Unsubscribe and the like), checked and folded."""
    lines: list[bytes] = []
    names = {name.lower() for name in headers}
    for name, value in headers.items():
        if not _FIELD_NAME.fullmatch(name):
            raise PermanentFailure(f"{name!r} is not a valid mail header name")
        if name.lower() in _RESERVED:
            raise PermanentFailure(f"the {name} header is set by the email channel itself")
        if _has_line_break(value):
            raise PermanentFailure(f"the {name} header contains a line break")
        if name.lower() == "list-unsubscribe":
            value = _unsubscribe_value(value)
            web = "<https://" in value.lower() or "<http://" in value.lower()
            if web and "list-unsubscribe-post" not in names:
                lines.append(_fold("List-Unsubscribe-Post", ONE_CLICK))
        lines.append(_fold(name, value))
    return lines


def _unsubscribe_value(value: str) -> str:
    """RFC 2369 wants each URI in angle brackets; accept bare URLs too."""
    if "<" in value:
        return value
    return ", ".join(f"<{uri.strip()}>" for uri in value.split(",") if uri.strip())


def _has_line_break(value: str) -> bool:
    return _LINE_BREAK.search(value) is not None


def _fold(name: str, value: str) -> bytes:
    """One header as bytes: plain ASCII lines as is, anything else RFC 2047-encoded."""
    if value.isascii() and value.isprintable() and len(name) + 2 + len(value) <= _MAX_LINE:
        return f"{name}: {value}\r\n".encode("ascii")
    folded: str = _POLICY.header_factory(name, value).fold(policy=_POLICY)
    return folded.encode("ascii")


@lru_cache(maxsize=256)
def _fold_cached(name: str, value: str) -> bytes:
    """Subjects repeat across a campaign; fold each one once."""
    return _fold(name, value)
