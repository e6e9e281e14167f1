"""Console passwords: optional, argon2id-hashed, and silent about who is staff.

Signing in by a one-time link needs no password at all; a member who wants
one gets it from an operator (`rapport staff password NAME`). The hash is
argon2-cffi's argon2id with its default (RFC 9106 low-memory) parameters,
salted, the parameters inside the hash string, so raising them later only
means rehashing at the next good sign-in (`check_needs_rehash`).

`password_sign_in` refuses an unknown name, an inactive member, a member
without a password and a wrong password with the same `SignInRefused`
sentence, after the same work: an unknown name is checked against a dummy
hash, so neither the answer nor its timing tells a stranger who is staff.
A refusal for a real member is audited ("console.sign_in_refused"), a
success is "console.sign_in" with detail "password".
"""

from __future__ import annotations

from datetime import datetime
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import func, or_, select

from rapport.crm.clock import utcnow
from rapport.crm.database import Database
from rapport.crm.errors import InvalidInput, NotFound
from rapport.crm.models import StaffMember
from rapport.crm.staff.audit import Actor, record
from rapport.crm.staff.roles import StaffView, actor_for
from rapport.crm.staff.sign_in import SignedIn, SignInRefused, start_session

MIN_LENGTH = 12
MAX_LENGTH = 256
"""Longer gains nothing and costs hashing time an attacker could make us spend."""
REFUSED = "wrong name or password"

_hasher = PasswordHasher()


@cache
def _dummy_hash() -> str:
    return _hasher.hash("not anyone's password, for timing")


def check_password_text(password: str) -> str:
    if len(password) < MIN_LENGTH:
        raise InvalidInput(f"a password has at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        raise InvalidInput(f"a password has at most {MAX_LENGTH} characters")
    if "\x00" in password:
        raise InvalidInput("a password cannot contain NUL")
    return password


def find_member(db: Database, who: str) -> StaffView:
    """A member by id, exact name (case-insensitive) or email; NotFound or InvalidInput."""
    text = who.strip()
    with db.session() as session:
        if text.isdigit():
            member = session.get(StaffMember, int(text))
            found = [member] if member is not None else []
        else:
            found = list(
                session.scalars(
                    select(StaffMember).where(
                        or_(
                            func.lower(StaffMember.name) == text.lower(),
                            func.lower(StaffMember.email) == text.lower(),
                        )
                    )
                )
            )
        if not found:
            raise NotFound(f"no staff member {text!r} (see `rapport staff list`)")
        if len(found) > 1:
            raise InvalidInput(f"several staff members are called {text!r}; give the id")
        return StaffView.of(found[0])


def set_password(db: Database, actor: Actor, member_id: int, password: str | None) -> None:
    """Set (or with None clear) a member's console password; audited "staff.password"."""
    hashed = None if password is None else _hasher.hash(check_password_text(password))
    with db.transaction() as session:
        member = session.get(StaffMember, member_id)
        if member is None:
            raise NotFound(f"no staff member {member_id}")
        member.password_hash = hashed
        record(session, actor, "staff.password",
               detail=f"staff {member_id}: {'set' if hashed else 'cleared'}")  # fmt: skip


def _candidate(db: Database, who: str) -> tuple[int, str | None] | None:
    """(id, password hash) of the one active member with this name or email, if exactly one."""
    text = who.strip().lower()
    if not text or len(text) > 320:
        return None
    with db.session() as session:
        found = list(
            session.scalars(
                select(StaffMember).where(
                    StaffMember.active.is_(True),
                    or_(
                        func.lower(StaffMember.name) == text, func.lower(StaffMember.email) == text
                    ),
                )
            ).all()
        )
        if len(found) != 1:
            return None
        return found[0].id, found[0].password_hash


def _matches(stored: str | None, password: str) -> bool:
    try:
        return _hasher.verify(stored or _dummy_hash(), password) and stored is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def password_sign_in(
    db: Database, who: str, password: str, *, now: datetime | None = None
) -> SignedIn:
    """A new session for the active member `who` (name or email) whose password this is."""
    now = now or utcnow()
    member = _candidate(db, who)
    if len(password) > MAX_LENGTH:
        password = password[: MAX_LENGTH + 1]  # still wrong; never hash megabytes
    ok = _matches(member[1] if member else None, password)
    done: SignedIn | None = None
    with db.transaction() as session:  # a refusal's audit row commits too
        current = session.get(StaffMember, member[0]) if member is not None else None
        if ok and current is not None and current.active and current.password_hash is not None:
            if _hasher.check_needs_rehash(current.password_hash):
                current.password_hash = _hasher.hash(password)
            done = start_session(session, current, now, how="password")
        elif current is not None:
            record(session, actor_for(current), "console.sign_in_refused", detail="password")
    if done is None:
        raise SignInRefused(REFUSED)
    return done
