"""The grouped report passes against per-item reports and against the definitions by hand.

Random fixtures, so the sums of per-campaign counts are checked on many
shapes (campaigns without deliveries, segments without campaigns, skips with
and without a reason, answers to both survey kinds); and engagement kept by
ingest (`deliveries.wrote_back_at`) against the same figure rebuilt from the
stored messages, including messages exactly at the window's edges.
"""

from __future__ import annotations

import random
from collections import Counter
from datetime import datetime, timedelta

import pytest
from sqlalchemy import TableClause, column, insert, select, table

from rapport.crm.campaigns.definitions import CampaignSpec, create_campaign
from rapport.crm.database import Database
from rapport.crm.interactions.engagement import ENGAGEMENT_WINDOW, recompute_wrote_back
from rapport.crm.interactions.ingest import ingest_batch
from rapport.crm.messages import InboundMessage
from rapport.crm.models import (
    CampaignRun,
    Customer,
    Delivery,
    Interaction,
    SurveyResponse,
    UtcDateTime,
)
from rapport.crm.reports.programmes import (
    Period,
    campaign_ids_for_segment,
    metrics_per_campaign,
    metrics_per_segment,
    programme_metrics,
)
from rapport.crm.segments.saved import create_segment
from rapport.migrations.schema import upgrade
from tests.support.campaign_fixtures import T0, customer

STATUSES = ["sent"] * 6 + ["failed", "skipped", "queued", "claimed", "sending"]
REASONS = ["no_consent", "unreachable", "frequency_cap", None]
KINDS = [("csat", "feedback"), ("nps", "feedback"), (None, "announcement")]


def _edge_times(sent_at: datetime, rng: random.Random) -> datetime:
    """A message time near a delivery: often exactly on, just inside or just outside the window."""
    return sent_at + rng.choice(
        [
            timedelta(0),
            -timedelta(microseconds=1),
            ENGAGEMENT_WINDOW - timedelta(microseconds=1),
            ENGAGEMENT_WINDOW,
            timedelta(seconds=rng.randint(-86400, 10 * 86400), microseconds=rng.randint(0, 999999)),
        ]
    )


def _bulk_load(db: Database, rng: random.Random) -> tuple[list[dict], list[dict]]:
    """Segments, campaigns, runs, deliveries, answers and messages; returns deliveries, messages."""
    customers = list(range(1, 31))
    with db.engine.begin() as conn:
        conn.execute(
            insert(Customer.__table__),
            [
                {"id": c, "display_name": f"C{c}", "first_seen_channel": "email", "created_at": T0}
                for c in customers
            ],
        )
    for name in ("alpha", "beta", "empty"):
        create_segment(db, name, {"all": []})
    campaigns = [
        create_campaign(
            db,
            CampaignSpec(
                name=f"Campaign {n}",
                kind=kind,
                segment=rng.choice(["alpha", "beta"]),
                survey_kind=survey,
                template="Hello",
                cost=rng.choice([None, 25.0, 40.0]),
            ),
        )
        for n, (survey, kind) in enumerate(KINDS * 2)
    ]
    deliveries: list[dict] = []
    answers: list[dict] = []
    messages: list[dict] = []
    for campaign in campaigns[:-1]:  # the last campaign never ran
        for days in (1, 9):
            at = T0 + timedelta(days=days, seconds=rng.randint(0, 86400), microseconds=77)
            with db.engine.begin() as conn:
                run_id = conn.execute(
                    insert(CampaignRun.__table__).returning(CampaignRun.__table__.c.id),
                    {"campaign_id": campaign.id, "scheduled_for": at, "started_at": at},
                ).scalar_one()
            for c in rng.sample(customers, 20):
                status = rng.choice(STATUSES)
                sent_at = at + timedelta(minutes=rng.randint(0, 600)) if status == "sent" else None
                answered = sent_at is not None and rng.random() < 0.3
                deliveries.append(
                    {
                        "id": len(deliveries) + 1,
                        "run_id": run_id,
                        "campaign_id": campaign.id,
                        "customer_id": c,
                        "status": status,
                        "skip_reason": rng.choice(REASONS) if status == "skipped" else None,
                        "sent_at": sent_at,
                        "responded_at": sent_at + timedelta(hours=2) if answered else None,
                        "created_at": at,
                    }
                )
                if answered and campaign.survey_kind:
                    top = 5 if campaign.survey_kind == "csat" else 10
                    answers.append(
                        {"delivery_id": len(deliveries), "score": rng.choice([None, *range(top)])}
                    )
                if sent_at is not None and rng.random() < 0.5:
                    messages.append(
                        {
                            "customer_id": c,
                            "sent_at": _edge_times(sent_at, rng),
                            "direction": rng.choice(["in", "in", "out"]),
                            "automated": rng.random() < 0.2,
                        }
                    )
    with db.engine.begin() as conn:
        conn.execute(insert(Delivery.__table__), deliveries)
        if answers:
            conn.execute(insert(SurveyResponse.__table__), answers)
        conn.execute(
            insert(Interaction.__table__),
            [
                {**m, "channel": "email", "body": "hi", "message_key": f"<{n}@t>"}
                for n, m in enumerate(messages)
            ],
        )
        recompute_wrote_back(conn)
    return deliveries, messages


