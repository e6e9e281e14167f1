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
import html
import logging

from aiohttp import web

from rapport.bot import web_pages as pages
from rapport.bot.opt_in_mail import send_invitation
from rapport.crm.channel import Channel, DeliveryFailure
from rapport.crm.database import Database
from rapport.crm.errors import InvalidInput
from rapport.crm.privacy.opt_in import LinkExpired, LinkRefused, OptInLinks, links_from_settings
from rapport.crm.settings import Settings

log = logging.getLogger(__name__)

CONFIRM = ("confirm", "yes")


def _meta(request: web.Request) -> dict[str, object]:
    """What a request says about who sent it: the evidence kept with a consent."""
    meta: dict[str, object] = {
        "remote": request.remote,
        "user_agent": request.headers.get("User-Agent", "")[:300],
    }
    forwarded = request.headers.get("X-Forwarded-For")
    if forwarded:
        meta["forwarded_for"] = forwarded[:300]
    return meta


def _masked(address: str) -> str:
    local, _, domain = address.partition("@")
    return f"{local[:1]}…@{domain}"


def _refused(exc: LinkRefused) -> web.Response:
    status = 410 if isinstance(exc, LinkExpired) else 400
    return pages.page("Link not valid", f"{exc}.", status=status)


class OptInPages:
    """The routes; `sender` (the email channel) is set by the runner once channels exist."""

    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings
        links = links_from_settings(settings, db)
        assert links is not None  # built for a running web server, which links point to
        self.links: OptInLinks = links
        self.sender: Channel | None = None

    def register(self, app: web.Application) -> None:
        app.router.add_get("/subscribe", self._form)
        app.router.add_post("/subscribe", self._subscribe)
        app.router.add_get("/confirm/{token}", self._show)
        app.router.add_post("/confirm/{token}", self._confirm)

    async def _form(self, request: web.Request) -> web.Response:
        business = html.escape(self.settings.business_name)
        form = (
            '<form method="post" action="/subscribe">'
            '<p><label>Email <input type="email" name="email" required></label></p>'
            '<p><label>Name (optional) <input type="text" name="name"></label></p>'
            f'<p><button type="submit">Send me {business}\'s news</button></p></form>'
        )
        return pages.page(
            "Subscribe",
            f"News and offers from {self.settings.business_name} by email. We send you a "
            "mail to confirm first; nothing else comes until you do.",
            form=form,
        )

    async def _subscribe(self, request: web.Request) -> web.Response:
        form = await request.post()
        email = str(form.get("email", "")).strip()
        name = str(form.get("name", "")).strip() or None
        if self.sender is None:
            log.error("subscribe page used but sending mail is off (RAPPORT_SMTP_HOST)")
            return pages.page(
                "Not available", "Subscribing by email is not available right now.", status=503
            )
        try:
            await send_invitation(
                self.db, self.settings, self.sender, email, name, "web:/subscribe", _meta(request)
            )
        except InvalidInput:
            return pages.page(
                "Not an address", "That does not look like an email address.", status=400
            )
        except DeliveryFailure:
            return pages.page(
                "Not sent", "We could not send the confirmation mail; please try later.", status=502
            )
        return pages.page(
            "Check your inbox",
            "If the address can receive our mail, a message asking you to confirm is on its way. "
            "Nothing else is sent until you confirm.",
        )

    async def _show(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        try:
            pending = await asyncio.to_thread(self.links.pending, self.db, token)
        except LinkRefused as exc:
            return _refused(exc)
        if pending.confirmed:
            return pages.page("Already confirmed", "You are subscribed already. Thank you!")
        return pages.page(
            "Confirm your subscription",
            f"Receive news and offers from {self.settings.business_name} by email at "
            f"{_masked(pending.email)}? You can unsubscribe from any of our mails.",
            form=pages.button(CONFIRM[0], CONFIRM[1], "Yes, subscribe me"),
        )

    async def _confirm(self, request: web.Request) -> web.Response:
        form = await request.post()
        if form.get(CONFIRM[0]) != CONFIRM[1]:
            return pages.page("Bad request", "Press the button on the page to confirm.", status=400)
        token = request.match_info["token"]
        try:
            done = await asyncio.to_thread(self.links.confirm, self.db, token, _meta(request))
        except LinkRefused as exc:
            return _refused(exc)
        if done.already:
            return pages.page("Already confirmed", "You are subscribed already. Thank you!")
        return pages.page(
            "Subscribed",
            f"Thank you: {self.settings.business_name} will send you news and offers by email.",
        )
