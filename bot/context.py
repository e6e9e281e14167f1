"""What a handler's `context` gives it: the application's shared objects, typed.

python-telegram-bot builds one context per update from `ContextTypes`
(its examples/contexttypesbot.py shows the pattern): here that context is a
`RapportContext`, whose properties read the `BotShared` the composition root
(rapport.bot.app) built once and handed to the application as its
`bot_data`. Handlers ask `context.outbound` or `context.wake_dispatcher()`,
never `bot_data[...]` by a string key.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from telegram.ext import CallbackContext, ContextTypes, ExtBot

from rapport.channels.registry import OutboundChannels


def _no_dispatcher() -> None:
    """No dispatcher in this process: queued deliveries wait for the next one that runs."""


@dataclass(frozen=True, slots=True)
class BotShared:
    """The objects every handler of one application shares.

    PTB makes a first `BotShared()` with nothing in it when the application is
    built; the root passes the real one in (rapport.channels.telegram.service's
    `bot_data`), so a bot built without a root (a test) still answers.
    """

    outbound: OutboundChannels = field(default_factory=OutboundChannels)
    """The process's outbound channels: what runs reach and what direct answers go by."""
    wake_dispatcher: Callable[[], None] = _no_dispatcher
    """Tells the dispatcher a run has deliveries for it (thread-safe)."""


class RapportContext(CallbackContext[ExtBot[Any], dict[Any, Any], dict[Any, Any], BotShared]):
    """The `context` of every Rapport handler."""

    @property
    def outbound(self) -> OutboundChannels:
        return self.bot_data.outbound

    def wake_dispatcher(self) -> None:
        self.bot_data.wake_dispatcher()


CONTEXT_TYPES: ContextTypes[RapportContext, dict[Any, Any], dict[Any, Any], BotShared] = (
    ContextTypes(context=RapportContext, bot_data=BotShared)
)
"""Give this to the application builder; then every handler's context is a `RapportContext`."""
