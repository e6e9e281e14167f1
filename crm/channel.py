"""The one protocol every outbound channel implements, and its typed failures.

The core decides what to do after a failure (retry later, give up, mark the
identity unreachable) from the exception type alone, so adapters must map
their protocol's errors onto exactly these three.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from rapport.crm.errors import RapportError
from rapport.crm.messages import OutboundMessage, Receipt


class DeliveryFailure(RapportError):
    """Base of the failures a channel may raise from `send`."""


class TransientFailure(DeliveryFailure):
    """Try again later; `retry_after` seconds is the channel's hint, if any."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentFailure(DeliveryFailure):
    """This message will never go through as it is; do not retry it."""


class RecipientGone(DeliveryFailure):
    """The address no longer reaches the customer (blocked bot, 550 user unknown)."""


@runtime_checkable
class Channel(Protocol):
    """An outbound channel; `name` matches the `channel` of its inbound messages.

    A channel may also say how many sends it takes at once with an int
    attribute `parallel` (the email sender: its connections); the dispatcher
    then keeps that many in flight. Without it, sends go one at a time, which
    keeps a channel's own pacing (Telegram's per-chat and overall limits)
    exactly as it was.
    """

    name: str

    async def send(self, external_id: str, message: OutboundMessage) -> Receipt:
        """Deliver one message to the identity with this external id."""
        ...
