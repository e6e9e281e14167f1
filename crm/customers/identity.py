"""Who a message is from: normalised addresses and customer resolution.

The core knows what an address *is* on each channel it serves (an email
address, a Telegram chat id) so the same person is found again however the
adapter spelled it; it knows nothing of how those channels are spoken.
"""

from __future__ import annotations

import re
import unicodedata

from email_validator import EmailNotValidError, validate_email

from rapport.crm.errors import InvalidMessage

EMAIL = "email"
TELEGRAM = "telegram"
CHANNELS = (EMAIL, TELEGRAM)

_TELEGRAM_ID = re.compile(r"-?[0-9]{1,20}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]+")
MAX_NAME = 200


def normalise_email(address: str) -> str:
    """The canonical form of an email address, or InvalidMessage.

    Domain and local part are lower-cased: mailboxes that differ only in case
    are the same person for every provider a shop's customers use.
    """
    try:
        valid = validate_email(address.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise InvalidMessage(f"invalid email address {address!r}: {exc}") from None
    return valid.normalized.lower()


def normalise_external_id(channel: str, external_id: str) -> str:
    """The identity's address as stored, validated for its channel."""
    if channel == EMAIL:
        return normalise_email(external_id)
    if channel == TELEGRAM:
        value = external_id.strip()
        if not _TELEGRAM_ID.fullmatch(value):
            raise InvalidMessage(f"invalid Telegram chat id {external_id!r}")
        return value
    raise InvalidMessage(f"unknown channel {channel!r} (known: {', '.join(CHANNELS)})")


def clean_display_name(name: str | None) -> str | None:
    """A sender name safe to store and later put into a mail header.

    Control characters (CR/LF above all) become spaces, Unicode is NFC, the
    result is cut at 200 characters; an empty name is no name.
    """
    if name is None:
        return None
    cleaned = " ".join(_CONTROL.sub(" ", unicodedata.normalize("NFC", name)).split())
    return cleaned[:MAX_NAME] or None
