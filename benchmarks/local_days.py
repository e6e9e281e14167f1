"""What counting by the business's days costs: chart series by local day against UTC days.

Run: python -m benchmarks.local_days [--customers 5000] [--runs 5]

Fills a temporary SQLite demo database (untimed), then times, in turn round
after round, `sentiment_by_day` and `satisfaction_by_day` over 90 days by
UTC day (the old query, the baseline) and by Europe/Berlin day (one CASE over
the period's local midnights, rapport.crm.reports.buckets). Each figure is
the median of `--runs` rounds with its ratio to the baseline of the same run.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from benchmarks.common import machine, result
from rapport.bot.demo.fill import fill_demo
from rapport.crm.reports.programmes import Period
from rapport.crm.reports.series import satisfaction_by_day, sentiment_by_day
from rapport.migrations.schema import open_database

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
BERLIN = ZoneInfo("Europe/Berlin")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    print(machine())
    with tempfile.TemporaryDirectory() as folder:
        db = open_database(f"sqlite:///{Path(folder) / 'bench.db'}")
        fill_demo(db, args.customers, seed=1, now=NOW)
        period = Period.last_days(90, NOW)
        cases: dict[str, Callable[[], object]] = {
            "sentiment_utc_days": lambda: sentiment_by_day(db, period=period),
            "sentiment_local_days": lambda: sentiment_by_day(db, period=period, zone=BERLIN),
            "satisfaction_utc_days": lambda: satisfaction_by_day(db, period=period),
            "satisfaction_local_days": lambda: satisfaction_by_day(db, period=period, zone=BERLIN),
        }
        times: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(args.runs):
            for name, work in cases.items():
                started = time.perf_counter()
                work()
                times[name].append(time.perf_counter() - started)
        db.dispose()
    medians = {name: statistics.median(t) * 1000 for name, t in times.items()}
    for series in ("sentiment", "satisfaction"):
        base = medians[f"{series}_utc_days"]
        local = medians[f"{series}_local_days"]
        result(f"{series}_utc_days", round(base, 1), "ms")
        result(f"{series}_local_days", round(local, 1), "ms")
        result(f"{series}_local_over_utc", round(local / base, 2), "x")


if __name__ == "__main__":
    main()
