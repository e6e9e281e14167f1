"""`rapport campaigns run-now` as a user runs it, mail going to a real SMTP sink."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import select

from rapport.crm.clock import utcnow
from rapport.crm.database import Database
from rapport.crm.interactions.ingest import ingest
from rapport.crm.messages import InboundMessage
from rapport.crm.models import Delivery, DeliveryStatus
from rapport.crm.privacy.consent import set_marketing_consent
from rapport.migrations.schema import upgrade
from tests.campaign_fixtures import campaign, everyone
from tests.email_sink import Sink
from tests.test_desk_cli import _rapport


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


async def test_run_now_sends_and_says_what_the_quiet_window_holds_back(
    tmp_path: Path, sink: Sink
) -> None:
    db = _shop(tmp_path)

    code, out, err = await _rapport(tmp_path, sink, "campaigns", "run-now", "Spring")

    assert code == 0, err
    assert "2 queued" in out and "sent 1," in out
    assert "1 still queued (customers who wrote in the last 5 s" in out
    assert [m.message["To"] for m in sink.received] == ["ann@example.org"]
    with db.session() as s:
        statuses = dict(s.execute(select(Delivery.customer_id, Delivery.status)).all())
    db.dispose()
    assert sorted(statuses.values()) == [DeliveryStatus.QUEUED, DeliveryStatus.SENT]
