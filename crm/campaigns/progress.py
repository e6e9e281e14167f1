"""How far a campaign run has got: its deliveries counted by status, skips by reason.

What an API client or a console page polls while a run sends; the same
counts `rapport campaigns` reports, read in one grouped query.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select

from rapport.crm.database import Database
from rapport.crm.errors import NotFound
from rapport.crm.models import CampaignRun, Delivery, DeliveryStatus


@dataclass(frozen=True, slots=True)
class RunProgress:
    run_id: int
    campaign_id: int
    scheduled_for: datetime
    trigger: str
    started_at: datetime
    by_status: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.by_status.values())

    @property
    def done(self) -> bool:
        """Nothing left to send (queued, claimed or sending)."""
        unsettled = (DeliveryStatus.QUEUED, DeliveryStatus.CLAIMED, DeliveryStatus.SENDING)
        return not any(self.by_status.get(s, 0) for s in unsettled)


def run_progress(db: Database, run_id: int, *, campaign_id: int | None = None) -> RunProgress:
    """The run's counts; NotFound if there is no such run (of that campaign, if given)."""
    with db.session() as session:
        run = session.get(CampaignRun, run_id)
        if run is None or (campaign_id is not None and run.campaign_id != campaign_id):
            raise NotFound(
                f"no run {run_id}" + ("" if campaign_id is None else " of that campaign")
            )
        rows = session.execute(
            select(Delivery.status, Delivery.skip_reason, func.count())
            .where(Delivery.run_id == run_id)
            .group_by(Delivery.status, Delivery.skip_reason)
        ).all()
    by_status: dict[str, int] = {}
    skipped: dict[str, int] = {}
    for status, reason, count in rows:
        by_status[status] = by_status.get(status, 0) + count
        if status == DeliveryStatus.SKIPPED and reason is not None:
            skipped[reason] = skipped.get(reason, 0) + count
    return RunProgress(
        run.id, run.campaign_id, run.scheduled_for, run.trigger, run.started_at, by_status, skipped
    )


def send_problems(db: Database, run_id: int, limit: int = 3) -> list[tuple[str, int]]:
    """Why the run's deliveries wait for a retry or failed, the commonest first.

    A count of failures tells staff something is wrong; the server's words
    (a relay's quota, a refused login, a full mailbox) tell them what to fix.
    Addresses are already gone from these texts (`rapport.channels.email.outbound`).
    """
    waiting_or_failed = (DeliveryStatus.QUEUED.value, DeliveryStatus.FAILED.value)
    with db.session() as session:
        rows = session.execute(
            select(Delivery.last_error, func.count())
            .where(
                Delivery.run_id == run_id,
                Delivery.status.in_(waiting_or_failed),
                Delivery.last_error.is_not(None),
            )
            .group_by(Delivery.last_error)
            .order_by(func.count().desc(), Delivery.last_error)
            .limit(limit)
        ).all()
    return [(str(error), count) for error, count in rows]
