"""The console's defences, over real HTTP (httpx against the uvicorn server).

Every console route is found in the application itself, so a route added
later is covered without touching this file: each refuses an anonymous
request, a role the one policy (rapport.crm.staff.roles) does not allow, and
a state change without the session's CSRF token; sign-in links expire, work
once and are rate-limited; pages carry the security headers and no inline
script; what shows personal data is audited as the bot's reads are.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi.routing import APIRoute
from sqlalchemy import func, select

from rapport.bot.web.app import console_routers
from rapport.bot.web.console import StaffCheck
from rapport.bot.web.customer_actions import export_json
from rapport.crm.campaigns.definitions import get_campaign
from rapport.crm.clock import utcnow
from rapport.crm.database import Database
from rapport.crm.interactions.ingest import ingest
from rapport.crm.messages import InboundMessage
from rapport.crm.models import AuditEvent, ConsentEvent, Customer
from rapport.crm.privacy.requests import export_customer
from rapport.crm.staff.roles import ROLE_PERMISSIONS, set_role
from rapport.crm.staff.sign_in import issue_link
from tests.support.campaign_fixtures import campaign, everyone
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
            "/console/customers/1/erase",
            "/console/reports/desk",
            "/console/reports/value",
            "/console/reports/retention",
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


def _changes(db: Database) -> tuple[object, ...]:
    """What the customer and campaign actions could change: customers, consent events,
    the campaign's row and the audit actions that record a change or an export."""
    with db.session() as session:
        customers = tuple(session.scalars(select(Customer.id).where(Customer.erased_at.is_(None))))
        consents = session.scalar(select(func.count()).select_from(ConsentEvent))
        actions = tuple(
            session.scalars(
                select(AuditEvent.action).where(
                    AuditEvent.action.in_(
                        ["customer.merge", "privacy.erase", "privacy.export", "consent.grant",
                         "consent.withdraw"]
                    )
                )
            )
        )  # fmt: skip
    return customers, consents, actions, get_campaign(db, "Promo")


ACTIONS = [
    ("/console/customers/1/consent", {"change": "grant", "channel": "email", "source": "till"}),
    ("/console/customers/1/merge", {"absorb": "2", "confirm": "yes"}),
    ("/console/customers/1/export", {}),
    ("/console/customers/1/erase", {"confirm": "1"}),
    ("/console/campaigns/1/edit", {"template": "Changed {{ first_name }}", "channel": "email"}),
    ("/console/campaigns/1/schedule", {"mode": "cron", "cron": "0 10 * * 1"}),
    ("/console/campaigns/1/pause", {}),
]


async def test_customer_and_campaign_actions_refused_change_nothing(
    db: Database, served: tuple[Served, RecordingChannel]
) -> None:
    s, mail = served
    ingest(db, InboundMessage("email", "bo@example.org", "Bo", "Hi", utcnow(), "<b1@x>"))
    everyone(db)
    campaign(db, "Promo")
    before = _changes(db)
    agent, manager = staff(db, "Al", "agent", 700), staff(db, "Mo", "manager", 701)
    admin = staff(db, "Ada", "admin", 702)
    async with (
        httpx.AsyncClient(base_url=s.url) as anon,
        httpx.AsyncClient(base_url=s.url) as al,
        httpx.AsyncClient(base_url=s.url) as mo,
        httpx.AsyncClient(base_url=s.url) as ada,
    ):
        al_csrf, mo_csrf = await sign_in(al, db, agent), await sign_in(mo, db, manager)
        ada_csrf = await sign_in(ada, db, admin)
        for path, form in ACTIONS:
            assert (await anon.post(path, data={**form, "csrf": ada_csrf})).status_code == 401
            r = await al.post(path, data={**form, "csrf": al_csrf})  # agents may none of it
            assert r.status_code == 403 and "does not allow" in r.text, path
            for bad in ({}, {"csrf": "f" * 64}, {"csrf": mo_csrf}):  # no, a forged, another's
                assert (await ada.post(path, data={**form, **bad})).status_code == 403, path
        for path in ("/console/customers/1/erase", "/console/customers/1/export"):
            r = await mo.post(path, data={"confirm": "1", "csrf": mo_csrf})
            assert r.status_code == 403 and "does not allow" in r.text  # managers are no admins
            assert (await mo.get("/console/customers/1/erase")).status_code == 403
        # Bad input from the right member: one clear line, nothing done.
        for path, form, said in (
            ("/console/customers/1/erase", {"confirm": "2"}, "type the customer"),
            ("/console/customers/1/merge", {"absorb": "2"}, "tick the box"),
            ("/console/customers/1/merge", {"absorb": "1", "confirm": "yes"}, "into itself"),
            ("/console/customers/1/consent", {"change": "grant", "source": "x"}, "say where"),
            ("/console/campaigns/1/edit", {"template": "{{ broken"}, "template"),
            ("/console/campaigns/1/schedule", {"mode": "cron", "cron": "99 * * * *"}, "cron"),
            ("/console/campaigns/1/schedule", {"mode": "once", "at": "soon"}, "bad date-time"),
        ):
            r = await ada.post(path, data={**form, "csrf": ada_csrf})
            assert r.status_code == 400 and said in r.text, (path, r.text)
    assert _changes(db) == before and mail.sent == []


