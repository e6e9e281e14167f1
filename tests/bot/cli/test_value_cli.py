"""`rapport import orders`, `rapport customers values`, `rapport points` as a user runs them."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select

from rapport.crm.database import Database
from rapport.crm.models import Order
from tests.support.cli import rapport

CSV = """order_id,customer,amount,currency,date
A-1,ann@example.com,120.00,EUR,2026-09-01
A-2,ann@example.com,80.00,EUR,2026-10-01
B-1,bob@example.com,15.50,EUR,2026-10-20
X-1,bob@example.com,abc,EUR,2026-10-21
"""


def test_import_then_values_and_points(tmp_path: Path) -> None:
    path = tmp_path / "orders.csv"
    path.write_text(CSV, encoding="utf-8")
    first = rapport(tmp_path, "import", "orders", str(path))
    assert first.returncode == 1, first.stderr  # one row refused
    assert "3 imported, 0 already there, 1 refused; 2 new customer(s)" in first.stdout
    assert "amount 'abc' is not a number" in first.stdout
    assert "5 " in first.stdout  # the refused row's line number in the table

    again = rapport(tmp_path, "import", "orders", str(path))
    assert "0 imported, 3 already there, 1 refused" in again.stdout
    db = Database(f"sqlite:///{tmp_path / 'r.db'}")
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Order)) == 3
    db.dispose()

    values = rapport(tmp_path, "customers", "values", "--recompute")
    assert values.returncode == 0, values.stderr
    assert "values recomputed for 2 customer(s), 2 with orders" in values.stdout
    # Two buyers: quintile 1 + ⌊5·(rank−1)/2⌋ puts the top one in 3 (silver), not gold.
    assert "silver" in values.stdout and "bronze" in values.stdout

    ann = rapport(tmp_path, "customers", "values", "1")
    assert ann.returncode == 0, ann.stderr
    assert "value tier Silver: the middle 40% by spend" in ann.stdout
    assert "200 points" in ann.stdout

    spent = rapport(tmp_path, "points", "redeem", "1", "150", "--reason", "voucher")
    assert "150 points redeemed, 50 left" in spent.stdout
    refused = rapport(tmp_path, "points", "redeem", "1", "51")
    assert refused.returncode == 2
    assert "has 50 points; cannot redeem 51" in refused.stderr


def test_acquisition_and_retention_reports(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    this_month = f"{datetime.now(UTC):%Y-%m}"
    for n in range(3):
        made = rapport(
            tmp_path,
            "ingest",
            "--channel",
            "telegram",
            "--from",
            str(100 + n),
            "--text",
            "hello",
        )
        assert made.returncode == 0, made.stderr
    acquired = rapport(tmp_path, "report", "acquisition", "--months", "2")
    assert acquired.returncode == 0, acquired.stderr
    row = next(line for line in acquired.stdout.splitlines() if this_month in line)
    assert row.split()[0] == this_month and row.split()[-2:] == ["3", "3"]  # one channel, total
    assert "(partial, to" in row  # the month still running says so
    retained = rapport(tmp_path, "report", "retention", "--months", "1")
    assert retained.returncode == 0, retained.stderr
    cohort_row = next(line for line in retained.stdout.splitlines() if this_month in line)
    assert "100.0%" in cohort_row
