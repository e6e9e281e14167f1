"""What `rapport run` hosts: long-running services, each enabled by settings.

A service factory looks at the settings and either builds its service or
says, in words, why it stays off ("RAPPORT_TELEGRAM_TOKEN is not set"), so the
operator sees at start-up exactly which channels are live.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from crm.database import Database
from crm.settings import Settings


class Service(Protocol):
    """Something with a lifetime: started once, stopped once, in reverse order."""

    name: str

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Disabled:
    name: str
    reason: str


ServiceFactory = Callable[[Settings, Database], "Service | Disabled"]


def registered_factories() -> list[ServiceFactory]:
    """Every service `rapport run` knows, in start order (channels last)."""
    from bot.scheduler import scheduler_service

    factories: list[ServiceFactory] = [scheduler_service]
    factories.extend(channel_factories())
    return factories


def channel_factories() -> list[ServiceFactory]:
    """The channel adapters' service factories; each channel issue adds its own."""
    from channels.telegram.service import telegram_service

    return [telegram_service]
