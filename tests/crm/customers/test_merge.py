"""Merging two customers into one: the whole history moves, nothing is doubled or lost."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, insert, select, update

from rapport.crm.campaigns.runs import start_run
from rapport.crm.customers.merge import CUSTOMER_REFERENCES, DELIVERY_REFERENCES, merge_customers
from rapport.crm.customers.profiles import customer_profile
from rapport.crm.customers.tags import add_tags, customer_tags
from rapport.crm.database import Database
from rapport.crm.errors import Conflict, InvalidInput, NotFound
from rapport.crm.models import (
    AuditEvent,
    Base,
    Consent,
    ConsentEvent,
    Customer,
    CustomerMerge,
    CustomerValue,
    Delivery,
    DeliveryStatus,
    Identity,
    Interaction,
    PointsEntry,
    SurveyResponse,
    UnsubscribeUse,
)
from rapport.crm.privacy.consent import record_consent, set_marketing_consent
from rapport.crm.privacy.requests import export_customer
from rapport.crm.privacy.unsubscribe import UnsubscribeLinks
from rapport.crm.staff.audit import Actor
from rapport.crm.value.loyalty import balance
from rapport.crm.value.orders import record_order
from rapport.crm.value.scores import recompute_values
from tests.support.campaign_fixtures import T0, campaign, customer, erase, everyone

STAFF = Actor("test:admin")


def _references(target: str) -> set[tuple[str, str]]:
    return {
        (fk.parent.table.name, fk.parent.name)
        for table in Base.metadata.sorted_tables
        for fk in table.foreign_keys
        if fk.column.table.name == target and fk.parent.table.name != target
    }


def test_every_reference_to_a_customer_or_delivery_is_handled_by_merging() -> None:
    """A new table pointing at customers (or at deliveries, which a merge may fold) fails here
    until rapport.crm.customers.merge says what happens to its rows."""
    assert _references("customers") == CUSTOMER_REFERENCES
    assert _references("deliveries") == DELIVERY_REFERENCES


def _count(db: Database, model: type, *where: Any) -> int:
    with db.session() as s:
        return s.scalar(select(func.count()).select_from(model).where(*where)) or 0


def _two_people(db: Database) -> tuple[int, int]:
    """Ann by email (an order, a tag) and the same Ann on Telegram (points, tags, consent)."""
    ann = customer(db, "ann@example.com", consent=True, name="Ann", at=T0)
    record_order(
        db, order_key="o-1", customer="ann@example.com", amount="120.00", ordered_at=T0, now=T0
    )
    chat = customer(
        db, "5001", channel="telegram", consent=True, name="ann_k", at=T0 + timedelta(1)
    )
    with db.transaction() as s:
        s.add(PointsEntry(customer_id=chat, delta=30, reason="welcome"))
    add_tags(db, ann, ["vip"])
    add_tags(db, chat, ["vip", "telegram-first"])
    customer_profile(db, STAFF, chat)  # an audited read that names the chat customer
    recompute_values(db, now=T0 + timedelta(days=2))
    return ann, chat


def test_merge_moves_the_whole_history_to_the_kept_customer(db: Database) -> None:
    ann, chat = _two_people(db)
    before = {
        "balance": balance(db, ann) + balance(db, chat),
        "interactions": _count(db, Interaction),
        "events": _count(db, ConsentEvent),
    }

    result = merge_customers(db, ann, chat, STAFF)

    assert (result.kept_id, result.absorbed_id, result.identities) == (ann, chat, 1)
    assert _count(db, Customer) == 1
    with db.session() as s:
        kept = s.get(Customer, ann)
        assert kept is not None
        identities = sorted(
            (i.channel, i.external_id)
            for i in s.scalars(select(Identity).where(Identity.customer_id == ann))
        )
        consents = sorted(
            (c.channel, c.granted)
            for c in s.scalars(select(Consent).where(Consent.customer_id == ann))
        )
        merge = s.get(CustomerMerge, chat)
    assert identities == [("email", "ann@example.com"), ("telegram", "5001")]
    assert kept.display_name == "Ann" and kept.first_seen_channel == "email"
    assert kept.last_channel == "telegram"  # the chat was the more recent contact
    assert kept.marketing_consent is True
    assert consents == [("email", True), ("telegram", True)]
    assert balance(db, ann) == before["balance"] == 120 + 30
    assert _count(db, Interaction, Interaction.customer_id == ann) == before["interactions"]
    assert _count(db, ConsentEvent, ConsentEvent.customer_id == ann) == before["events"]
    assert customer_tags(db, ann) == ["telegram-first", "vip"]
    assert _count(db, CustomerValue, CustomerValue.customer_id == chat) == 0
    assert merge is not None and merge.kept_id == ann and merge.actor == "test:admin"

    # nothing anywhere still points at the absorbed id (the FK test keeps this list complete)
    with db.session() as s:
        for table_name, column in CUSTOMER_REFERENCES:
            table = Base.metadata.tables[table_name]
            left = s.scalar(select(func.count()).where(table.c[column] == chat))
            assert left == 0, f"{table_name}.{column} still names customer {chat}"
        merged = s.scalars(select(AuditEvent).where(AuditEvent.action == "customer.merge")).all()
    assert [(e.customer_id, e.actor) for e in merged] == [(ann, "test:admin")]
    assert f"customer {chat} merged into {ann}" in (merged[0].detail or "")

    with pytest.raises(NotFound, match=f"merged into customer {ann}"):
        customer_profile(db, STAFF, chat)
    exported = export_customer(db, STAFF, ann)["tables"]
    assert len(exported["interactions"]) == before["interactions"]
    assert [m["absorbed_id"] for m in exported["customer_merges"]] == [chat]


def _shared_run(db: Database, name: str, ann: int, chat: int) -> dict[int, int]:
    """One campaign run that reached both customers: customer id → delivery id."""
    c = campaign(db, name, channel="last_active")
    start_run(db, c.id, now=T0 + timedelta(days=3, hours=len(name)))
    with db.session() as s:
        rows = s.execute(
            select(Delivery.customer_id, Delivery.id).where(Delivery.campaign_id == c.id)
        ).all()
    found = {r.customer_id: r.id for r in rows}
    assert set(found) == {ann, chat}
    return found


def _set(db: Database, delivery_id: int, **values: Any) -> None:
    with db.transaction() as s:
        s.execute(update(Delivery).where(Delivery.id == delivery_id).values(**values))


def test_a_run_both_got_keeps_one_delivery_the_first_answer_and_all_points(db: Database) -> None:
    everyone(db)
    ann, chat = _two_people(db)
    both = _shared_run(db, "Both answered", ann, chat)
    sent = DeliveryStatus.SENT.value
    _set(db, both[ann], status=sent, sent_at=T0, responded_at=T0 + timedelta(hours=5))
    _set(db, both[chat], status=sent, sent_at=T0, responded_at=T0 + timedelta(hours=2))
    one = _shared_run(db, "Only the chat got it", ann, chat)
    _set(db, one[ann], status=DeliveryStatus.SKIPPED.value, skip_reason="no consent")
    _set(db, one[chat], status=sent, sent_at=T0)
    with db.transaction() as s:
        s.execute(
            insert(SurveyResponse),
            [
                {"delivery_id": both[ann], "score": 3, "created_at": T0 + timedelta(hours=5)},
                {"delivery_id": both[chat], "score": 5, "created_at": T0 + timedelta(hours=2)},
            ],
        )
        s.execute(
            insert(PointsEntry),
            [
                {"customer_id": ann, "delta": 40, "reason": "campaign", "delivery_id": both[ann]},
                {"customer_id": chat, "delta": 40, "reason": "campaign", "delivery_id": both[chat]},
                {"customer_id": chat, "delta": 25, "reason": "campaign", "delivery_id": one[chat]},
            ],
        )
        s.execute(insert(UnsubscribeUse), [{"delivery_id": one[chat], "used_at": T0}])
    total = balance(db, ann) + balance(db, chat)

    result = merge_customers(db, ann, chat, STAFF)

    assert result.deliveries_folded == 2
    with db.session() as s:
        deliveries = {
            d.id: d for d in s.scalars(select(Delivery).where(Delivery.customer_id == ann))
        }
        responses = s.execute(select(SurveyResponse.delivery_id, SurveyResponse.score)).all()
        points = s.execute(
            select(PointsEntry.delta, PointsEntry.delivery_id).where(
                PointsEntry.reason == "campaign"
            )
        ).all()
    # both sent: the kept customer's row survives, with the earlier answer (first one counts)
    assert both[ann] in deliveries and both[chat] not in deliveries
    assert deliveries[both[ann]].responded_at == T0 + timedelta(hours=2)
    assert [tuple(r) for r in responses] == [(both[ann], 5)]
    # skipped vs sent: the delivery that reached the person survives, with its dependants
    assert one[chat] in deliveries and one[ann] not in deliveries
    assert deliveries[one[chat]].status == sent
    assert _count(db, UnsubscribeUse, UnsubscribeUse.delivery_id == one[chat]) == 1
    # the ledger is append-only: every entry stays; one delivery earns through one entry
    assert sorted(points, key=lambda p: (p.delta, p.delivery_id or 0)) == [
        (25, one[chat]),
        (40, None),
        (40, both[ann]),
    ]
    assert balance(db, ann) == total
    assert _count(db, Delivery) == 2


def test_consent_clash_keeps_the_opt_out_and_old_unsubscribe_links_still_work(
    db: Database,
) -> None:
    everyone(db)
    ann = customer(db, "ann@example.com", consent=False, at=T0)
    old = customer(db, "ann.old@example.com", consent=False, at=T0)
    set_marketing_consent(db, "email", "ann.old@example.com", granted=False, source="reply:stop")
    c = campaign(db, "Before", channel="email")
    with db.transaction() as s:  # the old address opted out long ago, the new one in today
        conn = s.connection()
        record_consent(conn, old, "email", granted=False, source="old:stop", at=T0)
        record_consent(conn, ann, "email", granted=True, source="web", at=T0 + timedelta(days=9))
        record_consent(conn, old, "telegram", granted=True, source="t", at=T0)
        delivery = s.scalar(
            insert(Delivery)
            .values(
                run_id=_run(db, s, c.id),
                campaign_id=c.id,
                customer_id=old,
                status=DeliveryStatus.SENT.value,
                created_at=T0,
            )
            .returning(Delivery.id)
        )
    links = UnsubscribeLinks("secret", "https://crm.example.hk/", timedelta(days=30))
    token = links.token(delivery, old)  # in a mail the old customer got before the merge
    events_before = _count(db, ConsentEvent)

    merge_customers(db, ann, old, STAFF, now=T0 + timedelta(days=10))

    with db.session() as s:
        email = s.get(Consent, (ann, "email", "marketing"))
        telegram = s.get(Consent, (ann, "telegram", "marketing"))
        kept = s.get(Customer, ann)
        last_event = s.scalar(select(ConsentEvent).order_by(ConsentEvent.id.desc()).limit(1))
    assert email is not None and (email.granted, email.source) == (False, "merge")
    assert telegram is not None and telegram.granted is True  # only one side had it: it moves
    assert kept is not None and kept.marketing_consent is True  # telegram is still granted
    assert _count(db, ConsentEvent) == events_before + 1
    assert last_event is not None
    assert (last_event.customer_id, last_event.granted, last_event.source) == (
        ann,
        False,
        "merge",
    )

    with db.transaction() as s:
        s.execute(
            update(Delivery).where(Delivery.id == delivery).values(identity_id=_email_id(s, ann))
        )
    grant = links.redeem(db, token)
    assert (grant.customer_id, grant.channel, grant.already_used) == (ann, "email", False)


def _run(db: Database, session: Any, campaign_id: int) -> int:
    from rapport.crm.models import CampaignRun

    return int(
        session.scalar(
            insert(CampaignRun)
            .values(campaign_id=campaign_id, scheduled_for=T0, started_at=T0)
            .returning(CampaignRun.id)
        )
    )


def _email_id(session: Any, customer_id: int) -> int:
    return int(
        session.scalar(
            select(Identity.id)
            .where(Identity.customer_id == customer_id, Identity.channel == "email")
            .order_by(Identity.id)
            .limit(1)
        )
    )


def test_agreeing_choices_keep_the_more_recent_one(db: Database) -> None:
    ann = customer(db, "ann@example.com", consent=False)
    other = customer(db, "ann2@example.com", consent=False)
    with db.transaction() as s:
        conn = s.connection()
        record_consent(conn, ann, "email", granted=False, source="first", at=T0)
        record_consent(conn, other, "email", granted=False, source="later", at=T0 + timedelta(1))
    merge_customers(db, ann, other, STAFF)
    with db.session() as s:
        email = s.get(Consent, (ann, "email", "marketing"))
        kept = s.get(Customer, ann)
    assert email is not None and (email.granted, email.source) == (False, "later")
    assert kept is not None and kept.marketing_consent is False


def test_refused_merges_change_nothing(db: Database) -> None:
    everyone(db)
    ann, chat = _two_people(db)
    gone = customer(db, "gone@example.com")
    erase(db, gone)
    snapshot = (_count(db, Customer), _count(db, Identity), _count(db, Interaction))

    with pytest.raises(InvalidInput, match="itself"):
        merge_customers(db, ann, ann, STAFF)
    with pytest.raises(InvalidInput, match=f"customer {gone} is erased"):
        merge_customers(db, ann, gone, STAFF)
    with pytest.raises(InvalidInput, match="erased"):
        merge_customers(db, gone, chat, STAFF)
    with pytest.raises(NotFound, match="no customer with id 999"):
        merge_customers(db, ann, 999, STAFF)

    run = _shared_run(db, "In flight", ann, chat)
    _set(db, run[chat], status=DeliveryStatus.SENDING.value, claimed_by="w1", claimed_at=T0)
    with pytest.raises(Conflict, match="being sent right now"):
        merge_customers(db, ann, chat, STAFF)

    assert (_count(db, Customer), _count(db, Identity), _count(db, Interaction)) == snapshot
    assert _count(db, CustomerMerge) == 0
    assert _count(db, AuditEvent, AuditEvent.action == "customer.merge") == 0


def test_merge_records_stay_flat_so_an_old_id_is_found_in_one_step(db: Database) -> None:
    a = customer(db, "a@example.com")
    b = customer(db, "b@example.com")
    c = customer(db, "c@example.com")
    merge_customers(db, a, b, STAFF)
    merge_customers(db, c, a, STAFF)
    with db.session() as s:
        assert {m.absorbed_id: m.kept_id for m in s.scalars(select(CustomerMerge))} == {b: c, a: c}
        assert set(s.scalars(select(Identity.customer_id))) == {c}
    with pytest.raises(NotFound, match=f"customer {b} was merged into customer {c}"):
        customer_profile(db, STAFF, b)
