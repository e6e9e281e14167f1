"""Checking an inbound message before it is stored: valid, bounded, scored.

Everything that can be computed outside the transaction is: the normalised
address, the cleaned names and the sentiment. A message that fails a check
raises InvalidMessage and is stored nowhere; adapters that want to skip bad
messages in a batch call `check` on each first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rapport.crm.customers.identity import clean_display_name, normalise_external_id
from rapport.crm.errors import InvalidMessage
from rapport.crm.messages import InboundMessage
from rapport.crm.sentiment.scoring import Assessment, SentimentAnalyser, default_analyser

DEFAULT_MAX_CHARS = 100_000
MAX_KEY = 300
MAX_SUBJECT = 500
_KEY_FORBIDDEN = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True, slots=True)
class Checked:
    """A message that passed validation, with everything computed outside the transaction."""

    message: InboundMessage
    external_id: str
    sender: str | None
    subject: str | None
    assessment: Assessment

    @property
    def key(self) -> tuple[str, str]:
        return (self.message.channel, self.message.message_key)


class OncePerText:
    """An analyser that scores each distinct text once: one per batch (`ingest_batch`).

    The analysers are pure functions of the text, so a repeated text ("thanks",
    "ok", a tapped 👍) gets the very same Assessment without being scored again.
    Per batch, not process-wide: a cache that outlives the batch would grow
    with every text ever received and only help texts that repeat across days.
    """

    __slots__ = ("_analyser", "_seen")

    def __init__(self, analyser: SentimentAnalyser) -> None:
        self._analyser = analyser
        self._seen: dict[str, Assessment] = {}

    def assess(self, text: str) -> Assessment:
        found = self._seen.get(text)
        if found is None:
            found = self._seen[text] = self._analyser.assess(text)
        return found


def check(
    message: InboundMessage,
    *,
    analyser: SentimentAnalyser = default_analyser,
    max_chars: int = DEFAULT_MAX_CHARS,
) -> Checked:
    """Validate one message and score it; raise InvalidMessage, store nothing."""
    external_id = normalise_external_id(message.channel, message.external_id)
    key = message.message_key
    if not key or len(key) > MAX_KEY or _KEY_FORBIDDEN.search(key):
        raise InvalidMessage(f"message key must be 1–{MAX_KEY} printable characters")
    text = message.text
    if "\x00" in text:
        raise InvalidMessage("message text contains NUL characters")
    if len(text) > max_chars:
        raise InvalidMessage(
            f"message text is {len(text):,} characters; the limit is {max_chars:,}"
        )
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidMessage("message text is not valid Unicode (lone surrogates)") from None
    if not text.strip() and not message.attachments:
        raise InvalidMessage("message has no text")
    if message.sent_at.tzinfo is None:
        raise InvalidMessage("message time has no time zone")
    subject = clean_display_name(message.subject)
    return Checked(
        message=message,
        external_id=external_id,
        sender=clean_display_name(message.sender),
        subject=subject[:MAX_SUBJECT] if subject else None,
        assessment=analyser.assess(text),
    )
