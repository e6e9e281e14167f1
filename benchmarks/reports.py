"""The full report set at scale: what /report, /export and /chart ask the database.

Run: python -m benchmarks.reports [--customers 100000] [--interactions 1000000]
     [--database-url URL]

Loads (untimed, Core bulk inserts) N customers, six survey and announcement
campaigns with two runs each (one in the last 30 days, one in the 30 before),
deliveries for a quarter of the customers per run (3·N in all: sent, failed,
skipped, pending; a third of the sent ones answered, with survey scores),
and M inbound interactions over 90 days with sentiment. Then times the
report set for the last 30 days: programme metrics overall and for the
period before, per campaign, per segment, satisfaction by day and sentiment
by day. The baseline, in the same run, is two plain aggregate scans of the
same rows (interactions of the period, deliveries of the period by status).

The rows are bulk-loaded, not ingested, so the engagement ingest records on
each delivery (`wrote_back_at`, crm/interactions/engagement.py) is filled in afterwards by
`recompute_wrote_back`, untimed, as migration 0009 does for existing data.
It prints the time of each report of the best run, and the process CPU time,
which is steadier than wall time on a shared machine.
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import func, insert, select, text

from benchmarks.common import fresh_database, machine, result
from rapport.crm.campaigns.definitions import CampaignSpec, create_campaign
from rapport.crm.clock import utcnow
from rapport.crm.database import Database
from rapport.crm.interactions.engagement import recompute_wrote_back
from rapport.crm.models import (
    CampaignRun,
    Customer,
    CustomerTag,
    Delivery,
    Interaction,
    SurveyResponse,
)
from rapport.crm.reports.programmes import (
    Period,
    metrics_per_campaign,
    metrics_per_segment,
    programme_metrics,
)
from rapport.crm.reports.series import satisfaction_by_day, sentiment_by_day
from rapport.crm.segments.saved import create_segment

NOW = utcnow().replace(microsecond=0)
BATCH = 10_000


def _bulk(db: Database, table: object, rows: list[dict[str, object]]) -> None:
    with db.engine.begin() as conn:
        for start in range(0, len(rows), BATCH):
            conn.execute(insert(table), rows[start : start + BATCH])  # type: ignore[call-overload]


def load(db: Database, customers: int, interactions: int, rng: random.Random) -> int:
    """Everything the reports read; returns the number of deliveries."""
    start = NOW - timedelta(days=400)
    _bulk(
        db,
        Customer.__table__,
        [
            {
                "id": i,
                "display_name": f"Customer {i}",
                "first_seen_channel": "email",
                "last_channel": "email",
                "created_at": start,
                "marketing_consent": i % 10 != 0,
            }
            for i in range(1, customers + 1)
        ],
    )
    _bulk(
        db,
        CustomerTag.__table__,
        [{"customer_id": i, "tag": "vip"} for i in range(1, customers + 1, 5)],
    )
    create_segment(db, "everyone", {"all": []})
    create_segment(db, "vip", {"field": "tag", "op": "has", "value": "vip"})
    kinds = [("csat", "feedback"), ("nps", "feedback"), (None, "announcement")] * 2
    deliveries: list[dict[str, object]] = []
    responses: list[dict[str, object]] = []
    delivery_id = 0
    for n, (survey, kind) in enumerate(kinds):
        campaign = create_campaign(
            db,
            CampaignSpec(
                name=f"Campaign {n}",
                kind=kind,
                segment="everyone" if n % 2 else "vip",
                survey_kind=survey,
                template="Hello {{ first_name }}",
                cost=100.0 if n % 3 == 0 else None,
            ),
        )
        for run_n, days_ago in enumerate((10 + n, 40 + n)):
            at = NOW - timedelta(days=days_ago)
            with db.engine.begin() as conn:
                run_id = conn.execute(
                    insert(CampaignRun.__table__).returning(CampaignRun.__table__.c.id),
                    {
                        "campaign_id": campaign.id,
                        "scheduled_for": at,
                        "started_at": at,
                        "trigger": f"bench{run_n}",
                    },
                ).scalar_one()
            for customer_id in rng.sample(range(1, customers + 1), customers // 4):
                delivery_id += 1
                roll = rng.random()
                status, reason = "sent", None
                if roll < 0.05:
                    status = "failed"
                elif roll < 0.15:
                    status, reason = "skipped", "no_consent"
                elif roll < 0.20:
                    status = "queued"
                sent = status == "sent"
                answered = sent and rng.random() < 0.33
                deliveries.append(
                    {
                        "id": delivery_id,
                        "run_id": run_id,
                        "campaign_id": campaign.id,
                        "customer_id": customer_id,
                        "status": status,
                        "skip_reason": reason,
                        "attempts": 1,
                        "sent_at": at if sent else None,
                        "responded_at": at + timedelta(hours=rng.randint(1, 72))
                        if answered
                        else None,
                        "created_at": at,
                    }
                )
                if answered and survey:
                    responses.append(
                        {
                            "delivery_id": delivery_id,
                            "score": rng.randint(1, 5) if survey == "csat" else rng.randint(0, 10),
                            "created_at": at + timedelta(hours=1),
                        }
                    )
    _bulk(db, Delivery.__table__, deliveries)
    _bulk(db, SurveyResponse.__table__, responses)
    _bulk(
        db,
        Interaction.__table__,
        [
            {
                "customer_id": rng.randint(1, customers),
                "channel": "email",
                "direction": "in",
                "body": "a message",
                "polarity": None if rng.random() < 0.2 else round(rng.uniform(-1, 1), 3),
                "automated": False,
                "message_key": f"<m{i}@bench>",
                "sent_at": NOW - timedelta(seconds=rng.randint(0, 90 * 86400)),
                "recorded_at": NOW,
            }
            for i in range(interactions)
        ],
    )
    with db.engine.begin() as conn:
        recompute_wrote_back(conn)
        conn.execute(text("ANALYZE"))
    return len(deliveries)


def report_set(db: Database) -> dict[str, float]:
    """Every report once; returns the seconds each took."""
    period = Period.last_days(30, NOW)
    reports: dict[str, Callable[[], object]] = {
        "programme": lambda: programme_metrics(db, period=period),
        "programme, previous period": lambda: programme_metrics(db, period=period.previous()),
        "per campaign": lambda: metrics_per_campaign(db, period=period),
        "per segment": lambda: metrics_per_segment(db, period=period),
        "satisfaction by day": lambda: satisfaction_by_day(db, period=period),
        "sentiment by day": lambda: sentiment_by_day(db, period=period),
    }
    took = {}
    for name, report in reports.items():
        start = time.perf_counter()
        report()
        took[name] = time.perf_counter() - start
    return took


def baseline(db: Database) -> None:
    period = Period.last_days(30, NOW)
    i = Interaction.__table__.c
    d = Delivery.__table__.c
    with db.session() as session:
        session.execute(
            select(func.count(), func.avg(i.polarity)).where(i.sent_at >= period.start)
        ).one()
        session.execute(
            select(d.status, func.count()).where(d.created_at >= period.start).group_by(d.status)
        ).all()


def best_of(runs: int, work: Callable[[], object]) -> tuple[float, float, object]:
    """Wall seconds, process CPU seconds and result of the fastest of `runs` runs."""
    best = (float("inf"), 0.0, None)
    for _ in range(runs):
        start, cpu = time.perf_counter(), time.process_time()
        outcome = work()
        took = time.perf_counter() - start
        if took < best[0]:
            best = (took, time.process_time() - cpu, outcome)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--interactions", type=int, default=1_000_000)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--database-prefix",
        default="rapport_bench_",
        help="name prefix of the scratch PostgreSQL database (dropped afterwards)",
    )
    args = parser.parse_args()
    backend = "postgresql" if args.database_url else "sqlite"
    print(
        f"reports benchmark on {backend}, {machine()}, {args.customers} customers, "
        f"{args.interactions} interactions"
    )
    with fresh_database(args.database_url, args.database_prefix) as db:
        started = time.perf_counter()
        deliveries = load(db, args.customers, args.interactions, random.Random(6))
        print(f"loaded {deliveries} deliveries in {time.perf_counter() - started:.1f} s (untimed)")
        report, report_cpu, parts = best_of(args.repeat, lambda: report_set(db))
        floor, _, _ = best_of(args.repeat, lambda: baseline(db))
    for name, took in parts.items():  # type: ignore[union-attr]
        print(f"  {name:28s} {took:.3f} s")
    print(
        f"full report set {report:.3f} s (this process's CPU {report_cpu:.3f} s); "
        f"plain scans of the same rows {floor:.3f} s"
    )
    result(f"report_set_seconds_{backend}", report, "s")
    result(f"report_set_vs_plain_scans_{backend}", report / floor if floor else 0.0, "ratio")


if __name__ == "__main__":
    main()
