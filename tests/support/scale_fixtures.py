"""Building blocks of the scale and fault tests: big populations, worker processes, waiting.

Populations are loaded with set-based Core inserts (as benchmarks/campaign.py
does): 20,000 customers through `ingest` would take minutes and test ingest,
not dispatch.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

from rapport.crm.campaigns.definitions import CampaignSpec, create_campaign
from rapport.crm.campaigns.runs import start_run
from rapport.crm.database import Database
from rapport.crm.dispatch.dispatcher import Dispatcher
from rapport.crm.dispatch.outcomes import DispatchStats
from rapport.crm.models import Delivery, DeliveryStatus
from rapport.crm.segments.saved import create_segment
from rapport.migrations.schema import upgrade
from tests.conftest import PG_SKIP_REASON, postgres_admin_url

ROOT = Path(__file__).resolve().parents[2]
UNSETTLED = (DeliveryStatus.QUEUED, DeliveryStatus.CLAIMED, DeliveryStatus.SENDING)


@contextmanager
def scale_database(prefix: str = "rapport_scale_") -> Iterator[str]:
    """A PostgreSQL database of our own on the shared server, migrated; dropped after."""
    admin_url = postgres_admin_url()
    if admin_url is None:
        pytest.skip(PG_SKIP_REASON)
    name = f"{prefix}{uuid.uuid4().hex[:10]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    try:
        db = Database(url)
        upgrade(db)
        db.dispose()
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def materialised_run(db: Database, *, channel: str = "email", name: str = "Scale") -> int:
    """One announcement to everyone, materialised; returns how many deliveries are queued."""
    create_segment(db, f"everyone-{name}", {"all": []})
    campaign = create_campaign(
        db,
        CampaignSpec(
            name=name,
            kind="announcement",
            segment=f"everyone-{name}",
            template="Hi {{ first_name }}, news from {{ business }}!",
            channel=channel,
        ),
    )
    return start_run(db, campaign.id, trigger="manual").queued


def status_counts(db: Database) -> dict[DeliveryStatus, int]:
    with db.session() as s:
        rows = s.execute(select(Delivery.status, func.count()).group_by(Delivery.status)).all()
    return {DeliveryStatus(status): n for status, n in rows}


async def wait_settled(db: Database, timeout: float = 600.0, poll: float = 0.5) -> None:
    """Until no delivery is queued, claimed or sending (a guard against hangs, not a timing)."""
    deadline = time.monotonic() + timeout
    while True:
        counts = await asyncio.to_thread(status_counts, db)
        if not any(counts.get(s) for s in UNSETTLED):
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"deliveries did not settle: {counts}")
        await asyncio.sleep(poll)


def app_env(db_url: str, **settings: str) -> dict[str, str]:
    """The environment of a Rapport process running this worktree's code."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("RAPPORT_") or name == "RAPPORT_TEST_POSTGRES_URL"
    }
    env.update(
        PYTHONPATH=str(ROOT),
        RAPPORT_DATABASE_URL=db_url,
        RAPPORT_INBOUND_SMTP_PORT="0",
        RAPPORT_WEB_PORT="0",
        # The web server is off here; links in mail name the one a proxy would serve.
        RAPPORT_PUBLIC_URL="https://crm.example.test",
    )
    env.update({f"RAPPORT_{k.upper()}": v for k, v in settings.items()})
    return env


async def start_process(
    args: list[str], env: dict[str, str], log: Path
) -> asyncio.subprocess.Process:
    with log.open("ab") as out:
        return await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "rapport.bot",
            *args,
            cwd=log.parent,
            env=env,
            stdout=out,
            stderr=out,
        )


async def stop_processes(processes: list[asyncio.subprocess.Process]) -> list[int | None]:
    """SIGINT (a clean stop), then wait; a process that will not stop is killed."""
    for process in processes:
        if process.returncode is None:
            process.send_signal(signal.SIGINT)
    for process in processes:
        try:
            await asyncio.wait_for(process.wait(), 60)
        except TimeoutError:
            process.kill()
            await process.wait()
    return [p.returncode for p in processes]


async def dispatch_until_settled(dispatcher: Dispatcher, db: Database) -> DispatchStats:
    """Drain, wait for retries to come due, drain again, until every delivery is final."""
    total = DispatchStats()
    deadline = time.monotonic() + 120  # a guard against a hang, not a timing
    while True:
        stats = await dispatcher.drain()
        for name in ("sent", "retried", "failed", "skipped"):
            setattr(total, name, getattr(total, name) + getattr(stats, name))
        for kind, n in stats.by_error.items():
            total.by_error[kind] = total.by_error.get(kind, 0) + n
        counts = await asyncio.to_thread(status_counts, db)
        if not any(counts.get(s) for s in UNSETTLED):
            return total
        if time.monotonic() > deadline:
            raise AssertionError(f"deliveries did not settle: {counts}")
        await asyncio.sleep(0.02)
