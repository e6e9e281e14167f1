"""Reading the mail system's reports: bounces (RFC 3464) and complaints (RFC 5965 ARF).

A bounce arrives later, from a `MAILER-DAEMON`, as `multipart/report;
report-type=delivery-status`: a human-readable part, a `message/delivery-status`
part with one block per recipient (`Final-Recipient`, `Original-Recipient`,
`Action`, `Status`), and often the original mail or its headers, whose
`Message-ID` names the delivery it reports on. A complaint from a mailbox
provider's feedback loop is `report-type=feedback-report`, with the
`Original-Rcpt-To` (when given) and the original mail. Neither is a customer
writing: they become the core's `MailReport`, never an inbound message.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from email import policy
from email.message import EmailMessage, Message
from email.parser import BytesHeaderParser, BytesParser, HeaderParser
from email.utils import parseaddr

from rapport.channels.email.parsing import message_key_of, raw_header_text
from rapport.crm.clock import utcnow
from rapport.crm.interactions.bounces import BOUNCE, COMPLAINT, Failure, MailReport

_HEADERS = BytesHeaderParser(policy=policy.default)
_PARSER = BytesParser(policy=policy.default)
_MSGID = re.compile(r"<[^<>\s]{1,298}>")
_STATUS = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")
REPORT_TYPES = {"delivery-status": BOUNCE, "feedback-report": COMPLAINT}


def report_type(raw: bytes) -> str | None:
    """`bounce` or `complaint` when the top-level headers say the mail is such a report."""
    try:
        headers = _HEADERS.parsebytes(raw)
    except Exception:
        return None
    if headers.get_content_type() != "multipart/report":
        return None
    kind = str(headers.get_param("report-type", "") or "").strip().lower()
    return REPORT_TYPES.get(kind)


def parse_report(raw: bytes, received_at: datetime | None = None) -> MailReport:
    """The report these bytes hold; a report we cannot read still becomes one (unmatched)."""
    message = _PARSER.parsebytes(raw)
    kind = REPORT_TYPES.get(str(message.get_param("report-type", "") or "").lower(), BOUNCE)
    parts = list(message.walk())
    original = _original_message_id(parts)
    key = message_key_of(message, raw)
    at = received_at or utcnow()
    if kind == COMPLAINT:
        feedback = _fields(parts, "message/feedback-report")
        recipient = _address(_first(feedback, "Original-Rcpt-To")) or _original_to(parts)
        return MailReport(
            kind=COMPLAINT,
            message_key=key,
            received_at=at,
            failures=(Failure(recipient, "complained", None, _first(feedback, "Feedback-Type")),),
            original_message_id=original,
        )
    failures = tuple(
        Failure(
            recipient=_address(block.get("Final-Recipient")) or _address(
                block.get("Original-Recipient")
            ),
            action=(str(block.get("Action") or "").strip().lower() or None),
            status=_status(block.get("Status")),
            diagnostic=_one_line(block.get("Diagnostic-Code")),
        )
        for block in _blocks(parts, "message/delivery-status")
        if block.get("Final-Recipient") or block.get("Original-Recipient")
        or block.get("Action") or block.get("Status")
    )  # fmt: skip
    return MailReport(
        kind=BOUNCE,
        message_key=key,
        received_at=at,
        failures=failures,
        original_message_id=original,
    )


def _blocks(parts: Sequence[Message], content_type: str) -> list[Message]:
    """The header blocks of a message/delivery-status (or feedback-report) part."""
    found: list[Message] = []
    for part in parts:
        if part.get_content_type() != content_type:
            continue
        payload = part.get_payload()
        if isinstance(payload, list):
            found.extend(b for b in payload if isinstance(b, Message))
        elif isinstance(payload, str):  # some parsers leave the fields as text
            found.extend(HeaderParser().parsestr(chunk) for chunk in payload.split("\n\n"))
    return found


def _fields(parts: Sequence[Message], content_type: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    for block in _blocks(parts, content_type):
        for name, value in block.items():
            fields.setdefault(name.lower(), str(value))
    return fields


def _first(fields: dict[str, str], name: str) -> str | None:
    value = fields.get(name.lower())
    return value.strip() if value else None


def _address(value: object) -> str | None:
    """`rfc822; ann@example.org` → ann@example.org (other address types are not mail)."""
    if value is None:
        return None
    text = raw_header_text(str(value)).strip()
    kind, sep, address = text.partition(";")
    if sep and kind.strip().lower() != "rfc822":
        return None
    address = (address if sep else kind).strip().strip("<>").strip()
    return address if "@" in address else None


def _status(value: object) -> str | None:
    found = _STATUS.search(str(value or ""))
    return found.group(0) if found else None


def _one_line(value: object) -> str | None:
    text = " ".join(str(value or "").split())
    return text[:200] or None


def _original_headers(parts: Sequence[Message]) -> Message | None:
    for part in parts:
        content_type = part.get_content_type()
        if content_type == "message/rfc822":
            payload = part.get_payload()
            if isinstance(payload, list) and payload and isinstance(payload[0], Message):
                return payload[0]
        if content_type == "text/rfc822-headers" and isinstance(part, EmailMessage):
            try:
                return HeaderParser().parsestr(str(part.get_content()))
            except Exception:
                return None
    return None


def _original_message_id(parts: Sequence[Message]) -> str | None:
    headers = _original_headers(parts)
    if headers is None:
        return None
    found = _MSGID.search(str(headers.get("Message-ID") or ""))
    return found.group(0) if found else None


def _original_to(parts: Sequence[Message]) -> str | None:
    headers = _original_headers(parts)
    if headers is None:
        return None
    _name, address = parseaddr(str(headers.get("To") or ""))
    return address if "@" in address else None
