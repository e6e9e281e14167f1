"""The look shared by every page: Jinja2 templates from the package, strict headers.

Public pages (unsubscribe, confirmation) and the console render through the
same `Templates`; every response leaves with the security headers of
`SECURITY_HEADERS` (added by rapport.bot.web.app's middleware), and no page
carries inline script, so the Content-Security-Policy forbids it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi.responses import HTMLResponse, Response
from fastapi.templating import Jinja2Templates
from jinja2 import pass_context
from jinja2.runtime import Context
from markupsafe import Markup
from starlette.requests import Request

from rapport.bot.present.numbers import NO_DATA
from rapport.bot.present.times import day, local, when

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}
NO_STORE = {"Cache-Control": "no-store"}

templates = Jinja2Templates(directory=str(TEMPLATES))


def sentiment(polarity: float | None) -> Markup:
    """A sentiment badge. A filter, not a Jinja macro: the inbox shows one per row, and its
    two macro calls a row were half the page's rendering (_macros.html delegates here)."""
    if polarity is None:
        return Markup('<span class="sent none">–</span>')
    kind, word = (
        ("neg", "negative")
        if polarity <= -0.3
        else ("pos", "positive")
        if polarity >= 0.3
        else ("neu", "neutral")
    )
    return Markup(f'<span class="sent {kind}" title="{polarity:.2f}">{word}</span>')


def ago(delta: timedelta | None) -> str:
    """How long, as staff read it at a glance: "7 min", "3 h 5 min", "4 d"."""
    if delta is None:
        return "–"
    minutes = int(delta.total_seconds() // 60)
    if minutes < 60:
        return f"{minutes} min"
    if minutes < 2880:
        return f"{minutes // 60} h {minutes % 60} min"
    return f"{minutes // 1440} d"


def _zone(context: Context) -> ZoneInfo:
    """The zone the console passes every page (`Console.page`); UTC on a page outside it."""
    zone: ZoneInfo = context.get("business_zone") or ZoneInfo("UTC")
    return zone


@pass_context
def local_time(context: Context, moment: datetime | None) -> str:
    """A stored (UTC) moment in the business's zone with the zone shown, as the CLI shows it."""
    return when(moment, _zone(context))


@pass_context
def local_day(context: Context, moment: datetime | None) -> str:
    """The business's calendar day of a stored moment: "2 Dec 2026"."""
    return NO_DATA if moment is None else day(local(moment, _zone(context)))


templates.env.filters["sentiment"] = sentiment
templates.env.filters["ago"] = ago
templates.env.filters["local"] = local_time
templates.env.filters["localday"] = local_day


def render(
    request: Request, name: str, context: dict[str, Any] | None = None, *, status: int = 200
) -> HTMLResponse:
    """A template as an uncacheable HTML response (pages hold personal data or tokens)."""
    response = templates.TemplateResponse(
        request, name, context or {}, status_code=status, headers=NO_STORE
    )
    assert isinstance(response, HTMLResponse)
    return response


def page(
    request: Request,
    title: str,
    text: str,
    *,
    status: int = 200,
    button: tuple[str, str, str] | None = None,
) -> HTMLResponse:
    """A public page: a heading, a paragraph and optionally a button that POSTs
    one hidden field (name, value, label) back to the same URL."""
    return render(
        request, "public.html", {"title": title, "text": text, "button": button}, status=status
    )


def download(content: str | bytes, filename: str, media_type: str) -> Response:
    """A file the browser saves rather than shows; never cached (it holds personal data)."""
    return Response(
        content,
        media_type=media_type,
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
        },
    )
