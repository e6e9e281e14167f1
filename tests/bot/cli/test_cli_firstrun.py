"""demo-data and programmes through the real `rapport` command, as the quick start runs them."""

from __future__ import annotations

from pathlib import Path

from tests.support.cli import rapport


def test_demo_data_then_a_programme_and_its_report(tmp_path: Path) -> None:
    demo = {"RAPPORT_DATABASE_URL": f"sqlite:///{tmp_path / 'demo.db'}"}
    made = rapport(
        tmp_path, "demo-data", "--customers", "200", "--seed", "3",
        "--database-url", demo["RAPPORT_DATABASE_URL"],
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    assert "customers" in made.stdout and "200" in made.stdout
    installed = rapport(tmp_path, "programmes", "install", "csat-resolved", env=demo)
    assert installed.returncode == 0, installed.stderr
    assert "1 campaign(s) paused" in installed.stdout
    again = rapport(tmp_path, "programmes", "install", "csat-resolved", env=demo)
    assert again.returncode == 2
    assert again.stderr.strip().splitlines()[-1].startswith("rapport: programme 'csat-resolved'")
    report = rapport(tmp_path, "report", "programmes", "--days", "30", env=demo)
    assert report.returncode == 0 and "CSAT mean" in report.stdout


def test_demo_data_refuses_the_real_database(tmp_path: Path) -> None:
    real = rapport(tmp_path, "ingest", "--channel", "email", "--from", "a@shop.example",
                   "--text", "hello")  # fmt: skip
    assert real.returncode == 0, real.stderr
    refused = rapport(tmp_path, "demo-data", "--customers", "10", "--database-url",
                      f"sqlite:///{tmp_path / 'r.db'}")  # fmt: skip
    assert refused.returncode == 2
    assert "not demo data" in refused.stderr.strip().splitlines()[-1]
