"""Who a message is from: normalised addresses and customer resolution.

The core knows what an address *is* on each channel it serves (an email
address, a Telegram chat id) so the same person is found again however the
adapter spelled it; it knows nothing of how those channels are spoken.
"""

from __future__ import annotations

import re
import unicodedata

from email_validator import SPECIAL_USE_DOMAIN_NAMES, EmailNotValidError, validate_email

from rapport.crm.errors import InvalidMessage

EMAIL = "email"
TELEGRAM = "telegram"
CHANNELS = (EMAIL, TELEGRAM)

_TELEGRAM_ID = re.compile(r"-?[0-9]{1,20}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]+")
MAX_NAME = 200
_PLAIN_EMAIL = re.compile(
    r"(?=.{6,254}$)[a-z0-9_+-]+(\.[a-z0-9_+-]+)*"
    r"@([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}"
)
"""Lower-case ASCII dot-atom addresses with an alphabetic top-level domain."""


def normalise_email(address: str) -> str:
    """The canonical form of an email address, or InvalidMessage.

    Domain and local part are lower-cased: mailboxes that differ only in case
    are the same person for every provider a shop's customers use. Plain
    ASCII addresses take a fast path that gives the same answer as the full
    validation (tests/crm/customers/test_identity_fast_path.py), which costs more than
    the rest of a 100,000-row customer import.
    """
    candidate = address.strip().lower()
    if _PLAIN_EMAIL.fullmatch(candidate):
        local, _, domain = candidate.rpartition("@")
        if (
            len(local) <= 64
            and "--" not in domain  # IDNA reserves "ab--" labels: the full check decides
            and domain.rsplit(".", 1)[1] not in SPECIAL_USE_DOMAIN_NAMES
        ):
            return candidate
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
