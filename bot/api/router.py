"""The API's router and how to mount it: `install_api(app, deps)` is the one call.

`build_api_router(deps)` makes the /api/v1 routes (customers, orders,
campaigns, reports); `install_api` includes it in a FastAPI app under
/api/v1 and adds the OpenAPI document of just these routes at
/api/openapi.json and a reference page made from it at /api/docs, which
needs no script or CDN (Rapport works offline).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.routing import APIRoute

from rapport.bot.api.auth import principal_dependency, requiring
from rapport.bot.api.campaigns import add_campaign_routes
from rapport.bot.api.customers import add_customer_routes
from rapport.bot.api.deps import ApiDeps
from rapport.bot.api.docs import reference_page
from rapport.bot.api.errors import ERROR_RESPONSES, ApiRoute, error
from rapport.bot.api.orders import add_order_routes
from rapport.bot.api.reports import add_report_routes
from rapport.crm.staff.roles import ROLE_PERMISSIONS, Permission

PREFIX = "/api/v1"
OPENAPI_PATH = "/api/openapi.json"
DOCS_PATH = "/api/docs"
TITLE = "Rapport API"
VERSION = "1"
DESCRIPTION = (
    "Customers, orders, campaigns and reports of a Rapport installation. "
    "Authenticate with `Authorization: Bearer <key>` (`rapport api-keys create`); "
    "a key's scope is a staff role (agent, manager, admin) with that role's permissions. "
    'Errors are JSON: `{"error": "…"}`. Guide: docs/api.md.'
)


def scopes_allowing(permission: Permission) -> list[str]:
    return [role for role, granted in ROLE_PERMISSIONS.items() if permission in granted]


def build_api_router(deps: ApiDeps) -> APIRouter:
    """The /api/v1 routes; include it with `prefix="/api/v1"` (or use `install_api`)."""
    router = APIRouter(route_class=ApiRoute, responses=ERROR_RESPONSES)
    principal = principal_dependency(deps)

    def allow(permission: Permission) -> Any:
        return requiring(principal, permission)

    add_customer_routes(router, deps, allow)
    add_order_routes(router, deps, allow)
    add_campaign_routes(router, deps, allow)
    add_report_routes(router, deps, allow)
    for route in router.routes:
        if isinstance(route, APIRoute):
            _note_scope(route)

    @router.api_route(
        "/{path:path}",
        methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
        include_in_schema=False,
    )
    def unknown(path: str) -> JSONResponse:
        return error(404, f"no API route /{path}")

    return router


def _note_scope(route: APIRoute) -> None:
    """Say in the route's description which scopes may call it (from its dependency)."""
    for dependency in route.dependant.dependencies:
        permission = getattr(dependency.call, "permission", None)
        if isinstance(permission, Permission):
            scopes = ", ".join(scopes_allowing(permission))
            note = f"Scope: {scopes} (permission: {permission})."
            route.description = f"{route.description}\n\n{note}".strip()
            route.openapi_extra = {
                **(route.openapi_extra or {}),
                "x-scopes": scopes_allowing(permission),
            }


def install_api(app: FastAPI, deps: ApiDeps) -> None:
    """Mount the API on `app`: /api/v1/…, /api/openapi.json and /api/docs."""
    router = build_api_router(deps)
    app.include_router(router, prefix=PREFIX)
    # The document describes the API alone, whatever else `app` serves (console pages).
    described = FastAPI(title=TITLE, version=VERSION, description=DESCRIPTION)
    described.include_router(router, prefix=PREFIX)

    @app.get(OPENAPI_PATH, include_in_schema=False)
    def openapi_json() -> JSONResponse:
        return JSONResponse(described.openapi())

    @app.get(DOCS_PATH, include_in_schema=False)
    def docs() -> HTMLResponse:
        return HTMLResponse(reference_page(described.openapi(), OPENAPI_PATH))
