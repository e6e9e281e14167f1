"""A dispatcher process for the crash tests, run as `python -m tests.support.crash_dispatch`.

Usage: DB_URL SINK [--die-after N] [--materialise CAMPAIGN_ID] [--batch N] [--parallel N]

It recovers what a previous (killed) run left, then drains the outbox into
a FileSinkChannel; with --die-after it SIGKILLs itself right after the Nth
message is delivered and before the dispatcher records it.
"""

from __future__ import annotations

import argparse
import asyncio
from datetime import datetime
from pathlib import Path

from rapport.crm.campaigns.runs import start_run
from rapport.crm.database import Database
from rapport.crm.dispatch.dispatcher import Dispatcher
from tests.support.recording import FileSinkChannel

PARALLEL = 2
DEPTH = 2
"""The batched path by default: steps of PARALLEL × DEPTH deliveries, sent two at a time."""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("db_url")
    parser.add_argument("sink", type=Path)
    parser.add_argument("--die-after", type=int, default=None)
    parser.add_argument("--materialise", type=int, default=None)
    parser.add_argument("--slot", type=datetime.fromisoformat, default=None)
    parser.add_argument("--batch", type=int, default=10)
    parser.add_argument("--delay", type=float, default=0.0, help="seconds per send")
    parser.add_argument("--parallel", type=int, default=PARALLEL, help="sends at once")
    parser.add_argument("--depth", type=int, default=DEPTH, help="sends per slot in a step")
    args = parser.parse_args()
    db = Database(args.db_url)
    if args.materialise is not None:
        start_run(db, args.materialise, trigger="manual", scheduled_for=args.slot)
        print("materialised", flush=True)
        return
    channel = FileSinkChannel(
        args.sink, die_after=args.die_after, delay=args.delay, parallel=args.parallel
    )
    dispatcher = Dispatcher(
        db, {"email": channel}, batch_size=args.batch, pipeline_depth=args.depth
    )
    dispatcher.recover(stale_after=0)
    stats = asyncio.run(dispatcher.drain())
    print(f"sent {stats.sent}", flush=True)


if __name__ == "__main__":
    main()
