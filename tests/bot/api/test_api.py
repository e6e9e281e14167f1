"""The HTTP API through a real server and a real HTTP client: keys, scopes, customers, orders."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy import func, select

from rapport.bot.api.app import build_api_app
from rapport.bot.api.deps import ApiDeps
from rapport.crm.database import Database
from rapport.crm.integrations.api_keys import create_api_key, revoke_api_key
from rapport.crm.models import AuditEvent, Consent, Customer, Identity, Order, PointsEntry
from rapport.crm.settings import Settings
from rapport.crm.staff.audit import Actor
from tests.support.api_server import serving
from tests.support.campaign_fixtures import customer

ADMIN = Actor("cli:test")
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


@pytest.fixture
async def api(db: Database) -> AsyncIterator[str]:
    settings = Settings(database_url=db.url, currency="EUR")
    async with serving(build_api_app(ApiDeps(db=db, settings=settings))) as url:
        yield url


def key(db: Database, scope: str) -> dict[str, str]:
    new = create_api_key(db, ADMIN, name=f"{scope} integration", scope=scope)
    return {"Authorization": f"Bearer {new.secret}"}


def count(db: Database, model: type, *where: object) -> int:
    with db.session() as s:
        return s.scalar(select(func.count()).select_from(model).where(*where)) or 0  # type: ignore[arg-type]


async def test_anonymous_wrong_key_wrong_scope_and_revoked_key_are_refused(
    db: Database, api: str
) -> None:
    ann = customer(db, "ann@example.com")
    agent = key(db, "agent")
    manager_key = create_api_key(db, ADMIN, name="shop", scope="manager")
    manager = {"Authorization": f"Bearer {manager_key.secret}"}
    order = {
        "order_id": "A-1",
        "customer": "ann@example.com",
        "amount": "10",
        "ordered_at": "2026-11-01",
    }
    withdraw = {"channel": "email", "granted": False, "source": "phone call"}
    async with httpx.AsyncClient(base_url=api) as http:
        routes = [
            ("GET", "/api/v1/customers", None),
            ("GET", f"/api/v1/customers/{ann}", None),
            ("GET", f"/api/v1/customers/{ann}/interactions", None),
            ("POST", "/api/v1/customers", {"email": "new@example.com"}),
            ("POST", f"/api/v1/customers/{ann}/consent", withdraw),
            ("POST", "/api/v1/orders", order),
            ("POST", "/api/v1/orders/batch", {"orders": [order]}),
            ("GET", "/api/v1/campaigns", None),
            ("GET", "/api/v1/reports/programmes", None),
        ]  # fmt: skip
        for method, path, body in routes:
            for headers in (
                {},
                {"Authorization": "Bearer rpk_not-a-key"},
                {"Authorization": "Basic eDp5"},
            ):
                answer = await http.request(method, path, json=body, headers=headers)
                assert answer.status_code == 401, (method, path, headers, answer.text)
                assert answer.headers["www-authenticate"] == "Bearer"
                assert set(answer.json()) == {"error"}
        # an agent may look customers up, but not write, run campaigns or read reports
        assert (await http.get(f"/api/v1/customers/{ann}", headers=agent)).status_code == 200
        for method, path, body in routes[3:]:
            answer = await http.request(method, path, json=body, headers=agent)
            assert answer.status_code == 403, (method, path, answer.text)
            assert "scope (agent)" in answer.json()["error"]
        # a manager may; once revoked, the same key is refused
        assert (await http.get("/api/v1/campaigns", headers=manager)).status_code == 200
        revoke_api_key(db, ADMIN, manager_key.id)
        answer = await http.get("/api/v1/campaigns", headers=manager)
        assert answer.status_code == 401
        assert answer.json() == {"error": "invalid or revoked API key"}
    assert count(db, Order) == 0
    assert count(db, Customer) == 1  # nobody was created by the refused requests
    assert count(db, Consent, Consent.granted.is_(True)) == 1


async def test_upsert_search_get_and_consent(db: Database, api: str) -> None:
    manager = key(db, "manager")
    async with httpx.AsyncClient(base_url=api, headers=manager) as http:
        made = await http.post(
            "/api/v1/customers", json={"email": "Ann@Example.com", "name": "Ann"}
        )
        assert made.status_code == 201, made.text
        ann = made.json()
        assert ann["created"] is True
        again = await http.post(
            "/api/v1/customers", json={"email": "ann@example.com", "name": "Ann"}
        )
        assert again.status_code == 200
        assert again.json() == {"id": ann["id"], "created": False, "changed": False}
        linked = await http.post(
            "/api/v1/customers",
            json={"email": "ann@example.com", "telegram_id": "4242", "name": "Ann Lee"},
        )
        assert linked.json() == {"id": ann["id"], "created": False, "changed": True}
        stranger = await http.post("/api/v1/customers", json={"telegram_id": "999"})
        assert stranger.status_code == 422
        assert "only email addresses create new customers" in stranger.json()["error"]
        bad = await http.post("/api/v1/customers", json={"email": "not an address"})
        assert bad.status_code == 422 and set(bad.json()) == {"error"}
        unknown_field = await http.post("/api/v1/customers", json={"mail": "x@example.com"})
        assert unknown_field.status_code == 422
        assert unknown_field.json()["error"].startswith("mail: ")

        found = await http.get("/api/v1/customers", params={"q": "ann lee"})
        assert [c["id"] for c in found.json()["customers"]] == [ann["id"]]
        assert found.json()["customers"][0]["contact"] == "ann@example.com"
        got = await http.get(f"/api/v1/customers/{ann['id']}")
        assert got.status_code == 200
        body = got.json()
        assert body["name"] == "Ann Lee"
        assert {(i["channel"], i["external_id"]) for i in body["identities"]} == {
            ("email", "ann@example.com"),
            ("telegram", "4242"),
        }
        assert body["marketing_consent"] is False
        missing = await http.get("/api/v1/customers/999999")
        assert missing.status_code == 404
        assert missing.json() == {"error": "no customer with id 999999"}
        assert (await http.get("/api/v1/nothing-here")).status_code == 404

        granted = await http.post(
            f"/api/v1/customers/{ann['id']}/consent",
            json={"channel": "email", "granted": True, "source": "checkout form"},
        )
        assert granted.status_code == 200, granted.text
        assert (await http.get(f"/api/v1/customers/{ann['id']}")).json()["marketing_consent"]
        no_source = await http.post(
            f"/api/v1/customers/{ann['id']}/consent",
            json={"channel": "email", "granted": False},
        )
        assert no_source.status_code == 422
        assert no_source.json()["error"] == "source: Field required"
        timeline = await http.get(f"/api/v1/customers/{ann['id']}/interactions")
        assert timeline.json() == {"interactions": [], "next_before": None}
    with db.session() as s:
        actions = list(
            s.scalars(
                select(AuditEvent.action)
                .where(AuditEvent.actor.like("api-key:%"))
                .order_by(AuditEvent.id)
            )
        )
        assert (
            s.scalar(select(Consent.source).where(Consent.customer_id == ann["id"]))
            == "staff:api:checkout form"
        )
    # every read of personal data is in the audit trail, as the key
    assert actions.count("customer.show") == 2  # the 404 showed nothing
    assert "customers.list" in actions and "customer.interactions" in actions
    assert "consent.grant" in actions and actions[0] == "customer.create"


async def test_interactions_are_paged_newest_first(db: Database, api: str) -> None:
    ann = customer(db, "ann@example.com", text="first")
    for n in range(4):
        customer(db, "ann@example.com", text=f"message {n}", consent=False)
    agent = key(db, "agent")
    async with httpx.AsyncClient(base_url=api, headers=agent) as http:
        page = (await http.get(f"/api/v1/customers/{ann}/interactions", params={"limit": 3})).json()
        assert [i["body"] for i in page["interactions"]] == ["message 3", "message 2", "message 1"]
        rest = (
            await http.get(
                f"/api/v1/customers/{ann}/interactions",
                params={"limit": 3, "before": page["next_before"]},
            )
        ).json()
        assert [i["body"] for i in rest["interactions"]] == ["message 0", "first"]
        assert rest["next_before"] is None


async def test_orders_are_idempotent_like_the_import(db: Database, api: str) -> None:
    manager = key(db, "manager")
    order = {
        "order_id": "A-1",
        "customer": "ann@example.com",
        "amount": "10.50",
        "ordered_at": "2026-11-01",
    }
    async with httpx.AsyncClient(base_url=api, headers=manager) as http:
        first = await http.post("/api/v1/orders", json=order)
        assert first.status_code == 201, first.text
        assert first.json()["new_customer"] is True and first.json()["points"] == 10
        again = await http.post("/api/v1/orders", json=order)
        assert again.status_code == 200
        assert again.json()["duplicate"] is True and again.json()["id"] == first.json()["id"]
        changed = await http.post("/api/v1/orders", json={**order, "amount": "11"})
        assert changed.status_code == 422
        assert "already recorded with other details" in changed.json()["error"]

        batch = [
            order,
            {**order, "order_id": "A-2", "amount": "20"},
            {**order, "order_id": "A-3", "amount": "-4"},
            {**order, "order_id": "B-1", "customer": "bob@example.com", "amount": "5"},
            {**order, "order_id": "A-2", "amount": "20"},
        ]
        result = (await http.post("/api/v1/orders/batch", json={"orders": batch})).json()
        assert (result["stored"], result["duplicates"], result["refused"]) == (2, 2, 1)
        assert [r["duplicate"] for r in result["results"]] == [True, False, False, False, True]
        assert "must be above 0" in result["results"][2]["error"]
        replay = (await http.post("/api/v1/orders/batch", json={"orders": batch})).json()
        assert (replay["stored"], replay["duplicates"], replay["refused"]) == (0, 4, 1)
        too_many = await http.post("/api/v1/orders/batch", json={"orders": [order] * 1001})
        assert too_many.status_code == 422
    assert count(db, Order) == 3
    assert count(db, PointsEntry) == 3
    assert count(db, Identity) == 2


async def test_openapi_document_and_offline_docs(db: Database, api: str) -> None:
    async with httpx.AsyncClient(base_url=api) as http:
        document = (await http.get("/api/openapi.json")).json()
        docs = await http.get("/api/docs")
    assert {"/api/v1/customers", "/api/v1/orders/batch", "/api/v1/reports/programmes"} <= set(
        document["paths"]
    )
    assert "HTTPBearer" in document["components"]["securitySchemes"]
    assert document["paths"]["/api/v1/orders"]["post"]["x-scopes"] == ["manager", "admin"]
    assert docs.status_code == 200 and "text/html" in docs.headers["content-type"]
    assert "/api/v1/customers/{customer_id}/consent" in docs.text
    assert "<script" not in docs.text and "http" not in docs.text.replace("/api/openapi.json", "")
