"""The double opt-in pages: `/subscribe` (a form a shop links to or embeds) and `/confirm/…`.

`GET /confirm/<token>` shows what the link would do and a button; it changes
nothing, so a mail scanner or link preview opening it subscribes nobody.
`POST /confirm/<token>` (the button, field `confirm=yes`) records the
consent with the request's address and browser as evidence. `POST
/subscribe` stores a request and mails its confirmation; the answer is the
same whether the address was new, already subscribed or asked too often,
so the page tells a stranger nothing about anyone. The rules are
rapport.crm.privacy.opt_in's; this is the edge.
"""

from __future__ import annotations

import asyncio
import logging

from fastapi import APIRouter
from fastapi.responses import HTMLResponse
from starlette.requests import Request

from rapport.bot.opt_in_mail import send_invitation
from rapport.bot.web.pages import page, render
from rapport.crm.channel import Channel, DeliveryFailure
from rapport.crm.database import Database
from rapport.crm.errors import InvalidInput
from rapport.crm.privacy.opt_in import LinkExpired, LinkRefused, OptInLinks, links_from_settings
from rapport.crm.settings import Settings

log = logging.getLogger(__name__)

CONFIRM = ("confirm", "yes")


def request_meta(request: Request) -> dict[str, object]:
    """What a request says about who sent it: the evidence kept with a consent."""
    meta: dict[str, object] = {
        "remote": request.client.host if request.client else None,
        "user_agent": request.headers.get("User-Agent", "")[:300],
    }
    forwarded = request.headers.get("X-Forwarded-For")
    if forwarded:
        meta["forwarded_for"] = forwarded[:300]
    return meta


def _masked(address: str) -> str:
    local, _, domain = address.partition("@")
    return f"{local[:1]}…@{domain}"


class OptInPages:
    """The routes; `sender` (the email channel) is set by the runner once channels exist."""

    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings
        links = links_from_settings(settings, db)
        assert links is not None  # built for a running web server, which links point to
        self.links: OptInLinks = links
        self.sender: Channel | None = None

    def router(self) -> APIRouter:
        router = APIRouter(include_in_schema=False)
        router.add_api_route("/subscribe", self._form, methods=["GET"])
        router.add_api_route("/subscribe", self._subscribe, methods=["POST"])
        router.add_api_route("/confirm/{token}", self._show, methods=["GET"])
        router.add_api_route("/confirm/{token}", self._confirm, methods=["POST"])
        return router

    def _refused(self, request: Request, exc: LinkRefused) -> HTMLResponse:
        status = 410 if isinstance(exc, LinkExpired) else 400
        return page(request, "Link not valid", f"{exc}.", status=status)

    async def _form(self, request: Request) -> HTMLResponse:
        return render(
            request,
            "subscribe.html",
            {
                "title": "Subscribe",
                "text": f"News and offers from {self.settings.business_name} by email. We send "
                "you a mail to confirm first; nothing else comes until you do.",
                "business": self.settings.business_name,
            },
        )

    async def _subscribe(self, request: Request) -> HTMLResponse:
        form = await request.form()
        email = str(form.get("email", "")).strip()
        name = str(form.get("name", "")).strip() or None
        if self.sender is None:
            log.error("subscribe page used but sending mail is off (RAPPORT_SMTP_HOST)")
            return page(
                request,
                "Not available",
                "Subscribing by email is not available right now.",
                status=503,
            )
        try:
            await send_invitation(
                self.db,
                self.settings,
                self.sender,
                email,
                name,
                "web:/subscribe",
                request_meta(request),
            )
        except InvalidInput:
            return page(
                request, "Not an address", "That does not look like an email address.", status=400
            )
        except DeliveryFailure:
            return page(
                request,
                "Not sent",
                "We could not send the confirmation mail; please try later.",
                status=502,
            )
        return page(
            request,
            "Check your inbox",
            "If the address can receive our mail, a message asking you to confirm is on its way. "
            "Nothing else is sent until you confirm.",
        )

    async def _show(self, request: Request, token: str) -> HTMLResponse:
        try:
            pending = await asyncio.to_thread(self.links.pending, self.db, token)
        except LinkRefused as exc:
            return self._refused(request, exc)
        if pending.confirmed:
            return page(request, "Already confirmed", "You are subscribed already. Thank you!")
        return page(
            request,
            "Confirm your subscription",
            f"Receive news and offers from {self.settings.business_name} by email at "
            f"{_masked(pending.email)}? You can unsubscribe from any of our mails.",
            button=(CONFIRM[0], CONFIRM[1], "Yes, subscribe me"),
        )

    async def _confirm(self, request: Request, token: str) -> HTMLResponse:
        form = await request.form()
        if form.get(CONFIRM[0]) != CONFIRM[1]:
            return page(
                request, "Bad request", "Press the button on the page to confirm.", status=400
            )
        try:
            done = await asyncio.to_thread(
                self.links.confirm, self.db, token, request_meta(request)
            )
        except LinkRefused as exc:
            return self._refused(request, exc)
        if done.already:
            return page(request, "Already confirmed", "You are subscribed already. Thank you!")
        return page(
            request,
            "Subscribed",
            f"Thank you: {self.settings.business_name} will send you news and offers by email.",
        )
