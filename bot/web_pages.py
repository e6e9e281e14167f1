"""The small HTML pages Rapport's web server shows: one look, strict headers, no scripts."""

from __future__ import annotations

import html

from aiohttp import web

HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex",
    "Cache-Control": "no-store",
}


def page(title: str, text: str, *, status: int = 200, form: str = "") -> web.Response:
    """A page with a heading, a paragraph and an optional form (`form` is trusted markup)."""
    body = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title></head>"
        '<body style="font-family:sans-serif;max-width:32em;margin:3em auto">'
        f"<h1>{html.escape(title)}</h1><p>{html.escape(text)}</p>{form}</body></html>"
    )
    return web.Response(
        status=status, text=body, content_type="text/html", charset="utf-8", headers=HEADERS
    )


def button(name: str, value: str, label: str) -> str:
    """A form that POSTs one hidden field back to the same URL."""
    return (
        f'<form method="post"><input type="hidden" name="{html.escape(name)}" '
        f'value="{html.escape(value)}"><button type="submit">{html.escape(label)}</button></form>'
    )
