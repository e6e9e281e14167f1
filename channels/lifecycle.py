"""What `rapport run` hosts: long-running services with a lifetime.

A service factory looks at the settings and either builds its service or
says, in words, why it stays off ("RAPPORT_TELEGRAM_TOKEN is not set"), so the
operator sees at start-up exactly which channels are live. The protocol lives
with the channels, which implement it, so they need not reach up to the
application that hosts them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from rapport.crm.database import Database
from rapport.crm.settings import Settings


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
