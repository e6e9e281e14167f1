"""`rapport customers merge` as an admin runs it: a real subprocess on a real database."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from rapport.crm.database import Database
from rapport.crm.models import AuditEvent, Customer, Identity
from tests.support.cli import rapport


def _ingest(cwd: Path, channel: str, sender: str, key: str) -> None:
    done = rapport(
        cwd, "ingest", "--channel", channel, "--from", sender, "--text", "Hello", "--key", key
    )
    assert done.returncode == 0, done.stderr


def test_merge_needs_confirmation_then_moves_everything_and_is_audited(tmp_path: Path) -> None:
    _ingest(tmp_path, "email", "ann@example.com", "k1")
    _ingest(tmp_path, "email", "ann.k@example.org", "k2")

    unconfirmed = rapport(tmp_path, "customers", "merge", "1", "2")
    assert unconfirmed.returncode == 2
    assert "cannot be undone" in unconfirmed.stderr
    missing = rapport(tmp_path, "customers", "merge", "1", "9", "--yes")
    assert missing.returncode == 2 and "no customer with id 9" in missing.stderr

    done = rapport(tmp_path, "customers", "merge", "1", "2", "--yes")
    assert done.returncode == 0, done.stderr
    assert "customer 2 merged into 1: 1 address(es), 1 message(s)" in done.stdout
    shown = rapport(tmp_path, "customers", "show", "2")
    assert shown.returncode == 2 and "merged into customer 1" in shown.stderr

    db = Database(f"sqlite:///{tmp_path / 'r.db'}")
    with db.session() as s:
        assert list(s.scalars(select(Customer.id))) == [1]
        assert set(s.scalars(select(Identity.customer_id))) == {1}
        merges = list(s.scalars(select(AuditEvent).where(AuditEvent.action == "customer.merge")))
    db.dispose()
    assert len(merges) == 1 and merges[0].actor.startswith("cli:")
