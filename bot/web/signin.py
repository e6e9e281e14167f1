"""Console sign-in: the one-time link's page, the "mail me a link" form, sign-out.

Opening a link (`GET /console/login/<token>`) changes nothing — Telegram's
link previews and mail scanners fetch links — it shows a button whose POST
redeems the link and sets the session cookie (HttpOnly, SameSite=Lax,
Secure behind https). A member with a password (`rapport staff password`)
may sign in with name or address and password instead (`POST
/console/password`, rapport.crm.staff.passwords). Every POST route is
rate-limited per address, and cross-site POSTs are refused; the mail form
answers the same whatever the address, and a wrong password the same as an
unknown member, so neither tells a stranger who is staff.
"""

from __future__ import annotations

import asyncio
import logging
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.requests import Request

from rapport.bot.console_links import mail_login_link
from rapport.bot.web.console import COOKIE, Console, Staff
from rapport.bot.web.pages import page, render
from rapport.bot.web.ratelimit import RateLimit
from rapport.crm.channel import DeliveryFailure
from rapport.crm.customers.identity import normalise_email
from rapport.crm.errors import InvalidInput
from rapport.crm.staff.passwords import password_sign_in
from rapport.crm.staff.roles import staff_by_email
from rapport.crm.staff.sign_in import (
    SESSION_TTL,
    SignedIn,
    SignInRefused,
    end_session,
    redeem_link,
)

log = logging.getLogger(__name__)

ATTEMPTS_PER_MINUTE = 10


def signin_router(console: Console) -> APIRouter:
    router = APIRouter(prefix="/console", include_in_schema=False)
    any_staff = Depends(console.staff(None))
    limit = RateLimit(ATTEMPTS_PER_MINUTE, 60)

    def limited(request: Request) -> bool:
        return not limit.allow(request.client.host if request.client else "?")

    @router.get("/login")
    async def login_form(request: Request) -> HTMLResponse:
        return render(request, "login.html", {"business": console.settings.business_name})

    @router.post("/login")
    async def mail_link(request: Request) -> HTMLResponse:
        if limited(request):
            return page(request, "Too many attempts", "Wait a minute and try again.", status=429)
        form = await request.form()
        try:
            address = normalise_email(str(form.get("email", "")))
        except InvalidInput:
            address = ""
        member = await asyncio.to_thread(staff_by_email, console.db, address) if address else None
        email = console.channels.get("email")
        if member is not None and email is not None:
            try:
                await mail_login_link(console.db, console.settings, email, member)
            except (SignInRefused, DeliveryFailure) as exc:
                log.warning("sign-in link not mailed: %s", type(exc).__name__)
        return page(
            request,
            "Check your mail",
            "If that address belongs to a member of staff, a sign-in link is on its way. "
            "You can also send /login to the bot.",
        )

    @router.get("/login/{token}")
    async def link_page(request: Request, token: str) -> HTMLResponse:
        return page(
            request,
            "Sign in to Rapport",
            "Press the button to sign in to the staff console. The link works once.",
            button=("sign_in", "yes", "Sign in"),
        )

    def foreign(request: Request) -> bool:
        """A POST from another site: it would sign the victim in as the link's (or the
        password's) owner, whose console the victim would then use."""
        origin = request.headers.get("origin")
        ours = {request.headers.get("host"), urlsplit(console.settings.public_url or "").netloc}
        return origin is not None and urlsplit(origin).netloc not in ours

    @router.post("/login/{token}")
    async def redeem(request: Request, token: str) -> Response:
        if foreign(request):
            return page(request, "Not allowed", "Open the link itself to sign in.", status=403)
        if limited(request):
            return page(request, "Too many attempts", "Wait a minute and try again.", status=429)
        try:
            done = await asyncio.to_thread(redeem_link, console.db, token, now=console.clock())
        except SignInRefused as exc:
            return page(request, "Link not valid", f"{exc}.", status=400)
        return signed_in(done)

    @router.post("/password")
    async def with_password(request: Request) -> Response:
        if foreign(request):
            return page(request, "Not allowed", "Sign in on this site's own page.", status=403)
        if limited(request):
            return page(request, "Too many attempts", "Wait a minute and try again.", status=429)
        form = await request.form()
        who, password = str(form.get("who", "")), str(form.get("password", ""))
        try:
            done = await asyncio.to_thread(
                password_sign_in, console.db, who, password, now=console.clock()
            )
        except SignInRefused as exc:  # the same words for an unknown member
            return page(request, "Not signed in", f"{str(exc).capitalize()}.", status=400)
        return signed_in(done)

    def signed_in(done: SignedIn) -> Response:
        response = RedirectResponse("/console/", status_code=303)
        response.set_cookie(
            COOKIE,
            done.session_token,
            max_age=int(SESSION_TTL.total_seconds()),
            httponly=True,
            samesite="lax",
            secure=console.secure_cookie,
            path="/",
        )
        log.info("staff %d signed in to the console", done.member.id)
        return response

    @router.post("/logout")
    async def logout(request: Request, staff: Staff = any_staff) -> Response:
        token = request.cookies.get(COOKIE, "")
        await asyncio.to_thread(end_session, console.db, token)
        response = RedirectResponse("/console/login", status_code=303)
        response.delete_cookie(COOKIE, path="/")
        return response

    return router
