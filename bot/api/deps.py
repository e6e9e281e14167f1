"""What the API's routes need from the composition root, passed in rather than reached for."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from rapport.crm.clock import Clock, utcnow
from rapport.crm.database import Database
from rapport.crm.settings import Settings


def _nothing() -> None:
    return None


@dataclass(frozen=True)
class ApiDeps:
    db: Database
    settings: Settings
    channels: tuple[str, ...] = ()
    """The channels this installation can send on (`OutboundChannels.names`): a campaign
    run queues nobody on a channel that cannot send."""
    wake_dispatcher: Callable[[], None] = field(default=_nothing)
    """Called after a campaign run was made, so the dispatcher sends it at once."""
    clock: Clock = utcnow
