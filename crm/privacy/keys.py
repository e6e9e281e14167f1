"""The key that signs links in mail, and the address those links point to.

Links must work out of the box: a shop that never set `RAPPORT_SECRET_KEY`
still sends campaign mail with a working unsubscribe link, and a confirmation
link made by `rapport customers invite` must verify in `rapport run`'s web
server. So without a configured key one is generated once and kept in the
database (`app_secrets`), where every Rapport process on it finds the same.
A configured key always wins. Likewise the links' base URL defaults to the
web server's own local address, which only works on this machine: start-up
warns until `RAPPORT_PUBLIC_URL` names the address customers reach.
"""

from __future__ import annotations

import secrets

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite

from rapport.crm.clock import utcnow
from rapport.crm.database import Database
from rapport.crm.models import AppSecret
from rapport.crm.settings import Settings

SIGNING_KEY = "link-signing-key"
_ANY_ADDRESS = {"", "0.0.0.0", "::"}


def signing_key(db: Database, settings: Settings) -> str:
    """RAPPORT_SECRET_KEY, else the database's generated key (made on first use)."""
    if settings.secret_key is not None:
        return settings.secret_key.get_secret_value()
    dialect = postgresql if db.dialect == "postgresql" else sqlite
    with db.transaction() as session:
        session.execute(
            dialect.insert(AppSecret)
            .values(name=SIGNING_KEY, value=secrets.token_urlsafe(32), created_at=utcnow())
            .on_conflict_do_nothing(index_elements=["name"])
        )
        value = session.scalar(select(AppSecret.value).where(AppSecret.name == SIGNING_KEY))
    assert value is not None
    return value


def public_base_url(settings: Settings) -> str | None:
    """Where links in mail point: RAPPORT_PUBLIC_URL, else the local web server, else None."""
    if settings.public_url:
        return settings.public_url.rstrip("/")
    if settings.web_port == 0:
        return None
    host = "127.0.0.1" if settings.web_host in _ANY_ADDRESS else settings.web_host
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{settings.web_port}"


def local_url_warning(settings: Settings) -> str | None:
    """The start-up warning while links point at this machine only, or None once set."""
    if settings.public_url:
        return None
    base = public_base_url(settings)
    if base is None:
        return None
    return (
        f"RAPPORT_PUBLIC_URL is not set: unsubscribe and confirmation links in mail point to "
        f"{base}, which works only on this machine; set it to the https:// address "
        "customers reach before mailing real customers"
    )