def _engaged_by_hand(delivery: dict, messages: list[dict]) -> bool:
    if delivery["status"] != "sent":
        return False
    if delivery["responded_at"] is not None:
        return True
    return any(
        m["customer_id"] == delivery["customer_id"]
        and m["direction"] == "in"
        and not m["automated"]
        and delivery["sent_at"] <= m["sent_at"] < delivery["sent_at"] + ENGAGEMENT_WINDOW
        for m in messages
    )


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_grouped_reports_equal_per_item_reports(db: Database, seed: int) -> None:
    _bulk_load(db, random.Random(seed))
    for period in (None, Period(T0, T0 + timedelta(days=5)), Period(T0 + timedelta(days=5), T0)):
        for cid, _, metrics in metrics_per_campaign(db, period=period):
            assert metrics == programme_metrics(db, campaign_ids=[cid], period=period)
        for _, name, metrics in metrics_per_segment(db, period=period):
            ids = campaign_ids_for_segment(db, name)
            assert metrics == programme_metrics(db, campaign_ids=ids, period=period)


@pytest.mark.parametrize("seed", [4, 5])
def test_delivery_counts_match_the_definitions_by_hand(db: Database, seed: int) -> None:
    deliveries, messages = _bulk_load(db, random.Random(seed))
    period = Period(T0, T0 + timedelta(days=5))
    mine = [d for d in deliveries if period.start <= d["created_at"] < period.end]
    sent = [d for d in mine if d["status"] == "sent"]
    m = programme_metrics(db, period=period)
    assert m.targeted == len(mine)
    assert m.delivered == len(sent)
    assert m.failed == sum(d["status"] == "failed" for d in mine)
    assert m.pending == sum(d["status"] in ("queued", "claimed", "sending") for d in mine)
    assert m.skipped == dict(
        sorted(
            Counter(d["skip_reason"] or "unknown" for d in mine if d["status"] == "skipped").items()
        )
    )
    assert m.responded == sum(d["responded_at"] is not None for d in sent)
    assert m.engaged == sum(_engaged_by_hand(d, messages) for d in mine)


async def test_ingest_keeps_wrote_back_as_recomputing_would(db: Database) -> None:
    rng = random.Random(7)
    addresses = [f"c{n}@example.com" for n in range(12)]
    ids = {a: customer(db, a) for a in addresses}
    create_segment(db, "all", {"all": []})
    c = create_campaign(
        db, CampaignSpec(name="News", kind="announcement", segment="all", template="Hi")
    )
    sent_times: list[datetime] = []
    with db.engine.begin() as conn:
        run_id = conn.execute(
            insert(CampaignRun.__table__).returning(CampaignRun.__table__.c.id),
            {"campaign_id": c.id, "scheduled_for": T0, "started_at": T0},
        ).scalar_one()
        rows = []
        for a in addresses:
            sent_at = T0 + timedelta(hours=1, seconds=rng.randint(0, 3600), microseconds=5)
            sent_times.append(sent_at)
            rows.append(
                {
                    "run_id": run_id,
                    "campaign_id": c.id,
                    "customer_id": ids[a],
                    "status": "sent",
                    "sent_at": sent_at,
                    "created_at": T0,
                }
            )
        conn.execute(insert(Delivery.__table__), rows)
    batch = [
        InboundMessage(
            "email",
            address,
            None,
            "just checking in",
            _edge_times(sent_at, rng),
            f"<later{n}@x>",
            automated=rng.random() < 0.2,
        )
        for n, (address, sent_at) in enumerate(
            rng.choice(list(zip(addresses, sent_times, strict=True))) for _ in range(40)
        )
    ]
    for start in range(0, len(batch), 7):  # several batches, arriving out of time order
        ingest_batch(db, batch[start : start + 7])
    d = Delivery.__table__.c
    with db.session() as session:
        kept = dict(session.execute(select(d.id, d.wrote_back_at)).all())
    with db.engine.begin() as conn:
        recompute_wrote_back(conn)
    with db.session() as session:
        rebuilt = dict(session.execute(select(d.id, d.wrote_back_at)).all())
    assert kept == rebuilt
    assert any(v is not None for v in kept.values()) and any(v is None for v in kept.values())


