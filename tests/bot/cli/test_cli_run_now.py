"""`rapport campaigns run-now` as a user runs it, mail going to a real SMTP sink."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from rapport.crm.models import Delivery, DeliveryStatus
from tests.support.cli_run_now import _shop
from tests.support.desk_cli import _rapport
from tests.support.email_sink import Sink


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
