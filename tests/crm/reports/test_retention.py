"""Acquisition, retention cohorts, churn and reactivation on a hand-made timeline.

A  email     msg 06-05, order 07-10, msg 09-05          cohort 2026-06
B  telegram  msg 06-20                                  cohort 2026-06
C  email     (created by) order 07-15, order 08-15      cohort 2026-07
D  telegram  msg 07-01, msg 11-05 (back after 4 months) cohort 2026-07
E  email     msg 09-10, then erased: counted nowhere
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from rapport.crm.database import Database
from rapport.crm.reports.retention import (
    AcquisitionRow,
    ChurnRow,
    acquisition,
    churn_and_reactivation,
    retention_cohorts,
)
from rapport.crm.segments.saved import create_segment
from rapport.crm.value.orders import record_order
from tests.support.campaign_fixtures import customer, erase

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
START = datetime(2026, 6, 1, tzinfo=UTC)


def _at(month: int, day: int) -> datetime:
    return datetime(2026, month, day, 12, 0, tzinfo=UTC)


def _order(db: Database, key: str, who: str, when: datetime) -> None:
    record_order(db, order_key=key, customer=who, amount="10", ordered_at=when, now=NOW)


@pytest.fixture
def timeline(db: Database) -> None:
    customer(db, "a@example.com", consent=False, at=_at(6, 5))
    customer(db, "200", channel="telegram", consent=False, at=_at(6, 20))
    _order(db, "a-1", "a@example.com", _at(7, 10))
    customer(db, "300", channel="telegram", consent=False, at=_at(7, 1))
    _order(db, "c-1", "c@example.com", _at(7, 15))
    _order(db, "c-2", "c@example.com", _at(8, 15))
    customer(db, "a@example.com", consent=False, at=_at(9, 5))
    erase(db, customer(db, "e@example.com", consent=False, at=_at(9, 10)))
    customer(db, "300", channel="telegram", consent=False, at=_at(11, 5))


def test_acquisition_by_month_and_first_channel(db: Database, timeline: None) -> None:
    end = datetime(2026, 12, 1, tzinfo=UTC)
    assert acquisition(db, START, end, now=NOW) == [
        AcquisitionRow("2026-06", "email", 1),
        AcquisitionRow("2026-06", "telegram", 1),
        AcquisitionRow("2026-07", "email", 1),
        AcquisitionRow("2026-07", "telegram", 1),
    ]
    create_segment(
        db, "via telegram", {"field": "first_seen_channel", "op": "==", "value": "telegram"}
    )
    assert acquisition(db, START, end, segment="via telegram", now=NOW) == [
        AcquisitionRow("2026-06", "telegram", 1),
        AcquisitionRow("2026-07", "telegram", 1),
    ]


def test_retention_cohorts(db: Database, timeline: None) -> None:
    cohorts = retention_cohorts(db, START, NOW)
    assert [(c.month, c.size, c.active) for c in cohorts] == [
        ("2026-06", 2, [2, 1, 0, 1, 0, 0]),
        ("2026-07", 2, [2, 1, 0, 0, 1]),
    ]
    assert cohorts[0].shares == [1.0, 0.5, 0.0, 0.5, 0.0, 0.0]


def test_churned_and_reactivated_per_month(db: Database, timeline: None) -> None:
    assert churn_and_reactivation(db, START, 6) == [
        ChurnRow("2026-06", new=2, active=2, churned=0, reactivated=0),
        ChurnRow("2026-07", new=2, active=3, churned=0, reactivated=0),
        ChurnRow("2026-08", new=0, active=1, churned=0, reactivated=0),
        # B (last 06-20) and D (last 07-01) pass 90 silent days in September.
        ChurnRow("2026-09", new=0, active=1, churned=2, reactivated=0),
        ChurnRow("2026-10", new=0, active=0, churned=0, reactivated=0),
        # C (last order 08-15) churns; D comes back after four months.
        ChurnRow("2026-11", new=0, active=1, churned=1, reactivated=1),
    ]
