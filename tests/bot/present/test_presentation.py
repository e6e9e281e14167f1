"""What a shop owner reads: every listing and report at 80 columns, in local time (issue 24).

The CLI runs for real (a subprocess, as a user runs it) with COLUMNS=80 and
RAPPORT_TIMEZONE=Europe/Berlin on demo data, plus customers whose last
messages fall either side of the end of summer time (25 Oct 2026, 03:00 CEST
-> 02:00 CET). The assertions are what a reader sees: headers, the zone named,
CET beside CEST, one number style, CSV columns in one unit each, and names,
including Rich-looking ones such as `[/i]Zoe`, printed as written (issue 19.3).
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from rapport.crm.database import Database
from rapport.crm.interactions.ingest import ingest
from rapport.crm.messages import InboundMessage

ZONE = "Europe/Berlin"
WIDTH = 80
BEFORE_DST_END = datetime(2026, 10, 24, 12, 0, tzinfo=UTC)  # 14:00 CEST
AFTER_DST_END = datetime(2026, 10, 26, 12, 0, tzinfo=UTC)  # 13:00 CET
LISTINGS: dict[str, tuple[str, ...]] = {
    "customers list": ("customers", "list", "--limit", "20"),
    "customers values": ("customers", "values"),
    "segments list": ("segments", "list"),
    "segments preview": ("segments", "preview", "Demo customers"),
    "campaigns list": ("campaigns", "list"),
    "conversations list": ("conversations", "list"),
    "conversations followups": ("conversations", "followups", "--all"),
    "staff list": ("staff", "list"),
    "audit list": ("audit", "list", "--limit", "10"),
    "programmes list": ("programmes", "list"),
    "report programmes": ("report", "programmes", "--days", "60"),
    "report acquisition": ("report", "acquisition", "--months", "6"),
    "report retention": ("report", "retention", "--months", "12"),
    "report churn": ("report", "churn", "--months", "6"),
    "report desk": ("report", "desk", "--days", "60"),
}


def run(folder: Path, *args: str, columns: int = WIDTH) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "RAPPORT_DATABASE_URL": f"sqlite:///{folder / 'demo.db'}",
        "RAPPORT_TIMEZONE": ZONE,
        "COLUMNS": str(columns),
        "RAPPORT_LOG_LEVEL": "INFO",
    }
    env.pop("RAPPORT_TELEGRAM_TOKEN", None)
    return subprocess.run(
        [sys.executable, "-m", "rapport.bot", *args],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _message(address: str, name: str, text: str, at: datetime, key: str) -> InboundMessage:
    return InboundMessage("email", address, name, text, at, key)


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Demo data, two customers either side of the DST change, names that look like markup."""
    folder = tmp_path_factory.mktemp("shop")
    made = run(
        folder,
        "demo-data",
        "--customers",
        "150",
        "--database-url",
        f"sqlite:///{folder / 'demo.db'}",
    )
    assert made.returncode == 0, made.stderr
    db = Database(f"sqlite:///{folder / 'demo.db'}")
    try:
        for message in (
            _message("zoe@example.com", "[/i]Zoe", "[/b] my order [bold]x", BEFORE_DST_END, "s1"),
            _message("max@example.com", "Max [bold]Mu", "hello", AFTER_DST_END, "w1"),
        ):
            ingest(db, message)
    finally:
        db.dispose()
    return folder


@pytest.fixture(scope="module")
def screens(shop: Path) -> dict[str, subprocess.CompletedProcess[str]]:
    return {name: run(shop, *args) for name, args in LISTINGS.items()}


@pytest.mark.parametrize("name", list(LISTINGS))
def test_each_listing_fits_80_columns_in_the_business_zone(
    screens: dict[str, subprocess.CompletedProcess[str]], name: str
) -> None:
    shown = screens[name]
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert lines, name
    too_wide = [line for line in lines if len(line) > WIDTH]
    assert not too_wide, f"{name}: {too_wide}"
    assert "INFO" not in shown.stderr  # start-up chatter belongs to `rapport run` only
    assert "UTC)" not in shown.stdout and not re.search(r"\d\d:\d\d UTC", shown.stdout)


EXPECTED_HEADERS = {
    "customers list": ("id", "name", "last activity", "msgs"),
    "customers values": ("value tier", "customers", "total spend"),
    "segments list": ("name", "customers", "rule"),
    "segments preview": ("id", "name", "last activity"),
    "campaigns list": ("name", "status", "next run"),
    "staff list": ("id", "name", "role"),
    "audit list": ("when", "who", "what"),
    "programmes list": ("name", "programme", "installed"),
    "report programmes": ("figure", "last 60 days", "60 days before"),
    "report acquisition": ("month", "email", "telegram", "total"),
    "report retention": ("cohort", "customers", "+0", "+1", "churned", "reactivated"),
    "report churn": ("month", "new", "active", "churned", "reactivated"),
    "report desk": ("group", "conv.", "reply p50", "reply p90", "solved p50"),
}


