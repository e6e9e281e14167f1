"""The console's defences, over real HTTP (httpx against the uvicorn server).

Every console route is found in the application itself, so a route added
later is covered without touching this file: each refuses an anonymous
request, a role the one policy (rapport.crm.staff.roles) does not allow, and
a state change without the session's CSRF token; sign-in links expire, work
once and are rate-limited; pages carry the security headers and no inline
script; what shows personal data is audited as the bot's reads are.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from fastapi.routing import APIRoute
from sqlalchemy import select

from rapport.bot.web.app import console_routers
from rapport.bot.web.console import StaffCheck
from rapport.crm.clock import utcnow
from rapport.crm.database import Database
from rapport.crm.interactions.ingest import ingest
from rapport.crm.messages import InboundMessage
from rapport.crm.models import AuditEvent
from rapport.crm.staff.roles import ROLE_PERMISSIONS, set_role
from rapport.crm.staff.sign_in import issue_link
from tests.support.console_client import OPERATOR, Served, console_server, sign_in, staff
from tests.support.recording import RecordingChannel

ANN = "Ann Lee"
PARAMS = {
    "cid": "1", "customer_id": "1", "run_id": "1", "what": "reply", "name": "participation",
    "report": "campaigns", "staff_id": "1", "token": "x", "delivery_id": "1",
}  # fmt: skip


@pytest.fixture
async def served(db: Database) -> AsyncIterator[tuple[Served, RecordingChannel]]:
    ingest(
        db,
        InboundMessage("email", "ann@example.org", ANN, "Where is my order?", utcnow(), "<a1@x>"),
    )
    mail = RecordingChannel("email")
    async with console_server(db, {"email": mail}) as s:
        yield s, mail


def console_routes(served: Served) -> list[tuple[str, str, StaffCheck]]:
    """(method, path with sample parameters, its staff check) for every console route."""
    found = []
    for route in (r for router in console_routers(served.console) for r in router.routes):
        if not isinstance(route, APIRoute):
            continue
        checks = [d.call for d in route.dependant.dependencies if isinstance(d.call, StaffCheck)]
        if not checks:
            continue
        path = re.sub(r"\{(\w+)\}", lambda m: PARAMS[m.group(1)], route.path)
        for method in sorted(route.methods or ()):
            found.append((method, path, checks[0]))
    return found


def test_every_console_route_but_sign_in_needs_staff(
    served: tuple[Served, RecordingChannel],
) -> None:
    paths = {p for _, p, _ in console_routes(served[0])}
    assert {"/console/inbox", "/console/customers/1", "/console/reports", "/console/admin"} <= paths
    routes = [r for router in console_routers(served[0].console) for r in router.routes]
    unguarded = {
        r.path
        for r in routes
        if isinstance(r, APIRoute)
        and not any(isinstance(d.call, StaffCheck) for d in r.dependant.dependencies)
    }
    assert unguarded == {"/console/login", "/console/login/{token}", "/console/password"}


async def test_anonymous_requests_are_refused(
    served: tuple[Served, RecordingChannel],
) -> None:
    s, mail = served
    async with httpx.AsyncClient(base_url=s.url) as client:
        for method, path, _ in console_routes(s):
            r = await client.request(method, path, data={"text": "hi", "csrf": "0" * 64})
            if method == "GET":
                assert r.status_code == 303 and r.headers["location"] == "/console/login", path
            else:
                assert r.status_code == 401, (method, path)
            assert ANN not in r.text
        client.cookies.set("rapport_console", "forged-session")
        r = await client.get("/console/customers/1")
        assert r.status_code == 303
    assert mail.sent == []


async def test_each_role_gets_exactly_what_the_policy_allows(
    db: Database, served: tuple[Served, RecordingChannel]
) -> None:
    s, mail = served
    for n, role in enumerate(ROLE_PERMISSIONS):
        member = staff(db, f"Member {role}", role, 100 + n)
        allowed = ROLE_PERMISSIONS[role]
        async with httpx.AsyncClient(base_url=s.url) as client:
            csrf = await sign_in(client, db, member)
            for method, path, check in console_routes(s):
                if check.permission is None or check.permission in allowed:
                    continue
                r = await client.request(method, path, data={"csrf": csrf})
                assert r.status_code == 403, (role, method, path)
                assert ANN not in r.text and "does not allow" in r.text
    assert mail.sent == []


async def test_a_deactivated_member_is_signed_out_at_once(
    db: Database, served: tuple[Served, RecordingChannel]
) -> None:
    s, _ = served
    member = staff(db, "Leaver", "admin", 200)
    async with httpx.AsyncClient(base_url=s.url) as client:
        await sign_in(client, db, member)
        assert ANN in (await client.get("/console/customers/1")).text
        set_role(db, OPERATOR, member.id, None, active=False)
        r = await client.get("/console/customers/1")
        assert r.status_code == 303 and ANN not in r.text


async def test_state_changes_need_the_sessions_csrf_token(
    db: Database, served: tuple[Served, RecordingChannel]
) -> None:
    s, mail = served
    admin = staff(db, "Ada", "admin", 300)
    other = staff(db, "Bo", "admin", 301)
    async with httpx.AsyncClient(base_url=s.url) as client, httpx.AsyncClient(base_url=s.url) as bo:
        await sign_in(client, db, admin)
        bos_token = await sign_in(bo, db, other)
        posts = [(m, p) for m, p, _ in console_routes(s) if m == "POST"]
        assert ("POST", "/console/conversations/1/reply") in posts
        for _, path in posts:
            for form in (
                {"text": "hi"},
                {"text": "hi", "csrf": "f" * 64},
                {"text": "hi", "csrf": bos_token},
            ):
                r = await client.post(path, data=form)
                assert r.status_code == 403, (path, form)
            r = await client.post(path, headers={"X-CSRF-Token": "nope"}, data={"text": "hi"})
            assert r.status_code == 403
    assert mail.sent == []  # nothing went out
    with db.session() as session:
        actions = set(session.scalars(select(AuditEvent.action)))
    assert "conversation.reply" not in actions and "conversation.take" not in actions


async def test_sign_in_links_expire_work_once_and_are_rate_limited(
    db: Database, served: tuple[Served, RecordingChannel]
) -> None:
    s, _ = served
    member = staff(db, "Ada", "agent", 400)
    async with httpx.AsyncClient(base_url=s.url) as client:
        old = issue_link(db, member.id, now=utcnow() - timedelta(minutes=11))
        r = await client.post(f"/console/login/{old}", data={"sign_in": "yes"})
        assert (
            r.status_code == 400
            and "expired" in r.text
            and "rapport_console" not in r.headers.get("set-cookie", "")
        )

        fresh = issue_link(db, member.id)
        forged = await client.post(
            f"/console/login/{fresh}", data={"sign_in": "yes"},
            headers={"Origin": "https://evil.example"},
        )  # fmt: skip
        assert forged.status_code == 403 and "set-cookie" not in forged.headers
        page = await client.get(f"/console/login/{fresh}")  # a preview: changes nothing
        assert page.status_code == 200
        first = await client.post(f"/console/login/{fresh}", data={"sign_in": "yes"})
        assert first.status_code == 303 and "rapport_console=" in first.headers["set-cookie"]
        cookie = first.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=lax" in cookie
        async with httpx.AsyncClient(base_url=s.url) as thief:
            again = await thief.post(f"/console/login/{fresh}", data={"sign_in": "yes"})
            assert again.status_code == 400 and "used already" in again.text
            assert (await thief.get("/console/inbox")).status_code == 303

        csrf = re.search(r'name="csrf" value="(\w+)"', (await client.get("/console/inbox")).text)
        assert csrf is not None
        out = await client.post("/console/logout", data={"csrf": csrf.group(1)})
        assert out.status_code == 303
        client.cookies.set("rapport_console", first.cookies["rapport_console"])
        assert (await client.get("/console/inbox")).status_code == 303  # the session ended

        codes = [
            (
                await client.post("/console/login/guess-" + str(n), data={"sign_in": "yes"})
            ).status_code
            for n in range(12)
        ]
        assert codes[-1] == 429 and codes.count(400) <= 10


async def test_pages_carry_strict_headers_and_no_inline_script(
    db: Database, served: tuple[Served, RecordingChannel]
) -> None:
    s, _ = served
    async with httpx.AsyncClient(base_url=s.url) as client:
        await sign_in(client, db, staff(db, "Ada", "admin", 500))
        for path in (
            "/console/inbox",
            "/console/conversations/1",
            "/console/customers/1",
            "/console/login",
        ):
            r = await client.get(path)
            assert r.status_code == 200, path
            csp = r.headers["content-security-policy"]
            assert (
                "script-src 'self'" in csp
                and "unsafe" not in csp
                and "frame-ancestors 'none'" in csp
            )
            assert (
                r.headers["x-frame-options"] == "DENY" and r.headers["cache-control"] == "no-store"
            )
            assert r.headers["x-content-type-options"] == "nosniff"
            assert re.search(r"<script(?![^>]*\bsrc=)", r.text) is None, path  # no inline script
            assert " style=" not in r.text and "<style" not in r.text
        ingest(db, InboundMessage("email", "mal@example.org", "<b>Mal</b>",
                                  "<script>alert(1)</script><img src=x onerror=alert(2)>",
                                  utcnow(), "<x1@x>"))  # fmt: skip
        for path in ("/console/inbox", "/console/conversations/2", "/console/customers/2"):
            text = (await client.get(path)).text
            assert "&lt;script&gt;alert(1)" in text and "<script>alert" not in text, path
            assert "<img src=x" not in text and "<b>Mal" not in text
        htmx = await client.get("/static/htmx.min.js")
        assert htmx.status_code == 200 and "htmx" in htmx.text[:200]


async def test_personal_data_pages_are_audited_like_the_bots_reads(
    db: Database, served: tuple[Served, RecordingChannel]
) -> None:
    s, _ = served
    member = staff(db, "Ada", "agent", 600)
    async with httpx.AsyncClient(base_url=s.url) as client:
        await sign_in(client, db, member)
        for path in ("/console/inbox", "/console/conversations/1", "/console/customers/1"):
            assert ANN in (await client.get(path)).text
    with db.session() as session:
        rows = session.execute(
            select(AuditEvent.action, AuditEvent.customer_id, AuditEvent.actor)
            .where(AuditEvent.staff_id == member.id)
        ).all()  # fmt: skip
    actions = {(a, c) for a, c, _ in rows}
    assert {
        ("console.sign_in", None),
        ("conversations.list", None),
        ("conversation.read", 1),
        ("customer.show", 1),
    } <= actions
    assert {actor for _, _, actor in rows} == {f"staff:{member.id}:Ada"}  # the bot's actor label
