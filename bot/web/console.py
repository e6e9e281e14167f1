"""What every console page shares: the running app's objects, who is signed in, CSRF.

`Console` holds the database, settings, the outbound channels (handed over by
the composition root once they exist) and the key the CSRF tokens derive
from. `Console.staff(permission)` is the dependency each route declares: it
reads the session cookie, checks the member with the one role policy
(rapport.crm.staff.roles.authorise, as the bot and the CLI do) and, for a
state change, the CSRF token (form field `csrf` or header `X-CSRF-Token`,
which htmx sends from the page's `hx-headers`). Refusals are `Refused`,
rendered by the app's handler: anonymous page views go to the sign-in page.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.requests import Request

from rapport.bot.web.pages import render
from rapport.crm.channel import Channel
from rapport.crm.clock import Clock, utcnow
from rapport.crm.database import Database
from rapport.crm.errors import PermissionDenied
from rapport.crm.privacy.keys import signing_key
from rapport.crm.settings import Settings
from rapport.crm.staff.audit import Actor
from rapport.crm.staff.roles import ROLE_PERMISSIONS, Permission, StaffView, actor_for, authorise
from rapport.crm.staff.sign_in import csrf_ok, csrf_token, session_member

COOKIE = "rapport_console"
SAFE_METHODS = frozenset({"GET", "HEAD"})


class Refused(Exception):
    """A console request that is not allowed; `status` and a sentence for the page."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True, slots=True)
class Staff:
    """The signed-in member of one request, with the session's CSRF token."""

    member: StaffView
    csrf: str

    @property
    def actor(self) -> Actor:
        return actor_for(self.member)

    def may(self, permission: Permission) -> bool:
        return permission in ROLE_PERMISSIONS.get(self.member.role, frozenset())


@dataclass
class Console:
    db: Database
    settings: Settings
    clock: Clock = utcnow
    channels: Mapping[str, Channel] = field(default_factory=dict)
    wake: Callable[[], None] = lambda: None
    """Tells the running dispatcher a campaign run has deliveries (the app's own)."""
    wake_webhooks: Callable[[], None] = lambda: None
    """Tells the app's webhook sender a delivery was queued again (admin page)."""
    health: list[tuple[str, bool, str]] = field(default_factory=list)
    """(service, on, why) as the composition root built them, for the admin page."""
    _key: str | None = None

    def use_channels(self, channels: Mapping[str, Channel]) -> None:
        self.channels = channels

    @property
    def key(self) -> str:
        if self._key is None:
            self._key = signing_key(self.db, self.settings)
        return self._key

    @property
    def secure_cookie(self) -> bool:
        return (self.settings.public_url or "").startswith("https://")

    def staff(self, permission: Permission | None) -> StaffCheck:
        """The route dependency: the signed-in member allowed `permission` (None: any staff)."""
        return StaffCheck(self, permission)

    def page(
        self,
        request: Request,
        staff: Staff,
        name: str,
        context: dict[str, Any] | None = None,
        *,
        status: int = 200,
    ) -> HTMLResponse:
        """A console template with the member, their permissions and the CSRF token."""
        base = {
            "staff": staff,
            "P": Permission,
            "business": self.settings.business_name,
            "business_zone": self.settings.zone,
        }
        return render(request, name, {**base, **(context or {})}, status=status)


class StaffCheck:
    """A route's dependency on a signed-in member; `permission` says which (tests read it)."""

    def __init__(self, console: Console, permission: Permission | None) -> None:
        self.console = console
        self.permission = permission

    async def __call__(self, request: Request) -> Staff:
        console, permission = self.console, self.permission
        token = request.cookies.get(COOKIE)
        member = None
        if token:
            member = await asyncio.to_thread(session_member, console.db, token, now=console.clock())
        if token is None or member is None:
            raise Refused(401, "sign in first")
        if request.method not in SAFE_METHODS:
            given = request.headers.get("X-CSRF-Token")
            if given is None:
                form = await request.form()
                value = form.get("csrf")
                given = value if isinstance(value, str) else None
            if not csrf_ok(console.key, token, given):
                raise Refused(403, "the form was too old or not ours; reload the page")
        if permission is not None:
            try:
                authorise(member, permission)
            except PermissionDenied as exc:
                raise Refused(403, str(exc)) from None
        return Staff(member, csrf_token(console.key, token))


def refused_response(request: Request, exc: Refused) -> Response:
    """Anonymous page views go to sign-in; everything else gets the status and a sentence."""
    if exc.status == 401 and request.method in SAFE_METHODS and "HX-Request" not in request.headers:
        return RedirectResponse("/console/login", status_code=303)
    return render(request, "refused.html", {"message": exc.message}, status=exc.status)
