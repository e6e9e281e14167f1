"""Run every benchmark and write their figures into docs/benchmarks.md.

Run: python -m benchmarks.run_all [--quick] [--postgres URL] [--soak]

Each script prints `RESULT <name> <value> <unit>` lines; this collects them
into a table between the `run_all` markers of docs/benchmarks.md, with the
machine, the load it was under and the date, and leaves the hand-written
analysis around it alone. `--quick` uses small counts (a smoke run).
`--soak` adds the soak run (benchmarks/soak.py): ten minutes of the whole
app under steady traffic (one with `--quick`); it is off by default.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "benchmarks.md"
START, END = "<!-- run_all:start -->", "<!-- run_all:end -->"
RESULT = re.compile(r"^RESULT (\S+) (\S+) (.+)$")


@dataclass(frozen=True)
class Bench:
    title: str
    module: str
    args: tuple[str, ...] = ()
    quick_args: tuple[str, ...] = ()


def benches(postgres: str | None, soak: bool = False) -> list[Bench]:
    found = [
        Bench("Ingest (SQLite)", "benchmarks.ingest", (), ("--count", "3000")),
        Bench("Campaign run (SQLite)", "benchmarks.campaign", (), ("--customers", "5000")),
        Bench("Email send", "benchmarks.email_send", (), ("--count", "1000")),
        Bench("Dispatch (SQLite)", "benchmarks.dispatch", (), ("--customers", "3000")),
        Bench("Telegram send", "benchmarks.telegram_send", (), ("--count", "150")),
        Bench("Sentiment", "benchmarks.sentiment_eval"),
        Bench("Demo data (SQLite)", "benchmarks.demo_data", (), ("--customers", "2000")),
        Bench("Customer import (SQLite)", "benchmarks.customer_import", (), ("--rows", "10000")),
        Bench("Desk report (SQLite)", "benchmarks.desk", (), ("--conversations", "3000")),
        Bench(
            "Console pages (SQLite)",
            "benchmarks.console",
            (),
            ("--customers", "10000", "--interactions", "100000", "--open", "2000"),
        ),
        Bench(
            "Customer value (SQLite)",
            "benchmarks.value",
            ("--customers", "100000", "--orders", "1000000"),
            ("--customers", "5000", "--orders", "50000"),
        ),
        Bench(
            "Reports (SQLite)",
            "benchmarks.reports",
            (),
            ("--customers", "5000", "--interactions", "50000"),
        ),
        Bench("CLI start", "benchmarks.cli_start", (), ("--runs", "5")),
        Bench("API orders push (SQLite)", "benchmarks.api_orders", (), ("--orders", "5000")),
    ]
    if postgres:
        pg = ("--database-url", postgres)
        found += [
            Bench("Ingest (PostgreSQL)", "benchmarks.ingest", pg, (*pg, "--count", "3000")),
            Bench(
                "Campaign run (PostgreSQL)", "benchmarks.campaign", pg, (*pg, "--customers", "5000")
            ),
            Bench(
                "Dispatch (PostgreSQL)",
                "benchmarks.dispatch",
                (*pg, "--batch", "100"),
                (*pg, "--batch", "100", "--customers", "3000"),
            ),
            Bench(
                "Customer import (PostgreSQL)",
                "benchmarks.customer_import",
                pg,
                (*pg, "--rows", "10000"),
            ),
            Bench(
                "Customer value (PostgreSQL)",
                "benchmarks.value",
                (*pg, "--customers", "100000", "--orders", "1000000"),
                (*pg, "--customers", "5000", "--orders", "50000"),
            ),
            Bench(
                "API orders push (PostgreSQL)",
                "benchmarks.api_orders",
                pg,
                (*pg, "--orders", "5000"),
            ),
            Bench(
                "Reports (PostgreSQL)",
                "benchmarks.reports",
                pg,
                (*pg, "--customers", "5000", "--interactions", "50000"),
            ),
        ]
    if soak:
        layout = ("--database-url", postgres, "--workers", "1") if postgres else ()
        where = "PostgreSQL, run + 1 worker" if postgres else "SQLite"
        found.append(
            Bench(f"Soak ({where})", "benchmarks.soak", layout, (*layout, "--minutes", "1"))
        )
    return [b for b in found if (ROOT / (b.module.replace(".", "/") + ".py")).exists()]


def run(bench: Bench, quick: bool) -> tuple[list[tuple[str, str, str]], float, str | None]:
    args = bench.quick_args if quick else bench.args
    start = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", bench.module, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=3600,
    )
    elapsed = time.monotonic() - start
    results = [m.groups() for line in proc.stdout.splitlines() if (m := RESULT.match(line))]
    error = None if proc.returncode == 0 else (proc.stderr.strip().splitlines() or ["?"])[-1]
    return results, elapsed, error  # type: ignore[return-value]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--postgres", default=os.environ.get("RAPPORT_TEST_POSTGRES_URL"))
    parser.add_argument("--soak", action="store_true", help="also the 10-minute soak run")
    args = parser.parse_args()
    load = os.getloadavg()
    lines = [
        START,
        f"Last `python -m benchmarks.run_all{' --quick' if args.quick else ''}"
        f"{' --soak' if args.soak else ''}`: "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {platform.machine()}, "
        f"{os.cpu_count()} cores, Python {platform.python_version()}, "
        f"load average at start {load[0]:.1f}.",
        "",
        "| benchmark | figure | value | unit |",
        "|---|---|---|---|",
    ]
    for bench in benches(args.postgres, args.soak):
        print(f"running {bench.title} …", flush=True)
        results, elapsed, error = run(bench, args.quick)
        if error:
            lines.append(f"| {bench.title} | failed after {elapsed:.0f} s | {error} | |")
        for name, value, unit in results:
            lines.append(f"| {bench.title} | {name} | {value} | {unit} |")
            print(f"  RESULT {name} {value} {unit}", flush=True)
    lines.append(END)
    text = DOC.read_text() if DOC.exists() else "# Benchmarks\n"
    block = "\n".join(lines)
    if START in text and END in text:
        text = text[: text.index(START)] + block + text[text.index(END) + len(END) :]
    else:
        first_section = text.find("\n## ")
        at = first_section + 1 if first_section >= 0 else len(text)
        text = text[:at] + "## Latest run of every benchmark\n\n" + block + "\n\n" + text[at:]
    DOC.write_text(text)
    print(f"wrote {DOC}")


if __name__ == "__main__":
    main()
