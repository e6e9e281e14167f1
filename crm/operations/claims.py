"""Once-only claims: a staff command's side effects happen once per message.

A command is claimed by its message key before it runs; a second claim of
the same key (the update retried, or redelivered by Telegram after a lost
acknowledgement) is refused, so a document is not sent twice and an audit
row not written twice. Claiming first means a crash in the middle loses the
command (staff send it again) rather than repeating it: for exports and
privacy reports that is the failure to accept.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.exc import IntegrityError

from rapport.crm.database import Database
from rapport.crm.models import HandledCommand


def claim_once(db: Database, key: str, *, now: datetime) -> bool:
    """True for the first claim of `key`, False for every later one."""
    try:
        with db.transaction() as session:
            session.add(HandledCommand(key=key, claimed_at=now))
    except IntegrityError:
        return False
    return True
