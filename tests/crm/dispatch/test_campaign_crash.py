"""Kill the dispatcher for real (SIGKILL) and restart it: nothing doubled, nothing lost.

The sink file stands for the customers' inboxes: a line is written before
the channel returns, so it holds every message that left Rapport.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select

from rapport.crm.campaigns.runs import start_run
from rapport.crm.database import Database
from rapport.crm.dispatch.claims import OUTCOME_UNKNOWN
from rapport.crm.models import Delivery, DeliveryStatus, Identity
from tests.support.campaign_fixtures import T0, campaign, customer, everyone
from tests.support.crash_dispatch import DEPTH, PARALLEL
from tests.support.recording import sink_lines

ROOT = Path(__file__).resolve().parents[3]
CUSTOMERS = 40


def dispatcher(db_url: str, sink: Path, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-m", "tests.support.crash_dispatch", db_url, str(sink), *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def population(db: Database) -> int:
    everyone(db)
    for i in range(CUSTOMERS):
        customer(db, f"c{i}@example.com")
    return campaign(db).id


STEP = PARALLEL * DEPTH
"""Deliveries marked "sending" at once by tests.support.crash_dispatch: what one kill may
leave unknown."""


def final_states(db: Database) -> list[Delivery]:
    with db.session() as s:
        return list(s.scalars(select(Delivery)))


def addresses(db: Database, status: DeliveryStatus, error: str | None = None) -> set[str]:
    with db.session() as s:
        query = (
            select(Identity.external_id)
            .join(Delivery, Delivery.identity_id == Identity.id)
            .where(Delivery.status == status)
        )
        if error is not None:
            query = query.where(Delivery.last_error == error)
        return set(s.scalars(query))


def assert_exactly_once(db: Database, sink: Path, kills: int) -> None:
    """Nobody got the message twice; every delivery is sent (and in the inbox) or unknown.

    A kill may leave the step it hit "sending": those deliveries become
    "outcome unknown", whether the channel had them or not, and are never
    resent. Everything else reached its customer exactly once.
    """
    received = Counter(line["to"] for line in sink_lines(sink))
    assert max(received.values()) == 1, "a customer got the campaign twice"
    rows = final_states(db)
    assert all(d.status in (DeliveryStatus.SENT, DeliveryStatus.FAILED) for d in rows)
    sent = addresses(db, DeliveryStatus.SENT)
    unknown = addresses(db, DeliveryStatus.FAILED, OUTCOME_UNKNOWN)
    assert len(sent) + len(unknown) == CUSTOMERS, "a delivery failed for another reason"
    assert sent <= set(received), "recorded as sent but never delivered"
    assert set(received) - sent <= unknown, "delivered but not recorded, and not flagged"
    assert len(unknown) <= kills * 2 * STEP  # at most two steps are "sending" at once


def test_killed_after_send_before_recording(db_url: str, db: Database, tmp_path: Path) -> None:
    start_run(db, population(db), trigger="manual")
    sink = tmp_path / "inbox.jsonl"

    crashed = dispatcher(db_url, sink, "--die-after", "7")
    crashed.communicate(timeout=60)
    assert crashed.returncode == -signal.SIGKILL
    assert len(sink_lines(sink)) == 7

    finished = dispatcher(db_url, sink)
    _, err = finished.communicate(timeout=60)
    assert finished.returncode == 0, err

    assert_exactly_once(db, sink, kills=1)
    # Killed in the second step after its third send: those three (and the first
    # step, if its record had not committed) left unrecorded, the rest of the
    # step and the next one marked but never handed over: all flagged, none resent.
    unknown = addresses(db, DeliveryStatus.FAILED, OUTCOME_UNKNOWN)
    assert 3 <= len(unknown) <= 2 * STEP
    assert len(sink_lines(sink)) == len(addresses(db, DeliveryStatus.SENT)) + 3 + (
        STEP if len(unknown) == 2 * STEP else 0
    )


def test_killed_after_materialising(db_url: str, db: Database, tmp_path: Path) -> None:
    campaign_id = population(db)
    sink = tmp_path / "inbox.jsonl"
    slot = T0 + timedelta(days=1)
    made = dispatcher(db_url, sink, "--materialise", str(campaign_id), "--slot", slot.isoformat())
    made.communicate(timeout=60)
    assert made.returncode == 0
    again = start_run(db, campaign_id, trigger="manual", scheduled_for=slot)  # a re-fire
    assert not again.created and again.queued == CUSTOMERS

    finished = dispatcher(db_url, sink)
    finished.communicate(timeout=60)
    received = Counter(line["to"] for line in sink_lines(sink))
    assert len(received) == CUSTOMERS and set(received.values()) == {1}


def test_killed_at_random_moments(db_url: str, db: Database, tmp_path: Path) -> None:
    start_run(db, population(db), trigger="manual")
    sink = tmp_path / "inbox.jsonl"
    rng = random.Random(os.getpid())
    for _ in range(3):
        before = len(sink_lines(sink))
        target = before + rng.randint(1, 8)
        proc = dispatcher(db_url, sink, "--batch", "10", "--delay", "0.01")
        deadline = time.monotonic() + 30
        while len(sink_lines(sink)) < target and time.monotonic() < deadline:
            time.sleep(rng.uniform(0.001, 0.02))  # land anywhere in the send/record cycle
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=60)
        assert len(sink_lines(sink)) < CUSTOMERS, "the run finished before it was killed"
    finished = dispatcher(db_url, sink)
    _, err = finished.communicate(timeout=60)
    assert finished.returncode == 0, err
    assert_exactly_once(db, sink, kills=3)
