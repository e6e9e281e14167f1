"""Staff roles: the permission table, registration, audit of access."""

from __future__ import annotations

import dataclasses

import pytest
from sqlalchemy import select

from rapport.crm.customers.profiles import customer_profile
from rapport.crm.database import Database
from rapport.crm.errors import PermissionDenied
from rapport.crm.models import AuditEvent, StaffMember
from rapport.crm.staff.audit import Actor
from rapport.crm.staff.roles import (
    AuditEntry,
    InvalidStaff,
    Permission,
    StaffView,
    actor_for,
    add_staff,
    audit_trail,
    authorise,
    list_staff,
    set_role,
    staff_by_email,
    staff_by_telegram,
    staff_member,
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


def test_staff_are_handed_out_as_frozen_views_not_rows(db: Database) -> None:
    """Changing what a service returned changes nothing: only set_role does, audited."""
    ada = add_staff(db, CLI, name="Ada", role="agent", telegram_user_id=7, email="Ada@Shop.hk")
    found = [
        ada,
        staff_by_telegram(db, 7),
        staff_member(db, ada.id),
        staff_by_email(db, "ada@shop.hk"),
        *list_staff(db),
        set_role(db, CLI, ada.id, "manager"),
    ]
    assert all(type(m) is StaffView for m in found)
    assert [m.role for m in found if m is not None] == ["agent"] * 5 + ["manager"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        ada.role = "admin"  # type: ignore[misc]
    with db.session() as session:
        row = session.get(StaffMember, ada.id)
        assert row is not None and (row.role, row.email) == ("manager", "ada@shop.hk")


def test_inactive_staff_are_found_only_when_asked_for(db: Database) -> None:
    leaver = add_staff(db, CLI, name="Leaver", role="agent", telegram_user_id=8, email="l@shop.hk")
    set_role(db, CLI, leaver.id, None, active=False)
    assert staff_by_telegram(db, 8) is None
    assert staff_by_email(db, "l@shop.hk") is None
    for member in (staff_by_telegram(db, 8, active_only=False), staff_member(db, leaver.id)):
        assert member is not None and (member.id, member.active) == (leaver.id, False)
    assert staff_member(db, leaver.id + 100) is None


def test_the_audit_trail_is_read_as_entries(db: Database) -> None:
    admin = add_staff(db, CLI, name="Ada", role="admin", telegram_user_id=100)
    events = audit_trail(db, actor_for(admin))
    assert events and all(type(e) is AuditEntry for e in events)
    assert events[0].action == "staff.add" and events[0].actor == "cli:test"
