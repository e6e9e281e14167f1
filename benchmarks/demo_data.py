"""How long `rapport demo-data` takes, stage by stage.

Run: python -m benchmarks.demo_data [--customers 10000] [--database-url postgresql://…]

Fills a fresh database with `rapport.bot.demo.fill.fill_demo` and reports the wall time of
each stage (drawing the rows in Python, the bulk inserts, the two value
recomputes) and the total, with rows written per second.
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime

from benchmarks.common import fresh_database, machine, result
from rapport.bot.demo.fill import count_rows, fill_demo

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    print(f"machine: {machine()}")
    with fresh_database(args.database_url) as db:
        start = last = time.perf_counter()

        def stage(name: str, _n: int) -> None:
            nonlocal last
            now = time.perf_counter()
            print(f"  {name}: {now - last:.2f} s")
            last = now

        fill_demo(db, args.customers, seed=1, now=NOW, progress=stage)
        total = time.perf_counter() - start
        rows = sum(count_rows(db).values())
        print(f"{db.dialect}: {args.customers} customers, {rows} rows in {total:.2f} s")
    result(f"demo_data_seconds_{db.dialect}", total, "s")
    result(f"demo_data_rows_per_second_{db.dialect}", rows / total, "rows/s")


if __name__ == "__main__":
    main()
