"""Staff, their roles, and what each role may do.

Agents answer conversations and look customers up; managers also run
campaigns and read reports; admins also manage staff, privacy requests and
read the audit trail. The permission table is the single place that says so:
the bot's commands and the CLI both ask `authorise`.
"""

from __future__ import annotations

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


def actor_for(member: StaffMember) -> Actor:
    return Actor(label=f"staff:{member.id}:{member.name}", staff_id=member.id)


def authorise(member: StaffMember | None, permission: Permission) -> StaffMember:
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
) -> StaffMember:
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
        return member


def staff_by_telegram(db: Database, telegram_user_id: int) -> StaffMember | None:
    with db.session() as session:
        return session.scalar(
            select(StaffMember).where(
                StaffMember.telegram_user_id == telegram_user_id, StaffMember.active.is_(True)
            )
        )


def list_staff(db: Database) -> list[StaffMember]:
    with db.session() as session:
        return list(session.scalars(select(StaffMember).order_by(StaffMember.id)))


def set_role(
    db: Database, actor: Actor, staff_id: int, role: str | None, *, active: bool | None = None
) -> StaffMember:
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
        return member


def audit_trail(
    db: Database, actor: Actor, *, limit: int = 50, customer_id: int | None = None
) -> list[AuditEvent]:
    """Newest first; reading it is itself recorded."""
    with db.transaction() as session:
        query = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)
        if customer_id is not None:
            query = query.where(AuditEvent.customer_id == customer_id)
        events = list(session.scalars(query))
        for event in events:
            session.expunge(event)
        record(session, actor, "audit.read", customer_id=customer_id)
        return events
