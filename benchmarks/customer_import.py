"""Importing customers from CSV: rate, memory, and the cost over a plain bulk insert.

Run: python -m benchmarks.customer_import [--rows 100000]
     [--database-url postgresql://postgres@127.0.0.1/test]

Writes a CSV of `--rows` customers in the documented columns (every row an
email; a third also a Telegram id; half with consent, its source and date;
some tags), then times `rapport.crm.customers.importing.import_customers_file`
on a fresh database: every row checked (addresses normalised, duplicates
folded), matched against stored identities, and written in one transaction
with consent events and their evidence. Then the same import again (it finds
everything and writes nothing), and, as the baseline in the same run, a
plain bulk insert of the same customers, identities and consents into
another fresh database (csv module, Core executemany, no checks at all), and
the same straight to the driver's executemany (the floor).
Peak memory is the process's maximum resident set size.
Goal (issue 18): 20,000 rows/s or more on SQLite, under 200 MB.
"""

from __future__ import annotations

import argparse
import csv
import resource
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import insert

from benchmarks.common import fresh_database, machine, result
from rapport.crm.customers.importing import import_customers_file
from rapport.crm.database import Database
from rapport.crm.models import Consent, ConsentEvent, Customer, Identity
from rapport.crm.staff.audit import Actor

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
CHUNK = 5_000


def write_csv(path: Path, rows: int) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["email", "name", "telegram_id", "tags", "consent", "consent_source",
                      "consent_at"])  # fmt: skip
        for i in range(1, rows + 1):
            consent = i % 2 == 0
            out.writerow(
                [
                    f"Customer.{i}@Example.com",
                    f"Customer {i}",
                    str(7_000_000 + i) if i % 3 == 0 else "",
                    "vip;wholesale" if i % 10 == 0 else ("vip" if i % 7 == 0 else ""),
                    "yes" if consent else "",
                    "signed form at the till" if consent else "",
                    "2026-10-01" if consent else "",
                ]
            )


def plain_insert(db: Database, path: Path) -> float:
    """The same rows with no checking, matching or evidence: the floor to compare with."""
    start = time.perf_counter()
    with path.open(encoding="utf-8", newline="") as handle, db.engine.begin() as conn:
        reader = csv.reader(handle)
        next(reader)
        rows = list(reader)
        cid = 0
        for at in range(0, len(rows), CHUNK):
            chunk = rows[at : at + CHUNK]
            customers, identities, consents, events = [], [], [], []
            for email, name, chat, _tags, consent, source, _when in chunk:
                cid += 1
                customers.append({"id": cid, "display_name": name, "created_at": NOW,
                                  "first_seen_channel": "email",
                                  "marketing_consent": bool(consent)})  # fmt: skip
                identities.append({"customer_id": cid, "channel": "email",
                                   "external_id": email.lower(), "created_at": NOW})  # fmt: skip
                if chat:
                    identities.append({"customer_id": cid, "channel": "telegram",
                                       "external_id": chat, "created_at": NOW})  # fmt: skip
                if consent:
                    common = {"customer_id": cid, "channel": "email", "purpose": "marketing",
                              "granted": True, "source": source[:40]}  # fmt: skip
                    consents.append({**common, "updated_at": NOW})
                    events.append({**common, "at": NOW})
            conn.execute(insert(Customer.__table__), customers)
            conn.execute(insert(Identity.__table__), identities)
            if consents:
                conn.execute(insert(Consent.__table__), consents)
                conn.execute(insert(ConsentEvent.__table__), events)
    return time.perf_counter() - start


def driver_insert(db: Database, path: Path) -> float:
    """The same rows straight to the driver's executemany: the floor under any import."""
    from rapport.crm.bulk import insert_rows, stored

    start = time.perf_counter()
    with path.open(encoding="utf-8", newline="") as handle, db.engine.begin() as conn:
        reader = csv.reader(handle)
        next(reader)
        rows = list(reader)
        stamp = stored(conn, Customer.__table__, "created_at", NOW)
        yes, no = (stored(conn, Customer.__table__, "marketing_consent", v) for v in (True, False))
        numbered = list(enumerate(rows, start=1))
        insert_rows(
            conn,
            Customer.__table__,
            ("id", "display_name", "first_seen_channel", "created_at", "marketing_consent"),
            ((i, r[1], "email", stamp, yes if r[4] else no) for i, r in numbered),
        )
        insert_rows(
            conn,
            Identity.__table__,
            ("customer_id", "channel", "external_id", "created_at"),
            ((i, "email", r[0].lower(), stamp) for i, r in numbered),
        )
        insert_rows(
            conn,
            Identity.__table__,
            ("customer_id", "channel", "external_id", "created_at"),
            ((i, "telegram", r[2], stamp) for i, r in numbered if r[2]),
        )
        consenting = [(i, r) for i, r in numbered if r[4]]
        insert_rows(
            conn,
            Consent.__table__,
            ("customer_id", "channel", "purpose", "granted", "source", "updated_at"),
            ((i, "email", "marketing", yes, r[5][:40], stamp) for i, r in consenting),
        )
        insert_rows(
            conn,
            ConsentEvent.__table__,
            ("customer_id", "channel", "purpose", "granted", "source", "at"),
            ((i, "email", "marketing", yes, r[5][:40], stamp) for i, r in consenting),
        )
    return time.perf_counter() - start  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    print(machine())
    actor = Actor(label="bench")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "customers.csv"
        write_csv(path, args.rows)
        with fresh_database(args.database_url) as db:
            start = time.perf_counter()
            report = import_customers_file(db, path, actor, now=NOW)
            seconds = time.perf_counter() - start
            assert report.written and report.created == args.rows, report.errors[:3]
            start = time.perf_counter()
            again = import_customers_file(db, path, actor, now=NOW)
            again_seconds = time.perf_counter() - start
            assert again.unchanged == args.rows
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        with fresh_database(args.database_url) as db:
            baseline = plain_insert(db, path)
        with fresh_database(args.database_url) as db:
            floor = driver_insert(db, path)
    rate = args.rows / seconds
    print(f"imported {args.rows} rows ({report.consents} consents) in {seconds:.2f} s")
    print(f"re-import (nothing to write): {again_seconds:.2f} s")
    print(f"plain bulk insert of the same rows: {baseline:.2f} s (Core), {floor:.2f} s (driver)")
    print(f"peak RSS {peak_mb:.0f} MB")
    result("customer_import_rate", rate, "rows/s")
    result("customer_import_seconds", seconds, "s")
    result("customer_reimport_rate", args.rows / again_seconds, "rows/s")
    result("plain_insert_rate", args.rows / baseline, "rows/s")
    result("customer_import_vs_plain_insert", seconds / baseline, "ratio")
    result("driver_insert_rate", args.rows / floor, "rows/s")
    result("customer_import_vs_driver_insert", seconds / floor, "ratio")
    result("customer_import_peak_rss", peak_mb, "MB")


if __name__ == "__main__":
    main()
