"""Password sign-in: set by `rapport staff password`, argon2id, silent about who is staff.

The CLI runs as a real process (from stdin, and prompting twice); the
console over real HTTP. A wrong password, an unknown name, a member without
a password and a deactivated one get the very same answer and no cookie;
a cross-site POST and the eleventh attempt a minute are refused.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
from sqlalchemy import select

from rapport.crm.database import Database
from rapport.crm.models import AuditEvent, StaffMember
from rapport.crm.staff.roles import set_role
from tests.support.cli import rapport
from tests.support.console_client import OPERATOR, console_server, staff

GOOD = "correct horse battery staple"


def stored_hash(db: Database, member_id: int) -> str | None:
    with db.session() as session:
        return session.scalar(select(StaffMember.password_hash).where(StaffMember.id == member_id))


def audit(db: Database, action: str) -> list[tuple[str, str | None]]:
    with db.session() as session:
        rows = session.execute(
            select(AuditEvent.actor, AuditEvent.detail).where(AuditEvent.action == action)
        )
        return [(a, d) for a, d in rows]


async def test_rapport_staff_password_sets_an_argon2_hash(db: Database, tmp_path: Path) -> None:
    ada = staff(db, "Ada", "admin", 800)
    env = {"RAPPORT_DATABASE_URL": db.url}

    short = await asyncio.to_thread(
        rapport, tmp_path, "staff", "password", "Ada", "--stdin", env=env, input="short\n"
    )
    assert short.returncode != 0 and "at least 12 characters" in short.stderr + short.stdout
    nobody = await asyncio.to_thread(
        rapport, tmp_path, "staff", "password", "Zed", "--stdin", env=env, input=GOOD + "\n"
    )
    assert nobody.returncode != 0 and "no staff member 'Zed'" in nobody.stderr + nobody.stdout
    assert stored_hash(db, ada.id) is None and audit(db, "staff.password") == []

    done = await asyncio.to_thread(
        rapport, tmp_path, "staff", "password", "ada", "--stdin", env=env, input=GOOD + "\n"
    )
    assert done.returncode == 0, done.stderr
    assert f"staff {ada.id} Ada: console password set" in done.stdout
    first = stored_hash(db, ada.id)
    assert first is not None and first.startswith("$argon2id$") and GOOD not in first

    asked = await asyncio.to_thread(
        rapport, tmp_path, "staff", "password", str(ada.id), env=env,
        input=f"{GOOD} two\n{GOOD} two\n",
    )  # fmt: skip
    assert asked.returncode == 0, asked.stderr
    assert stored_hash(db, ada.id) not in (None, first)
    assert [d for _, d in audit(db, "staff.password")] == [f"staff {ada.id}: set"] * 2


async def test_password_sign_in_over_http(db: Database) -> None:
    from rapport.crm.staff.passwords import set_password

    ada = staff(db, "Ada", "agent", 810)
    set_password(db, OPERATOR, ada.id, GOOD)
    bo_id = staff(db, "Bo", "agent", 811).id  # no password
    cy = staff(db, "Cy", "agent", 812)
    set_password(db, OPERATOR, cy.id, GOOD)
    set_role(db, OPERATOR, cy.id, None, active=False)

    async with console_server(db) as served:
        async with httpx.AsyncClient(base_url=served.url) as client:
            login = await client.get("/console/login")
            assert 'action="/console/password"' in login.text

            refusals = [
                await client.post("/console/password", data={"who": who, "password": pw})
                for who, pw in (
                    ("Ada", GOOD + "!"),  # wrong password
                    ("Nobody", GOOD),  # unknown member
                    ("Bo", GOOD),  # no password set
                    ("Cy", GOOD),  # deactivated
                    ("Ada", "x" * 300),  # over the length: still just wrong
                )
            ]
            assert {r.status_code for r in refusals} == {400}
            assert len({r.text for r in refusals}) == 1
            assert "Wrong name or password." in refusals[0].text
            assert all("set-cookie" not in r.headers for r in refusals)
            assert (await client.get("/console/inbox")).status_code == 303

            forged = await client.post(
                "/console/password", data={"who": "Ada", "password": GOOD},
                headers={"Origin": "https://evil.example"},
            )  # fmt: skip
            assert forged.status_code == 403 and "set-cookie" not in forged.headers

            done = await client.post("/console/password", data={"who": "ADA", "password": GOOD})
            assert done.status_code == 303 and "rapport_console=" in done.headers["set-cookie"]
            assert "httponly" in done.headers["set-cookie"].lower()
            assert (await client.get("/console/inbox")).status_code == 200

        actor = f"staff:{ada.id}:Ada"
        assert audit(db, "console.sign_in") == [(actor, "password")]
        # attempts on a real (active) member's name are on their record, whatever the reason
        assert sorted(audit(db, "console.sign_in_refused")) == [
            (actor, "password"), (actor, "password"), (f"staff:{bo_id}:Bo", "password"),
        ]  # fmt: skip

        async with httpx.AsyncClient(base_url=served.url) as guesser:
            codes = [
                (
                    await guesser.post(
                        "/console/password", data={"who": "Ada", "password": f"guess {n}"}
                    )
                ).status_code
                for n in range(12)
            ]
        # the limit is per address, shared with the link routes: this client is the same one
        assert codes[-1] == 429 and 400 in codes
