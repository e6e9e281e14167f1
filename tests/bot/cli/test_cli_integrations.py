"""`rapport api-keys` and `rapport webhooks` at the command line: shown once, stored hashed."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from rapport.crm.database import Database
from rapport.crm.integrations.api_keys import authenticate, hash_key
from rapport.crm.models import ApiKey, WebhookSubscription
from tests.support.cli import rapport


def test_api_keys_are_shown_once_stored_hashed_and_revocable(tmp_path: Path) -> None:
    made = rapport(tmp_path, "api-keys", "create", "--name", "web shop", "--scope", "manager")
    assert made.returncode == 0, made.stderr
    secret = made.stdout.strip().splitlines()[-1]
    assert secret.startswith("rpk_") and len(secret) > 40
    listed = rapport(tmp_path, "api-keys", "list")
    assert "web shop" in listed.stdout and "manager" in listed.stdout
    assert secret not in listed.stdout and secret[:12] in listed.stdout
    db = Database(f"sqlite:///{tmp_path / 'r.db'}")
    try:
        with db.session() as s:
            [stored] = s.scalars(select(ApiKey)).all()
        assert stored.key_hash == hash_key(secret) and secret not in stored.key_hash
        assert authenticate(db, secret).scope == "manager"
        bad = rapport(tmp_path, "api-keys", "create", "--name", "x", "--scope", "owner")
        assert bad.returncode == 2
        assert bad.stderr.strip().endswith("rapport: scope must be one of agent, manager, admin")
        assert rapport(tmp_path, "api-keys", "revoke", str(stored.id)).returncode == 0
        with db.session() as s:
            assert s.scalar(select(ApiKey.revoked_at)) is not None
    finally:
        db.dispose()


def test_webhooks_add_list_remove(tmp_path: Path) -> None:
    bad = rapport(tmp_path, "webhooks", "add", "ftp://x.example/", "--events", "*")
    assert bad.returncode == 2 and "http:// or https://" in bad.stderr
    unknown = rapport(tmp_path, "webhooks", "add", "https://x.example/h", "--events", "order.paid")
    assert unknown.returncode == 2 and "unknown event type 'order.paid'" in unknown.stderr
    added = rapport(
        tmp_path, "webhooks", "add", "https://x.example/h", "--events", "consent.changed"
    )
    assert added.returncode == 0, added.stderr
    assert added.stdout.strip().splitlines()[-1].startswith("whsec_")
    assert "https://x.example/h" in rapport(tmp_path, "webhooks", "list").stdout
    assert rapport(tmp_path, "webhooks", "remove", "1").returncode == 0
    assert "x.example" not in rapport(tmp_path, "webhooks", "list").stdout
    db = Database(f"sqlite:///{tmp_path / 'r.db'}")
    try:
        with db.session() as s:
            assert s.scalar(select(WebhookSubscription.active)) is False
    finally:
        db.dispose()