async def test_an_admin_records_consent_exports_merges_and_erases_over_http(
    db: Database, served: tuple[Served, RecordingChannel]
) -> None:
    s, _ = served
    ingest(db, InboundMessage("email", "ann.lee@example.org", ANN, "Hi", utcnow(), "<b2@x>"))
    ada = staff(db, "Ada", "admin", 800)
    async with httpx.AsyncClient(base_url=s.url) as client:
        csrf = await sign_in(client, db, ada)
        given = {"change": "grant", "channel": "email", "source": "signed at the till"}
        r = await client.post("/console/customers/1/consent", data={"csrf": csrf, **given})
        assert r.status_code == 303
        page = (await client.get(r.headers["location"])).text
        assert "Consent recorded." in page and "staff:signed at the till" in page

        r = await client.post("/console/customers/1/export", data={"csrf": csrf})
        assert r.status_code == 200 and "attachment" in r.headers["content-disposition"]
        cli = json.loads(export_json(export_customer(db, OPERATOR, 1)))  # the CLI's document
        web = r.json()
        for doc in (web, cli):  # each export is itself audited, so that table grows by one
            doc["exported_at"] = doc["tables"].pop("audit_events") and None
        assert web == cli
        assert "ann@example.org" in r.text

        r = await client.post("/console/customers/1/merge",
                              data={"csrf": csrf, "absorb": "2", "confirm": "yes"})  # fmt: skip
        assert r.status_code == 303
        page = (await client.get(r.headers["location"])).text
        assert "ann.lee@example.org" in page and "Customers merged" in page
        assert (await client.get("/console/customers/2")).status_code == 404

        assert "Type the customer" in (await client.get("/console/customers/1/erase")).text
        r = await client.post("/console/customers/1/erase", data={"csrf": csrf, "confirm": "1"})
        assert r.status_code == 303 and r.headers["location"] == "/console/customers?done=erased"
        assert (await client.get("/console/customers/1")).status_code == 404
        assert ANN not in (await client.get("/console/customers")).text
    with db.session() as session:
        rows = session.execute(
            select(AuditEvent.action, AuditEvent.actor).where(AuditEvent.staff_id == ada.id)
        ).all()
    done = [a for a, _ in rows]
    for action in ("consent.grant", "privacy.export", "customer.merge", "privacy.erase"):
        assert action in done
    assert {actor for _, actor in rows} == {f"staff:{ada.id}:Ada"}


async def test_a_manager_edits_schedules_pauses_and_resumes_a_campaign(
    db: Database, served: tuple[Served, RecordingChannel]
) -> None:
    s, _ = served
    everyone(db)
    c = campaign(db, "Promo")
    mo = staff(db, "Mo", "manager", 900)
    async with httpx.AsyncClient(base_url=s.url) as client:
        csrf = await sign_in(client, db, mo)
        draft = {"csrf": csrf, "customer": "1", "template": "Dear {{ first_name }}, a draft",
                 "subject": "Draft news", "channel": "email"}  # fmt: skip
        shown = (await client.post(f"/console/campaigns/{c.id}/preview", data=draft)).text
        assert "Dear Ann, a draft" in shown and "Subject: Draft news" in shown
        assert get_campaign(db, c.id).template == c.template  # a preview saves nothing

        r = await client.post(f"/console/campaigns/{c.id}/edit", data=draft)
        assert r.status_code == 303
        saved = get_campaign(db, c.id)
        assert (saved.template, saved.subject, saved.channel) == (
            "Dear {{ first_name }}, a draft", "Draft news", "email")  # fmt: skip

        form = {"csrf": csrf, "mode": "once", "at": "2031-01-05T09:30", "timezone": "Europe/Paris"}
        assert (
            await client.post(f"/console/campaigns/{c.id}/schedule", data=form)
        ).status_code == 303
        once = get_campaign(db, c.id)
        assert once.run_at == datetime(2031, 1, 5, 8, 30, tzinfo=UTC) and once.schedule_cron is None
        page = (await client.get(f"/console/campaigns/{c.id}")).text
        assert "2031-01-05 08:30 UTC" in page  # the business zone (UTC here)

        form = {"csrf": csrf, "mode": "cron", "cron": "0 10 * * 1", "timezone": "UTC"}
        await client.post(f"/console/campaigns/{c.id}/schedule", data=form)
        weekly = get_campaign(db, c.id)
        assert weekly.schedule_cron == "0 10 * * 1" and weekly.run_at is None
        page = (await client.get(f"/console/campaigns/{c.id}")).text
        assert "cron &#39;0 10 * * 1&#39; UTC" in page and "10:00 UTC" in page

        await client.post(f"/console/campaigns/{c.id}/pause", data={"csrf": csrf})
        assert get_campaign(db, c.id).status == "paused"
        assert "— (paused)" in (await client.get(f"/console/campaigns/{c.id}")).text
        await client.post(f"/console/campaigns/{c.id}/resume", data={"csrf": csrf})
        assert get_campaign(db, c.id).status == "active"