@pytest.mark.parametrize("name", list(EXPECTED_HEADERS))
def test_headers_a_reader_needs_come_first(
    screens: dict[str, subprocess.CompletedProcess[str]], name: str
) -> None:
    text = screens[name].stdout
    for header in EXPECTED_HEADERS[name]:
        assert header in text, (name, header, text)


def test_times_carry_the_zone_either_side_of_the_dst_change(
    screens: dict[str, subprocess.CompletedProcess[str]], shop: Path
) -> None:
    assert "times in Europe/Berlin" in screens["customers list"].stdout
    assert "(Europe/Berlin)" in screens["report programmes"].stdout
    assert "months in Europe/Berlin" in screens["report acquisition"].stdout
    summer = run(shop, "customers", "list", "--search", "zoe@example.com")
    winter = run(shop, "customers", "list", "--search", "max@example.com")
    assert "2026-10-24 14:00 CEST" in summer.stdout and "2026-10-26 13:00 CET" in winter.stdout
    rows = {}
    for address in ("zoe@example.com", "max@example.com"):
        data = run(shop, "customers", "list", "--search", address, "--format", "csv")
        rows.update({r["contact"]: r for r in csv.DictReader(io.StringIO(data.stdout))})
    assert rows["zoe@example.com"]["last_activity_at"] == "2026-10-24T14:00:00+02:00"
    assert rows["max@example.com"]["last_activity_at"] == "2026-10-26T13:00:00+01:00"


def test_one_number_style(screens: dict[str, subprocess.CompletedProcess[str]]) -> None:
    report = screens["report programmes"].stdout
    rates = re.findall(r"(?:response|participation) rate\s+(\S+)\s+(\S+)", report)
    assert rates and all(re.fullmatch(r"\d+\.\d%|—", v) for pair in rates for v in pair)
    assert re.search(r"CSAT mean \(1–5\)\s+\d\.\d\d / 5", report)
    assert re.search(r"NPS \(−100 to \+100\)\s+([+−]\d+\.\d|—)", report)
    assert not re.search(r"\b0\.\d{4,}", report)  # never a raw fraction
    assert re.search(r"\b1,000\b|\b\d{1,3}(,\d{3})+\b|\b\d{1,3}\b", screens["segments list"].stdout)
    values = screens["customers values"].stdout
    assert re.search(r"\d[\d,]*\.\d\d EUR", values)  # money in the shop's currency, minor units
    desk = screens["report desk"].stdout
    assert re.search(r"\d+ min|\d+\.\d h", desk) and re.search(r"\d+\.\d%", desk)


def test_short_headers_have_a_legend_and_hidden_columns_are_named(
    screens: dict[str, subprocess.CompletedProcess[str]], shop: Path
) -> None:
    desk = " ".join(screens["report desk"].stdout.split())
    assert "reply p50 = time to the first answer" in desk
    assert "not shown at 80 columns:" in desk and "--wide" in desk
    wide = run(shop, "report", "desk", "--days", "60", "--wide")
    assert "follow-ups overdue" in wide.stdout and "not shown" not in wide.stdout


def test_names_one_types_are_never_cut(
    screens: dict[str, subprocess.CompletedProcess[str]],
) -> None:
    listing = screens["programmes list"].stdout
    for name in ("complaint-recovery", "win-back", "welcome"):
        assert re.search(rf"^{re.escape(name)}\s", listing, re.MULTILINE), listing
    assert "…" not in listing
    assert "Demo: monthly CSAT" in screens["campaigns list"].stdout


def test_previews_say_how_many_of_how_many(
    screens: dict[str, subprocess.CompletedProcess[str]],
) -> None:
    shown = screens["segments preview"].stdout
    assert "10 of 150 customers shown" in shown
    assert "segment Demo customers: 150 customer(s) match" in shown


def test_the_running_month_is_marked_partial(
    screens: dict[str, subprocess.CompletedProcess[str]],
) -> None:
    retention = " ".join(screens["report retention"].stdout.split())
    assert "*" in retention and "the month still running" in retention
    assert re.search(r"\d{4}-\d\d \(partial, to \d+ \w{3}\)", screens["report churn"].stdout)


PCT = re.compile(r"-?\d+(\.\d)?")
ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+0[12]:00")


