"""Properties of materialisation over random populations (hypothesis).

Whatever the mix of consent, reachability, prior campaign messages and
erasure, a run never queues a message for a customer who has not consented,
is erased or unreachable, and never takes anyone past the weekly cap.
"""

from __future__ import annotations

from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from rapport.crm.campaigns.runs import COUNTED, start_run
from rapport.crm.database import Database
from rapport.crm.models import Base, Customer, Delivery, DeliveryStatus, Identity
from tests.conftest import _truncate_all
from tests.support.campaign_fixtures import (
    T0,
    campaign,
    customer,
    erase,
    everyone,
    mark_unreachable,
)

person = st.fixed_dictionaries(
    {
        "consent": st.booleans(),
        "unreachable": st.booleans(),
        "erased": st.booleans(),
        "telegram": st.booleans(),
        "prior_runs": st.integers(min_value=0, max_value=4),
    }
)


def _reset(db: Database) -> None:
    if db.dialect == "postgresql":
        _truncate_all(db)
    else:
        with db.engine.begin() as conn:
            for table in reversed(Base.metadata.sorted_tables):
                conn.execute(table.delete())


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(people=st.lists(person, min_size=1, max_size=8), cap=st.integers(min_value=1, max_value=3))
def test_no_opted_out_erased_unreachable_or_capped_customer_is_queued(
    db: Database, people: list[dict[str, object]], cap: int
) -> None:
    _reset(db)
    everyone(db)
    prior = [campaign(db, f"Earlier {i}") for i in range(4)]
    ids = []
    for i, p in enumerate(people):
        address = f"{9000 + i}" if p["telegram"] else f"p{i}@example.com"
        cid = customer(
            db,
            address,
            channel="telegram" if p["telegram"] else "email",
            consent=bool(p["consent"]),
        )
        ids.append(cid)
    # earlier campaign messages this week, before anyone opted out or left
    for n in range(4):
        start_run(db, prior[n].id, now=T0 + timedelta(hours=n), frequency_cap=99)
    with db.transaction() as s:
        for cid, p in zip(ids, people, strict=True):
            extra = s.scalars(
                select(Delivery).where(Delivery.customer_id == cid).order_by(Delivery.id)
            ).all()[int(p["prior_runs"]) :]
            for d in extra:
                s.delete(d)
    for cid, p in zip(ids, people, strict=True):
        if p["unreachable"]:
            mark_unreachable(db, cid)
        if p["erased"]:
            erase(db, cid)

    current = campaign(db, "Now")
    start_run(db, current.id, now=T0 + timedelta(days=1), frequency_cap=cap)

    with db.session() as s:
        queued = s.execute(
            select(Customer, Delivery)
            .join(Delivery, Delivery.customer_id == Customer.id)
            .where(Delivery.campaign_id == current.id, Delivery.status == DeliveryStatus.QUEUED)
        ).all()
        for customer_row, delivery in queued:
            assert customer_row.marketing_consent
            assert customer_row.erased_at is None
            identity = s.get(Identity, delivery.identity_id)
            assert identity is not None and identity.unreachable_at is None
            assert identity.customer_id == customer_row.id
            earlier = s.scalar(
                select(func.count())
                .select_from(Delivery)
                .where(
                    Delivery.customer_id == customer_row.id,
                    Delivery.campaign_id != current.id,
                    Delivery.status.in_([c.value for c in COUNTED]),
                )
            )
            assert earlier < cap
        expected = sum(
            1
            for p in people
            if p["consent"]
            and not p["unreachable"]
            and not p["erased"]
            and int(p["prior_runs"]) < cap
        )
        assert len(queued) == expected
