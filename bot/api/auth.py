"""Bearer authentication by API key, and the scope check each route declares.

`Authorization: Bearer rpk_…`. No key or an unknown or revoked key is 401
(with `WWW-Authenticate: Bearer`); a valid key whose scope lacks the route's
permission is 403. The permission table is the staff roles'
(rapport.crm.staff.roles), so "manager" means the same as in the bot.
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import Depends, HTTPException
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from rapport.bot.api.deps import ApiDeps
from rapport.crm.errors import PermissionDenied
from rapport.crm.integrations.api_keys import ApiPrincipal, authenticate
from rapport.crm.staff.roles import Permission

bearer = HTTPBearer(auto_error=False, description="An API key: rapport api-keys create")
CHALLENGE = {"WWW-Authenticate": "Bearer"}


def principal_dependency(deps: ApiDeps) -> Callable[..., ApiPrincipal]:
    def principal(
        credentials: HTTPAuthorizationCredentials | None = Depends(bearer),  # noqa: B008
    ) -> ApiPrincipal:
        if credentials is None or credentials.scheme.lower() != "bearer":
            raise HTTPException(
                401, "an API key is required: Authorization: Bearer <key>", CHALLENGE
            )
        try:
            return authenticate(deps.db, credentials.credentials, now=deps.clock())
        except PermissionDenied as exc:
            raise HTTPException(401, str(exc), CHALLENGE) from None

    return principal


def requiring(
    principal: Callable[..., ApiPrincipal], permission: Permission
) -> Callable[..., ApiPrincipal]:
    """A dependency: the request's key, if its scope grants `permission` (else 403)."""

    def allowed(key: ApiPrincipal = Depends(principal)) -> ApiPrincipal:  # noqa: B008
        key.require(permission)
        return key

    allowed.permission = permission  # type: ignore[attr-defined]  # read by the docs
    return allowed