def _check_units(rows: list[dict[str, str]]) -> int:
    """Every column in its kind's one unit; returns how many typed cells were checked."""
    checked = 0
    for row in rows:
        for key, value in row.items():
            if value in ("", None):
                continue
            if key.endswith("_pct"):
                assert PCT.fullmatch(value) and 0 <= float(value) <= 100, (key, value)
            elif key.endswith("_at"):
                assert ISO.fullmatch(value), (key, value)
            elif key.endswith("_min"):
                assert float(value) >= 0, (key, value)
            elif key.endswith("_amount") or key.startswith("cost"):
                assert re.fullmatch(r"-?\d+\.\d{1,2}", value), (key, value)
            else:
                continue
            checked += 1
    return checked


@pytest.mark.parametrize(
    "name",
    [
        "report programmes",
        "report desk",
        "report retention",
        "customers list",
        "customers values",
        "conversations list",
        "audit list",
    ],
)
def test_csv_and_json_keep_one_unit_per_column(shop: Path, name: str) -> None:
    made = run(shop, *LISTINGS[name], "--format", "csv")
    assert made.returncode == 0, made.stderr
    rows = list(csv.DictReader(io.StringIO(made.stdout)))
    assert rows and _check_units(rows) > 0, name
    as_json = json.loads(run(shop, *LISTINGS[name], "--format", "json").stdout)
    assert list(as_json[0]) == list(rows[0])


def test_export_columns_are_in_documented_units(shop: Path) -> None:
    made = run(shop, "report", "export", "campaigns", "--days", "60", "--out", "c.csv")
    assert made.returncode == 0, made.stderr
    rows = list(csv.DictReader(io.StringIO((shop / "c.csv").read_text("utf-8-sig"))))
    assert {"response_rate_pct", "participation_rate_pct", "csat_satisfied_pct"} <= set(rows[0])
    assert not {"response_rate", "participation_rate"} & set(rows[0])
    assert _check_units(rows) > 0
    documented = (Path(__file__).resolve().parents[3] / "docs" / "reports.md").read_text("utf-8")
    for key in rows[0]:
        if not key.startswith("skipped_"):
            assert f"`{key}`" in documented, f"docs/reports.md does not document {key}"


def test_customer_strings_are_data_not_markup(shop: Path) -> None:
    listing = run(shop, "customers", "list", "--search", "zoe@example.com")
    assert listing.returncode == 0, listing.stderr
    assert "[/i]Zoe" in listing.stdout
    other = run(shop, "customers", "list", "--search", "max@example.com")
    assert other.returncode == 0 and "Max [bold]Mu" in other.stdout
    zoe = re.search(r"^(\d+)\s+\[/i\]Zoe", listing.stdout, re.MULTILINE)
    assert zoe, listing.stdout
    shown = run(shop, "customers", "show", zoe.group(1))
    assert shown.returncode == 0, shown.stderr
    assert "#" + zoe.group(1) + " [/i]Zoe" in shown.stdout
    assert "[/b] my order [bold]x" in shown.stdout
    conversations = run(shop, "conversations", "list", "--wide")
    assert conversations.returncode == 0 and "[/i]Zoe" in conversations.stdout


@pytest.mark.parametrize(
    ("args", "suggestion"),
    [
        (("report", "programmes", "--segment", "Demo customerz"), "did you mean 'Demo customers'"),
        (("report", "acquisition", "--segment", "demo vip"), "did you mean 'Demo VIPs'"),
        (
            ("report", "programmes", "--campaign", "Demo: monthly CSTA"),
            "did you mean 'Demo: monthly CSAT'",
        ),
        (("segments", "preview", "Demo VIP"), "did you mean 'Demo VIPs'"),
        (("campaigns", "show", "Demo: quartely NPS"), "did you mean 'Demo: quarterly NPS'"),
        (("programmes", "install", "welcom"), "did you mean 'welcome'"),
        (("programmes", "show", "win-bak"), "did you mean 'win-back'"),
        (("report", "chart", "partcipation"), "did you mean 'participation'"),
        (("report", "export", "campaign"), "did you mean 'campaigns'"),
        (
            ("conversations", "take", "1", "--staff", "99"),
            "no active staff member 99; active staff:",
        ),
    ],
)
def test_typos_exit_2_with_the_nearest_name(
    shop: Path, args: tuple[str, ...], suggestion: str
) -> None:
    refused = run(shop, *args)
    assert refused.returncode == 2, (refused.stdout, refused.stderr)
    assert suggestion in refused.stderr, refused.stderr
    assert "Traceback" not in refused.stderr and refused.stdout == ""


def test_a_new_database_in_this_folder_is_announced(tmp_path: Path) -> None:
    made = run(tmp_path, "customers", "list")
    assert made.returncode == 0
    assert "creating a new, empty one" in made.stderr and "INFO" not in made.stderr
    again = run(tmp_path, "customers", "list")
    assert "creating" not in again.stderr
