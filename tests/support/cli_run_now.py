"""Helpers shared by test modules.

Moved out of test_cli_run_now.py, which other test modules imported.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from rapport.crm.clock import utcnow
from rapport.crm.database import Database
from rapport.crm.interactions.ingest import ingest
from rapport.crm.messages import InboundMessage
from rapport.crm.privacy.consent import set_marketing_consent
from rapport.migrations.schema import upgrade
from tests.support.campaign_fixtures import campaign, everyone


def _shop(cwd: Path) -> Database:
    """Two consenting email customers: Ann wrote an hour ago, Bob a moment ago."""
    db = Database(f"sqlite:///{cwd / 'r.db'}")
    upgrade(db)
    now = utcnow()
    for address, at in (("ann@example.org", now - timedelta(hours=1)), ("bob@example.org", now)):
        ingest(db, InboundMessage("email", address, None, "Hello", at, f"<{address}>"))
        set_marketing_consent(db, "email", address, granted=True, source="test")
    everyone(db)
    campaign(db, "Spring", channel="email")
    return db
