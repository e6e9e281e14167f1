"""The console over real HTTP: a `WebService` with the console on a free port, an httpx
client, and signing a member in the way a browser does (link page, then its button)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx

from rapport.bot.web import WebService
from rapport.bot.web.console import Console
from rapport.crm.channel import Channel
from rapport.crm.database import Database
from rapport.crm.privacy.unsubscribe import links_from_settings
from rapport.crm.settings import Settings, load_settings
from rapport.crm.staff.audit import Actor
from rapport.crm.staff.roles import StaffView, add_staff
from rapport.crm.staff.sign_in import issue_link

CSRF = re.compile(r'name="csrf" value="([0-9a-f]{64})"')
OPERATOR = Actor("cli:test")


@dataclass
class Served:
    service: WebService
    console: Console
    settings: Settings

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.service.port}"


@asynccontextmanager
async def console_server(
    db: Database, channels: Mapping[str, Channel] | None = None, **settings: object
) -> AsyncIterator[Served]:
    config = load_settings(_env_file=None, database_url=db.url, web_port=1, **settings)
    links, _ = links_from_settings(config, db)
    assert links is not None
    console = Console(db, config)
    service = WebService(db, links, "127.0.0.1", 0, console=console)
    service.use_channels(channels or {})
    await service.start()
    try:
        yield Served(service, console, config)
    finally:
        await service.stop()


def staff(db: Database, name: str, role: str, telegram_id: int) -> StaffView:
    return add_staff(db, OPERATOR, name=name, role=role, telegram_user_id=telegram_id)


async def sign_in(client: httpx.AsyncClient, db: Database, member: StaffView) -> str:
    """Sign `member` in on this client (its cookie jar keeps the session); their CSRF token."""
    token = issue_link(db, member.id)
    page = await client.get(f"/console/login/{token}")
    assert page.status_code == 200 and "Sign in" in page.text
    done = await client.post(f"/console/login/{token}", data={"sign_in": "yes"})
    assert done.status_code == 303, done.text
    home = await client.get("/console/inbox" if member.role else "/console/")
    found = CSRF.search(home.text)
    assert found is not None, home.text
    return found.group(1)
