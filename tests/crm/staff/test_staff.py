"""Staff roles: the permission table, registration, audit of access."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from rapport.crm.customers.profiles import customer_profile
from rapport.crm.database import Database
from rapport.crm.errors import PermissionDenied
from rapport.crm.models import AuditEvent
from rapport.crm.staff.audit import Actor
from rapport.crm.staff.roles import (
    InvalidStaff,
    Permission,
    actor_for,
    add_staff,
    audit_trail,
    authorise,
    set_role,
    staff_by_telegram,
)
from tests.support.campaign_fixtures import customer

CLI = Actor("cli:test")

EXPECTED = {
    "agent": {Permission.VIEW_CUSTOMERS, Permission.ANSWER},
    "manager": {
        Permission.VIEW_CUSTOMERS,
        Permission.ANSWER,
        Permission.RUN_CAMPAIGNS,
        Permission.VIEW_REPORTS,
        Permission.MANAGE_CONSENT,
        Permission.IMPORT,
    },
    "admin": set(Permission),
}


@pytest.mark.parametrize("role", ["agent", "manager", "admin"])
@pytest.mark.parametrize("permission", list(Permission))
def test_role_matrix(db: Database, role: str, permission: Permission) -> None:
    member = add_staff(db, CLI, name=f"{role} one", role=role, telegram_user_id=1000)
    if permission in EXPECTED[role]:
        assert authorise(member, permission) is member
    else:
        with pytest.raises(PermissionDenied, match=f"role \\({role}\\) does not allow"):
            authorise(member, permission)


@pytest.mark.parametrize("permission", list(Permission))
def test_non_staff_learn_nothing(permission: Permission) -> None:
    with pytest.raises(PermissionDenied, match=r"^unknown command$"):
        authorise(None, permission)


def test_deactivated_staff_are_non_staff(db: Database) -> None:
    member = add_staff(db, CLI, name="Leaver", role="admin", telegram_user_id=42)
    set_role(db, CLI, member.id, None, active=False)
    assert staff_by_telegram(db, 42) is None


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"name": "X", "role": "boss", "telegram_user_id": 1}, "role must be"),
        ({"name": " \r\n ", "role": "agent", "telegram_user_id": 1}, "need a name"),
        ({"name": "X", "role": "agent"}, "Telegram user id or an email"),
        ({"name": "X", "role": "agent", "telegram_user_id": -5}, "positive"),
        ({"name": "X", "role": "agent", "email": "not-an-email"}, "invalid email"),
    ],
)
def test_bad_staff_records_are_refused(db: Database, kwargs: dict, error: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(Exception, match=error):
        add_staff(db, CLI, **kwargs)


def test_duplicate_telegram_id_is_refused(db: Database) -> None:
    add_staff(db, CLI, name="A", role="agent", telegram_user_id=7)
    with pytest.raises(InvalidStaff, match="already"):
        add_staff(db, CLI, name="B", role="agent", telegram_user_id=7)


def test_reads_of_personal_data_are_audited_with_who(db: Database) -> None:
    cid = customer(db, "private@example.com")
    agent = add_staff(db, CLI, name="Agent Smith", role="agent", telegram_user_id=99)
    customer_profile(db, actor_for(agent), cid)
    admin = add_staff(db, CLI, name="Ada", role="admin", telegram_user_id=100)
    events = audit_trail(db, actor_for(admin), customer_id=cid)
    assert [(e.action, e.staff_id) for e in events] == [("customer.show", agent.id)]
    with db.session() as s:
        last = s.scalars(select(AuditEvent).order_by(AuditEvent.id.desc())).first()
    assert last is not None and (last.action, last.staff_id) == ("audit.read", admin.id)
