"""`rapport segments …` and `rapport customers tag|untag` as a user runs them."""

from __future__ import annotations

import json
import re
from pathlib import Path

from sqlalchemy import func, select

from rapport.crm.database import Database
from rapport.crm.models import AuditEvent, Segment
from rapport.migrations.schema import upgrade
from tests.support.cli import rapport
from tests.support.segment_data import Person, store

VIP = json.dumps({"field": "tag", "op": "has", "value": "vip"})


def seed(cwd: Path) -> None:
    """Two customers, Ann (1) and Bob (2), in the database the CLI will open."""
    db = Database(f"sqlite:///{cwd / 'r.db'}")
    upgrade(db)
    store(db, [Person(name="Ann"), Person(name="Bob")])
    db.dispose()


def test_tag_customers_then_create_list_show_preview_delete(tmp_path: Path) -> None:
    seed(tmp_path)

    tagged = rapport(tmp_path, "customers", "tag", "1", "VIP", "corporate")
    assert tagged.returncode == 0, tagged.stderr
    assert "customer 1 tags: corporate, vip" in tagged.stdout
    untagged = rapport(tmp_path, "customers", "untag", "1", "corporate")
    assert "customer 1 tags: vip" in untagged.stdout

    made = rapport(tmp_path, "segments", "create", "vips", "--rule", VIP, "--description", "best")
    assert made.returncode == 0, made.stderr
    assert "segment 1 'vips': customers tagged vip" in made.stdout

    listing = rapport(tmp_path, "segments", "list")
    assert listing.returncode == 0, listing.stderr
    row = next(line for line in listing.stdout.splitlines() if "vips" in line)
    assert "tagged vip" in row and re.search(r"vips\s+1\s", row)  # customers beside the name

    shown = rapport(tmp_path, "segments", "show", "vips")
    assert shown.returncode == 0, shown.stderr
    assert "best" in shown.stdout and '"value":"vip"' in shown.stdout
    assert "1 customer(s) now" in shown.stdout

    previewed = rapport(tmp_path, "segments", "preview", "VIPS", "--sample", "5")
    assert previewed.returncode == 0, previewed.stderr
    assert "1 customer(s) match" in previewed.stdout
    assert "Ann" in previewed.stdout and "Bob" not in previewed.stdout

    deleted = rapport(tmp_path, "segments", "delete", "vips")
    assert deleted.returncode == 0 and "deleted segment 1 'vips'" in deleted.stdout

    db = Database(f"sqlite:///{tmp_path / 'r.db'}")
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Segment)) == 0
        actions = s.scalars(select(AuditEvent.action)).all()
    db.dispose()
    assert actions == ["segment.preview"]


def test_segment_errors_are_one_line_exit_2_and_store_nothing(tmp_path: Path) -> None:
    bad_rule = json.dumps({"field": "tagz", "op": "has", "value": "vip"})
    cases = [
        (("segments", "create", "x", "--rule", bad_rule), "unknown field 'tagz'; known:"),
        (("segments", "show", "nothing"), "no segment 'nothing'"),
        (("customers", "tag", "7", "no good"), "invalid tag 'no good'"),
    ]
    for args, message in cases:
        result = rapport(tmp_path, *args)
        assert result.returncode == 2, (args, result.stderr)
        assert result.stderr.strip().splitlines()[-1].startswith("rapport: ")
        assert message in result.stderr and "Traceback" not in result.stderr
    db = Database(f"sqlite:///{tmp_path / 'r.db'}")
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Segment)) == 0
    db.dispose()