def _at_0004(name: str, *columns: str, times: tuple[str, ...] = ()) -> TableClause:
    """A table as revision 0004 had it, naming only the columns written here."""
    return table(
        name,
        *(column(c) for c in columns),
        *(column(t, UtcDateTime()) for t in times),
    )


def test_migration_fills_wrote_back_from_stored_messages(empty_db: Database) -> None:
    upgrade(empty_db, "0004")
    sent_at = T0 + timedelta(hours=1, microseconds=5)
    inside = [sent_at, sent_at + ENGAGEMENT_WINDOW - timedelta(microseconds=1)]
    outside = [sent_at - timedelta(microseconds=1), sent_at + ENGAGEMENT_WINDOW]
    customers = _at_0004(
        "customers",
        "id",
        "display_name",
        "first_seen_channel",
        "marketing_consent",
        times=("created_at",),
    )
    segments = _at_0004("segments", "id", "name", "rule", times=("created_at",))
    campaigns = _at_0004(
        "campaigns",
        "id",
        "name",
        "kind",
        "segment_id",
        "status",
        "timezone",
        "channel",
        "fallback",
        "template",
        times=("created_at",),
    )
    runs = _at_0004(
        "campaign_runs", "id", "campaign_id", "trigger", times=("scheduled_for", "started_at")
    )
    deliveries = _at_0004(
        "deliveries",
        "id",
        "run_id",
        "campaign_id",
        "customer_id",
        "status",
        "attempts",
        times=("sent_at", "created_at"),
    )
    interactions = _at_0004(
        "interactions",
        "customer_id",
        "channel",
        "direction",
        "automated",
        "message_key",
        times=("sent_at", "recorded_at"),
    )
    with empty_db.engine.begin() as conn:
        conn.execute(
            insert(customers),
            [
                {
                    "id": n,
                    "display_name": "C",
                    "first_seen_channel": "email",
                    "marketing_consent": True,
                    "created_at": T0,
                }
                for n in range(1, 7)
            ],
        )
        conn.execute(insert(segments), {"id": 1, "name": "all", "rule": "{}", "created_at": T0})
        conn.execute(
            insert(campaigns),
            {
                "id": 1,
                "name": "News",
                "kind": "announcement",
                "segment_id": 1,
                "status": "active",
                "timezone": "UTC",
                "channel": "email",
                "fallback": True,
                "template": "Hi",
                "created_at": T0,
            },
        )
        conn.execute(
            insert(runs),
            {"id": 1, "campaign_id": 1, "trigger": "t", "scheduled_for": T0, "started_at": T0},
        )
        conn.execute(
            insert(deliveries),
            [
                {
                    "id": n,
                    "run_id": 1,
                    "campaign_id": 1,
                    "customer_id": n,
                    "attempts": 1,
                    "status": "sent" if n < 6 else "failed",
                    "sent_at": sent_at if n < 6 else None,
                    "created_at": T0,
                }
                for n in range(1, 7)
            ],
        )
        # Customer 1 and 2 wrote inside the window, 3 and 4 just outside it,
        # 5 only automatically; 6's delivery failed although 6 wrote.
        written = [
            (1, inside[0], False),
            (2, inside[1], False),
            (3, outside[0], False),
            (4, outside[1], False),
            (5, inside[0], True),
            (6, inside[0], False),
        ]
        conn.execute(
            insert(interactions),
            [
                {
                    "customer_id": c,
                    "channel": "email",
                    "direction": "in",
                    "automated": auto,
                    "message_key": f"<{c}@x>",
                    "sent_at": at,
                    "recorded_at": at,
                }
                for c, at, auto in written
            ],
        )
    upgrade(empty_db)
    d = Delivery.__table__.c
    with empty_db.session() as session:
        found = dict(session.execute(select(d.customer_id, d.wrote_back_at)).all())
    assert found == {1: inside[0], 2: inside[1], 3: None, 4: None, 5: None, 6: None}
