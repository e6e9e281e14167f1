"""API keys: created by admins, shown once, stored as a SHA-256 hash, scoped like a role.

A key's scope is one of the staff roles (agent, manager, admin) and grants
exactly that role's permissions (`rapport.crm.staff.roles.ROLE_PERMISSIONS`),
so a permission means the same thing for the bot, the CLI, the console and
the API. A key is 256 random bits, so one unsalted SHA-256 is as strong as a
slow password hash here and lets a request be checked with one indexed
lookup. Revoking is immediate and permanent; the row stays for the audit.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update

from rapport.crm.clock import utcnow
from rapport.crm.database import Database
from rapport.crm.errors import InvalidInput, NotFound, PermissionDenied
from rapport.crm.models import ApiKey
from rapport.crm.staff.audit import Actor, record
from rapport.crm.staff.roles import ROLE_PERMISSIONS, Permission

KEY_PREFIX = "rpk_"
SHOWN_PREFIX = 12
"""Characters of a key kept in clear (`rpk_` and 8 more) to tell keys apart in listings."""
TOUCH_EVERY = timedelta(minutes=1)
"""`last_used_at` is written at most this often per key, not on every request."""
SCOPES = tuple(ROLE_PERMISSIONS)


@dataclass(frozen=True, slots=True)
class NewKey:
    id: int
    name: str
    scope: str
    secret: str
    """The key itself: shown once, never stored."""


@dataclass(frozen=True, slots=True)
class KeyInfo:
    id: int
    name: str
    prefix: str
    scope: str
    created_by: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


@dataclass(frozen=True, slots=True)
class ApiPrincipal:
    """Who a request is: the key, its scope, and the actor its reads are audited as."""

    key_id: int
    name: str
    scope: str

    @property
    def actor(self) -> Actor:
        return Actor(label=f"api-key:{self.key_id}:{self.name}")

    def require(self, permission: Permission) -> None:
        """PermissionDenied unless the key's scope grants `permission`."""
        if permission not in ROLE_PERMISSIONS.get(self.scope, frozenset()):
            raise PermissionDenied(f"this key's scope ({self.scope}) does not allow: {permission}")


def hash_key(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_api_key(
    db: Database, actor: Actor, *, name: str, scope: str, now: datetime | None = None
) -> NewKey:
    clean = " ".join(name.split())
    if not clean or len(clean) > 100:
        raise InvalidInput("an API key needs a name of 1–100 characters (who uses it)")
    if scope not in ROLE_PERMISSIONS:
        raise InvalidInput(f"scope must be one of {', '.join(SCOPES)}")
    secret = KEY_PREFIX + secrets.token_urlsafe(32)
    with db.transaction() as session:
        key = ApiKey(
            name=clean,
            prefix=secret[:SHOWN_PREFIX],
            key_hash=hash_key(secret),
            scope=scope,
            created_by=actor.label[:200],
            created_at=now or utcnow(),
        )
        session.add(key)
        session.flush()
        record(session, actor, "api-key.create", detail=f"key {key.id} ({scope})")
        return NewKey(key.id, clean, scope, secret)


def list_api_keys(db: Database) -> list[KeyInfo]:
    with db.session() as session:
        return [
            KeyInfo(
                k.id,
                k.name,
                k.prefix,
                k.scope,
                k.created_by,
                k.created_at,
                k.last_used_at,
                k.revoked_at,
            )
            for k in session.scalars(select(ApiKey).order_by(ApiKey.id))
        ]


def revoke_api_key(db: Database, actor: Actor, key_id: int, *, now: datetime | None = None) -> None:
    with db.transaction() as session:
        key = session.get(ApiKey, key_id)
        if key is None:
            raise NotFound(f"no API key {key_id}")
        if key.revoked_at is None:
            key.revoked_at = now or utcnow()
        record(session, actor, "api-key.revoke", detail=f"key {key_id}")


def authenticate(db: Database, secret: str, *, now: datetime | None = None) -> ApiPrincipal:
    """The key's principal; PermissionDenied for an unknown or revoked key (same words)."""
    now = now or utcnow()
    if not secret.startswith(KEY_PREFIX):
        raise PermissionDenied("invalid or revoked API key")
    with db.session() as session:
        row = session.execute(
            select(
                ApiKey.id, ApiKey.name, ApiKey.scope, ApiKey.revoked_at, ApiKey.last_used_at
            ).where(ApiKey.key_hash == hash_key(secret))
        ).first()
    if row is None or row.revoked_at is not None:
        raise PermissionDenied("invalid or revoked API key")
    if row.last_used_at is None or now - row.last_used_at >= TOUCH_EVERY:
        with db.transaction() as session:
            session.execute(update(ApiKey).where(ApiKey.id == row.id).values(last_used_at=now))
    return ApiPrincipal(row.id, row.name, row.scope)
