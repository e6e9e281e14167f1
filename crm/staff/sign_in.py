"""Signing staff in to the web console: one-time links, then sessions.

`/login` in the bot (or mail, for staff with an address) carries a link made
by `issue_link`: 32 random bytes, valid `LINK_TTL`, good for one use. Only
the SHA-256 of a token is stored (the token has 256 bits of entropy, so a
slow hash adds nothing), so a copy of the database signs nobody in.
Redeeming a link (`redeem_link`) starts a session whose token the browser
keeps in a cookie; every request checks it (`session_member`) together with
the member's `active` flag, so deactivating someone ends their sessions at
once. Both steps are audited like any staff action.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from rapport.crm.clock import utcnow
from rapport.crm.database import Database
from rapport.crm.errors import RapportError
from rapport.crm.models import StaffLoginLink, StaffMember, StaffSession
from rapport.crm.staff.audit import record
from rapport.crm.staff.roles import StaffView, actor_for

LINK_TTL = timedelta(minutes=10)
SESSION_TTL = timedelta(hours=12)
LINKS_PER_WINDOW = 5
LINK_WINDOW = timedelta(minutes=15)
"""At most this many links per member in this window: /login cannot be used to flood."""


class SignInRefused(RapportError):
    """A link or session that does not sign anyone in, with the reason (said to the user)."""


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_link(db: Database, member_id: int, *, now: datetime | None = None) -> str:
    """A new one-time sign-in token for an active member (the link's last part)."""
    now = now or utcnow()
    with db.transaction() as session:
        member = session.get(StaffMember, member_id)
        if member is None or not member.active:
            raise SignInRefused("only active staff can sign in")
        recent = session.scalar(
            select(func.count())
            .select_from(StaffLoginLink)
            .where(
                StaffLoginLink.staff_id == member_id,
                StaffLoginLink.created_at > now - LINK_WINDOW,
            )
        )
        if (recent or 0) >= LINKS_PER_WINDOW:
            raise SignInRefused(
                f"{LINKS_PER_WINDOW} sign-in links in {LINK_WINDOW.seconds // 60} minutes is "
                "the limit; use the last one or wait"
            )
        token = secrets.token_urlsafe(32)
        session.add(
            StaffLoginLink(
                staff_id=member_id,
                token_hash=token_hash(token),
                created_at=now,
                expires_at=now + LINK_TTL,
            )
        )
        record(session, actor_for(member), "console.link")
        return token


@dataclass(frozen=True, slots=True)
class SignedIn:
    session_token: str
    member: StaffView
    expires_at: datetime


def redeem_link(db: Database, token: str, *, now: datetime | None = None) -> SignedIn:
    """Use a sign-in link once: a new session for its member, or SignInRefused."""
    now = now or utcnow()
    with db.transaction() as session:
        link = session.scalar(
            select(StaffLoginLink)
            .where(StaffLoginLink.token_hash == token_hash(token))
            .with_for_update()
        )
        if link is None:
            raise SignInRefused("this sign-in link is not valid")
        if link.used_at is not None:
            raise SignInRefused("this sign-in link was used already; send /login for a new one")
        if link.expires_at <= now:
            raise SignInRefused("this sign-in link has expired; send /login for a new one")
        member = session.get(StaffMember, link.staff_id)
        if member is None or not member.active:
            raise SignInRefused("only active staff can sign in")
        link.used_at = now
        return start_session(session, member, now)


def start_session(
    session: Session, member: StaffMember, now: datetime, *, how: str | None = None
) -> SignedIn:
    """A new session for `member` in the caller's transaction, audited "console.sign_in"
    (`how` the detail: "password"; a link's sign-in has none)."""
    session_token = secrets.token_urlsafe(32)
    expires = now + SESSION_TTL
    session.add(
        StaffSession(
            staff_id=member.id,
            token_hash=token_hash(session_token),
            created_at=now,
            expires_at=expires,
        )
    )
    record(session, actor_for(member), "console.sign_in", detail=how)
    return SignedIn(session_token, StaffView.of(member), expires)


def session_member(db: Database, token: str, *, now: datetime | None = None) -> StaffView | None:
    """The active member a session token belongs to while it lasts; None otherwise."""
    now = now or utcnow()
    with db.session() as session:
        member = session.scalar(
            select(StaffMember)
            .join(StaffSession, StaffSession.staff_id == StaffMember.id)
            .where(
                StaffSession.token_hash == token_hash(token),
                StaffSession.ended_at.is_(None),
                StaffSession.expires_at > now,
                StaffMember.active.is_(True),
            )
        )
        return None if member is None else StaffView.of(member)


def end_session(db: Database, token: str, *, now: datetime | None = None) -> None:
    """Sign out: the session's token stops working."""
    with db.transaction() as session:
        session.execute(
            update(StaffSession)
            .where(StaffSession.token_hash == token_hash(token), StaffSession.ended_at.is_(None))
            .values(ended_at=now or utcnow())
        )


def csrf_token(key: str, session_token: str) -> str:
    """The session's CSRF token: derived, not stored (an HMAC of the session token)."""
    digest = hmac.new(key.encode(), b"csrf:" + session_token.encode(), hashlib.sha256)
    return digest.hexdigest()


def csrf_ok(key: str, session_token: str, given: str | None) -> bool:
    return given is not None and hmac.compare_digest(csrf_token(key, session_token), given)
