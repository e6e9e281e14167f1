"""Ingest throughput, end to end, against a raw bulk insert of the same rows.

Run: python -m benchmarks.ingest [--count 20000] [--customers 5000]
     [--batch 100] [--database-url postgresql://postgres@127.0.0.1/test]

`ingest_rate` feeds the messages through `ingest_batch` in batches of
`--batch` (what a Telegram getUpdates page or an IMAP poll hands over);
`ingest_single_rate` does one transaction per message (an SMTP delivery),
`ingest_single_cpu_rate` the same per second of this process's CPU time
(the database server's, on PostgreSQL, is not in it);
`raw_insert_rate` inserts the same customers, identities, conversations and
interactions with SQLAlchemy Core executemany and sentiment precomputed, the
floor of what the database itself costs.
"""

from __future__ import annotations

import argparse
import random
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import insert

from benchmarks.common import customer_text, fresh_database, machine, result
from rapport.crm.database import Database
from rapport.crm.interactions.ingest import ingest, ingest_batch
from rapport.crm.messages import InboundMessage
from rapport.crm.models import Conversation, Customer, Identity, Interaction
from rapport.crm.sentiment.scoring import default_analyser

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def make_messages(count: int, customers: int, seed: int = 7) -> list[InboundMessage]:
    rng = random.Random(seed)
    messages = []
    for i in range(count):
        who = rng.randrange(customers)
        messages.append(
            InboundMessage(
                channel="email" if who % 2 else "telegram",
                external_id=f"c{who}@example.com" if who % 2 else str(100000 + who),
                sender=f"Customer {who}",
                text=customer_text(rng),
                sent_at=T0 + timedelta(seconds=i),
                message_key=f"bench-{i}",
            )
        )
    return messages


def run_batched(db: Database, messages: list[InboundMessage], batch: int) -> float:
    start = time.perf_counter()
    for i in range(0, len(messages), batch):
        ingest_batch(db, messages[i : i + batch])
    return time.perf_counter() - start


def run_single(db: Database, messages: list[InboundMessage]) -> tuple[float, float]:
    """Wall seconds and this process's CPU seconds (the figure a loaded machine spoils least)."""
    start, cpu = time.perf_counter(), time.process_time()
    for message in messages:
        ingest(db, message)
    return time.perf_counter() - start, time.process_time() - cpu


def run_raw(db: Database, messages: list[InboundMessage]) -> float:
    """The same rows through Core executemany; sentiment computed beforehand, untimed."""
    scores = [default_analyser.assess(m.text) for m in messages]
    start = time.perf_counter()
    ids: dict[tuple[str, str], int] = {}
    customer_rows, identity_rows = [], []
    for m in messages:
        key = (m.channel, m.external_id)
        if key not in ids:
            ids[key] = len(ids) + 1
            customer_rows.append(
                {
                    "id": ids[key],
                    "display_name": m.sender,
                    "first_seen_channel": m.channel,
                    "last_channel": m.channel,
                    "last_activity_at": m.sent_at,
                    "created_at": m.sent_at,
                    "marketing_consent": False,
                }
            )
            identity_rows.append(
                {
                    "customer_id": ids[key],
                    "channel": m.channel,
                    "external_id": m.external_id,
                    "display_name": m.sender,
                    "created_at": m.sent_at,
                }
            )
    conversation_rows = [
        {
            "id": cid,
            "customer_id": cid,
            "channel": ch,
            "status": "open",
            "is_complaint": False,
            "opened_at": T0,
            "last_message_at": T0,
        }
        for (ch, _), cid in ids.items()
    ]
    interaction_rows = [
        {
            "customer_id": ids[(m.channel, m.external_id)],
            "conversation_id": ids[(m.channel, m.external_id)],
            "channel": m.channel,
            "direction": "in",
            "body": m.text,
            "language": s.language,
            "polarity": s.polarity,
            "subjectivity": s.subjectivity,
            "automated": False,
            "message_key": m.message_key,
            "sent_at": m.sent_at,
            "recorded_at": m.sent_at,
        }
        for m, s in zip(messages, scores, strict=True)
    ]
    with db.engine.begin() as conn:
        conn.execute(insert(Customer), customer_rows)
        conn.execute(insert(Identity), identity_rows)
        conn.execute(insert(Conversation), conversation_rows)
        conn.execute(insert(Interaction), interaction_rows)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=20_000)
    parser.add_argument("--customers", type=int, default=5_000)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument(
        "--single-count", type=int, default=2_000, help="messages for the one-transaction-each run"
    )
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()

    messages = make_messages(args.count, args.customers)
    default_analyser.assess("warm up the lexicon before timing")  # imports TextBlob once
    backend = "sqlite" if not args.database_url else "postgresql"
    print(f"ingest benchmark on {backend}, {machine()}")
    print(f"{args.count} messages from {args.customers} customers, batches of {args.batch}")

    with fresh_database(args.database_url) as db:
        batched = run_batched(db, messages, args.batch)
    with fresh_database(args.database_url) as db:
        single, single_cpu = run_single(db, messages[: args.single_count])
    with fresh_database(args.database_url) as db:
        raw = run_raw(db, messages)
    start = time.perf_counter()
    for m in messages:
        default_analyser.assess(m.text)
    sentiment = time.perf_counter() - start

    rate, single_rate, raw_rate = (
        args.count / batched,
        args.single_count / single,
        args.count / raw,
    )
    print(f"ingest (batched):       {rate:9.0f} msg/s")
    print(f"ingest (one per tx):    {single_rate:9.0f} msg/s")
    print(f"  per CPU second:       {args.single_count / single_cpu:9.0f} msg/s (this process)")
    print(f"raw Core bulk insert:   {raw_rate:9.0f} rows/s (sentiment precomputed)")
    print(f"sentiment alone:        {args.count / sentiment:9.0f} texts/s")
    print(f"ingest minus sentiment: {args.count / (batched - sentiment):9.0f} msg/s")
    result("ingest_rate", rate, "msg/s")
    result("ingest_single_rate", single_rate, "msg/s")
    result("ingest_single_cpu_rate", args.single_count / single_cpu, "msg/cpu-s")
    result("ingest_single_vs_raw", single_rate / raw_rate, "ratio")
    result("raw_insert_rate", raw_rate, "msg/s")
    result("ingest_vs_raw", rate / raw_rate, "ratio")
    result(
        "ingest_without_sentiment_vs_raw", (args.count / (batched - sentiment)) / raw_rate, "ratio"
    )


if __name__ == "__main__":
    main()
