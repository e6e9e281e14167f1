"""Whether an identity can be reached: a chat that blocked the bot cannot.

Telegram tells a bot when a user blocks it (`my_chat_member`, status
"kicked") and when they unblock it or start it again ("member"). Marking the
identity unreachable at once spares the dispatcher a 403 per campaign; an
unblock makes it reachable again (sending is allowed again, and consent is
still whatever the customer chose).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update

from rapport.crm.customers.identity import normalise_external_id
from rapport.crm.database import Database
from rapport.crm.models import Identity

BLOCKED = "blocked the bot"


def set_reachable(
    db: Database, channel: str, external_id: str, *, reachable: bool, now: datetime
) -> bool:
    """Mark the identity (un)reachable; False when Rapport does not know that address."""
    address = normalise_external_id(channel, external_id)
    where = (Identity.channel == channel, Identity.external_id == address)
    values: dict[str, object] = (
        {"unreachable_at": None, "unreachable_reason": None}
        if reachable
        else {"unreachable_at": now, "unreachable_reason": BLOCKED}
    )
    with db.transaction() as session:
        done = session.execute(update(Identity).where(*where).values(**values))
    return bool(getattr(done, "rowcount", 0))
