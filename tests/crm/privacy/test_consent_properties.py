"""Property: nobody is ever queued on a channel they have not (or no longer) agreed to.

Random customers with identities on both channels go through random
sequences of grants and withdrawals per channel; campaigns with random
channel preferences then materialise. Every queued delivery must use an
identity whose channel's latest recorded choice is a grant, and everyone
with such a channel available must be queued.
"""

from __future__ import annotations

from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from rapport.crm.campaigns.runs import start_run
from rapport.crm.database import Database
from rapport.crm.models import Base, Delivery, DeliveryStatus, Identity
from rapport.crm.privacy.consent import set_marketing_consent
from tests.conftest import _truncate_all
from tests.support.campaign_fixtures import T0, campaign, everyone
from tests.support.privacy_fixtures import two_channel_customer

choice = st.tuples(st.sampled_from(["email", "telegram"]), st.booleans())
person = st.lists(choice, max_size=4)
preference = st.sampled_from(
    [
        ("last_active", True),
        ("email", True),
        ("email", False),
        ("telegram", True),
        ("telegram", False),
    ]
)


def _reset(db: Database) -> None:
    if db.dialect == "postgresql":
        _truncate_all(db)
        return
    with db.engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(table.delete())


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(people=st.lists(person, min_size=1, max_size=6), pref=preference)
def test_no_customer_is_queued_on_a_withdrawn_channel(
    db: Database, people: list[list[tuple[str, bool]]], pref: tuple[str, bool]
) -> None:
    _reset(db)
    everyone(db)
    latest: dict[tuple[int, str], bool] = {}
    for n, choices in enumerate(people):
        cid = two_channel_customer(db, n)
        for channel, granted in choices:
            address = f"p{n}@example.com" if channel == "email" else str(70_000 + n)
            set_marketing_consent(db, channel, address, granted=granted, source="test")
            latest[(cid, channel)] = granted
    channel, fallback = pref
    c = campaign(db, "Now", channel=channel, fallback=fallback)
    start_run(db, c.id, now=T0 + timedelta(days=1))

    with db.session() as s:
        queued = s.execute(
            select(Delivery.customer_id, Identity.channel)
            .join(Identity, Identity.id == Delivery.identity_id)
            .where(Delivery.campaign_id == c.id, Delivery.status == DeliveryStatus.QUEUED)
        ).all()
    for customer_id, used in queued:
        assert latest.get((customer_id, used)) is True
    allowed = {"email", "telegram"} if fallback else {channel}
    expected = {cid for (cid, ch), granted in latest.items() if granted and ch in allowed}
    assert {customer_id for customer_id, _ in queued} == expected
