"""The contact-policy report and the reminder scan at scale (crm/desk/report.py).

Run: python -m benchmarks.desk [--conversations 20000] [--database-url URL]

Loads (untimed, Core bulk inserts) N customers with one conversation each
over the last 30 days, a fifth of them tagged "corporate", nine in ten
answered and three in four resolved, spread over five agents. Then times the
30-day desk report (business-hours arithmetic per conversation, in Python)
and one reminder scan over the unresolved ones. The baseline is the plain
SQL read of the same rows the report reads.
"""

from __future__ import annotations

import argparse
import random
import time
from datetime import timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import insert, select

from benchmarks.common import fresh_database, machine, result
from rapport.crm.clock import utcnow
from rapport.crm.database import Database
from rapport.crm.desk.report import desk_report, due_reminders
from rapport.crm.desk.rules import DEFAULT_RULES, parse_rules
from rapport.crm.models import Conversation, Customer, CustomerTag, StaffMember
from rapport.crm.reports.programmes import Period

NOW = utcnow().replace(microsecond=0)
BATCH = 10_000


def load(db: Database, count: int, rng: random.Random) -> None:
    def bulk(table: object, rows: list[dict[str, object]]) -> None:
        with db.engine.begin() as conn:
            for start in range(0, len(rows), BATCH):
                conn.execute(insert(table), rows[start : start + BATCH])  # type: ignore[call-overload]

    bulk(
        StaffMember.__table__,
        [
            {
                "id": i,
                "name": f"Agent {i}",
                "role": "agent",
                "email": f"a{i}@shop.hk",
                "active": True,
                "created_at": NOW,
            }
            for i in range(1, 6)
        ],
    )
    bulk(
        Customer.__table__,
        [
            {
                "id": i,
                "display_name": f"C{i}",
                "first_seen_channel": "email",
                "created_at": NOW - timedelta(days=60),
                "marketing_consent": False,
            }
            for i in range(1, count + 1)
        ],
    )
    bulk(
        CustomerTag.__table__,
        [{"customer_id": i, "tag": "corporate"} for i in range(1, count + 1, 5)],
    )
    rows = []
    for i in range(1, count + 1):
        opened = NOW - timedelta(minutes=rng.randint(1, 30 * 24 * 60))
        answered = rng.random() < 0.9
        first = opened + timedelta(minutes=rng.randint(1, 600)) if answered else None
        resolved = (
            first + timedelta(hours=rng.randint(1, 72)) if first and rng.random() < 0.75 else None
        )
        rows.append(
            {
                "id": i,
                "customer_id": i,
                "channel": "email",
                "status": "resolved" if resolved else ("waiting" if first else "open"),
                "assigned_staff_id": rng.randint(1, 5) if first else None,
                "is_complaint": rng.random() < 0.05,
                "opened_at": opened,
                "last_message_at": opened,
                "first_response_at": first if first and first < NOW else None,
                "resolved_at": resolved if resolved and resolved < NOW else None,
            }
        )
    bulk(Conversation.__table__, rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--conversations", type=int, default=20_000)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    rules = parse_rules(DEFAULT_RULES, ZoneInfo("Europe/Berlin"))
    print(f"machine: {machine()}; {args.conversations} conversations")
    with fresh_database(args.database_url) as db:
        load(db, args.conversations, random.Random(7))
        period = Period.last_days(30, NOW)

        started = time.perf_counter()
        with db.session() as session:
            plain = session.execute(
                select(Conversation).where(Conversation.opened_at >= period.start)
            ).all()
        baseline = time.perf_counter() - started

        started = time.perf_counter()
        report = desk_report(db, rules, period, NOW)
        took = time.perf_counter() - started
        assert report.overall.conversations == len(plain) == args.conversations

        started = time.perf_counter()
        reminders = due_reminders(db, rules, NOW)
        scan = time.perf_counter() - started
        print(
            f"report: {took:.2f} s ({report.overall.first_response_breaches} first-response "
            f"breaches); plain read {baseline:.2f} s; reminder scan {scan:.2f} s "
            f"({len(reminders)} reminders)"
        )
        result("desk_report_seconds", took, "s")
        result("desk_report_rate", args.conversations / took, "conversations/s")
        result("desk_report_vs_plain_read", took / baseline, "ratio")
        result("desk_reminder_scan_seconds", scan, "s")


if __name__ == "__main__":
    main()
