"""Staff, their roles, and what each role may do.

Agents answer conversations and look customers up; managers also run
campaigns and read reports; admins also manage staff, privacy requests and
read the audit trail. The permission table is the single place that says so:
the bot's commands and the CLI both ask `authorise`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from rapport.crm.customers.identity import clean_display_name, normalise_email
from rapport.crm.database import Database
from rapport.crm.errors import NotFound, PermissionDenied, RapportError
from rapport.crm.models import AuditEvent, StaffMember, StaffRole
from rapport.crm.staff.audit import Actor, record


class Permission(StrEnum):
    VIEW_CUSTOMERS = "view customers"
    ANSWER = "answer conversations"
    RUN_CAMPAIGNS = "run campaigns"
    VIEW_REPORTS = "view reports"
    MANAGE_CONSENT = "record consent given or withdrawn"
    IMPORT = "add customers and orders"
    MANAGE_STAFF = "manage staff"
    PRIVACY = "handle privacy requests"
    VIEW_AUDIT = "read the audit trail"


_AGENT = frozenset({Permission.VIEW_CUSTOMERS, Permission.ANSWER})
_MANAGER = _AGENT | {
    Permission.RUN_CAMPAIGNS,
    Permission.VIEW_REPORTS,
    Permission.MANAGE_CONSENT,
    Permission.IMPORT,
}
ROLE_PERMISSIONS: dict[str, frozenset[Permission]] = {
    StaffRole.AGENT: _AGENT,
    StaffRole.MANAGER: frozenset(_MANAGER),
    StaffRole.ADMIN: frozenset(Permission),
}


class InvalidStaff(RapportError):
    """A staff record that cannot be saved, with the reason."""


@dataclass(frozen=True, slots=True)
class StaffView:
    """A staff member as services hand them out: a snapshot of the row, never a live ORM
    object, so a caller cannot change a role or `active` by accident (only `set_role`
    and `deactivate_staff` do, audited)."""

    id: int
    name: str
    role: str
    active: bool
    telegram_user_id: int | None
    email: str | None
    created_at: datetime

    @classmethod
    def of(cls, member: StaffMember) -> StaffView:
        return cls(**{f: getattr(member, f) for f in cls.__dataclass_fields__})


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One event of the audit trail as it is read: a snapshot, never the append-only row."""

    id: int
    at: datetime
    staff_id: int | None
    actor: str
    action: str
    customer_id: int | None
    detail: str | None

    @classmethod
    def of(cls, event: AuditEvent) -> AuditEntry:
        return cls(**{f: getattr(event, f) for f in cls.__dataclass_fields__})


def actor_for(member: StaffView | StaffMember) -> Actor:
    """Who the audit trail names for this member's actions (a row inside a transaction,
    or a view outside one)."""
    return Actor(label=f"staff:{member.id}:{member.name}", staff_id=member.id)


def authorise(member: StaffView | None, permission: Permission) -> StaffView:
    """The member if their role allows `permission`; PermissionDenied otherwise."""
    if member is None or not member.active:
        raise PermissionDenied("unknown command")  # non-staff learn nothing
    if permission not in ROLE_PERMISSIONS.get(member.role, frozenset()):
        raise PermissionDenied(f"your role ({member.role}) does not allow you to {permission}")
    return member


def add_staff(
    db: Database,
    actor: Actor,
    *,
    name: str,
    role: str,
    telegram_user_id: int | None = None,
    email: str | None = None,
) -> StaffView:
    clean = clean_display_name(name)
    if not clean:
        raise InvalidStaff("staff need a name")
    if role not in ROLE_PERMISSIONS:
        raise InvalidStaff(f"role must be one of {', '.join(ROLE_PERMISSIONS)}")
    if telegram_user_id is None and email is None:
        raise InvalidStaff("give a Telegram user id or an email address")
    if telegram_user_id is not None and telegram_user_id <= 0:
        raise InvalidStaff("a Telegram user id is a positive number")
    address = normalise_email(email) if email else None
    with db.transaction() as session:
        member = StaffMember(
            name=clean, role=role, telegram_user_id=telegram_user_id, email=address, active=True
        )
        session.add(member)
        try:
            session.flush()
        except IntegrityError:
            raise InvalidStaff("that Telegram id or email belongs to staff already") from None
        record(session, actor, "staff.add", detail=f"staff {member.id} as {role}")
        return StaffView.of(member)


def staff_member(db: Database, staff_id: int) -> StaffView | None:
    """The member with this id, active or not (the caller decides what inactive means)."""
    with db.session() as session:
        member = session.get(StaffMember, staff_id)
        return None if member is None else StaffView.of(member)


def staff_by_telegram(
    db: Database, telegram_user_id: int, *, active_only: bool = True
) -> StaffView | None:
    """The (active, unless `active_only` is False) member with this Telegram user id."""
    query = select(StaffMember).where(StaffMember.telegram_user_id == telegram_user_id)
    if active_only:
        query = query.where(StaffMember.active.is_(True))
    with db.session() as session:
        member = session.scalar(query)
        return None if member is None else StaffView.of(member)


def staff_by_email(db: Database, address: str) -> StaffView | None:
    """The active member with this (normalised) address: who a console link is mailed to."""
    with db.session() as session:
        member = session.scalar(
            select(StaffMember).where(StaffMember.email == address, StaffMember.active.is_(True))
        )
        return None if member is None else StaffView.of(member)


def active_staff_names(db: Database) -> list[tuple[int, str]]:
    """(id, name) of every active member, by id: what a refused staff id is told."""
    with db.session() as session:
        rows = session.execute(
            select(StaffMember.id, StaffMember.name)
            .where(StaffMember.active.is_(True))
            .order_by(StaffMember.id)
        )
        return [(staff_id, name) for staff_id, name in rows]


def list_staff(db: Database) -> list[StaffView]:
    with db.session() as session:
        return [
            StaffView.of(m) for m in session.scalars(select(StaffMember).order_by(StaffMember.id))
        ]


def set_role(
    db: Database, actor: Actor, staff_id: int, role: str | None, *, active: bool | None = None
) -> StaffView:
    if role is not None and role not in ROLE_PERMISSIONS:
        raise InvalidStaff(f"role must be one of {', '.join(ROLE_PERMISSIONS)}")
    with db.transaction() as session:
        member = session.get(StaffMember, staff_id)
        if member is None:
            raise NotFound(f"no staff member {staff_id}")
        if role is not None:
            member.role = role
        if active is not None:
            member.active = active
        record(
            session,
            actor,
            "staff.change",
            detail=f"staff {staff_id} role={member.role} active={member.active}",
        )
        return StaffView.of(member)


def audit_trail(
    db: Database, actor: Actor, *, limit: int = 50, customer_id: int | None = None
) -> list[AuditEntry]:
    """Newest first; reading it is itself recorded."""
    with db.transaction() as session:
        query = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)
        if customer_id is not None:
            query = query.where(AuditEvent.customer_id == customer_id)
        events = [AuditEntry.of(event) for event in session.scalars(query)]
        record(session, actor, "audit.read", customer_id=customer_id)
        return events
