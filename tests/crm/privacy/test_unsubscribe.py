"""One-click unsubscribe: signed links in campaign mail, served by the web endpoint.

A real aiohttp server on loopback and a real aiohttp client; tokens made by
the same code that puts them in List-Unsubscribe headers.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from aiohttp import ClientSession
from itsdangerous import TimestampSigner
from sqlalchemy import func, select

from rapport.bot.runner import run
from rapport.bot.web import WebService, web_factory
from rapport.channels.lifecycle import Disabled
from rapport.crm.campaigns.runs import start_run
from rapport.crm.clock import utcnow
from rapport.crm.database import Database
from rapport.crm.dispatch.dispatcher import Dispatcher
from rapport.crm.errors import ConfigurationError
from rapport.crm.models import ConsentEvent, Delivery
from rapport.crm.privacy.consent import marketing_consent, set_marketing_consent
from rapport.crm.privacy.unsubscribe import (
    TokenExpired,
    TokenRefused,
    UnsubscribeLinks,
    links_from_settings,
)
from rapport.crm.settings import load_settings
from tests.support.campaign_fixtures import T0, campaign, everyone
from tests.support.privacy_fixtures import two_channel_customer
from tests.support.recording import RecordingChannel

SECRET = "correct horse battery staple"
ONE_CLICK = {"List-Unsubscribe": "One-Click"}


def _links(secret: str = SECRET, days: int = 30) -> UnsubscribeLinks:
    return UnsubscribeLinks(secret, "https://crm.example.hk/", timedelta(days=days))


async def _sent_campaign(db: Database, links: UnsubscribeLinks) -> dict[int, str]:
    """Two customers, consenting on both channels, sent one campaign mail each: id → URL."""
    everyone(db)
    ids = [two_channel_customer(db, n) for n in (1, 2)]
    for n in (1, 2):
        set_marketing_consent(db, "email", f"p{n}@example.com", granted=True, source="test")
        set_marketing_consent(db, "telegram", str(70_000 + n), granted=True, source="test")
    c = campaign(db, channel="email", fallback=False)
    start_run(db, c.id, now=T0 + timedelta(hours=1))
    mail = RecordingChannel("email")
    await Dispatcher(db, {"email": mail}, extra_headers=links.headers).drain()
    urls = {}
    for address, message, _ in mail.sent:
        header = message.headers["List-Unsubscribe"]
        assert header.startswith("<https://crm.example.hk/u/") and header.endswith(">")
        urls[ids[int(address[1]) - 1]] = header[1:-1]
    assert len(urls) == 2
    return urls


@pytest.fixture
async def server(db: Database) -> AsyncIterator[tuple[WebService, ClientSession]]:
    service = WebService(db, _links(), "127.0.0.1", 0)
    await service.start()
    async with ClientSession() as client:
        yield service, client
    await service.stop()


def _local(service: WebService, url: str) -> str:
    return url.replace("https://crm.example.hk", f"http://127.0.0.1:{service.port}")


def _events(db: Database) -> int:
    with db.session() as s:
        return s.scalar(select(func.count()).select_from(ConsentEvent)) or 0


async def test_link_page_then_one_click_withdraws_that_channel_once(
    db: Database, server: tuple[WebService, ClientSession]
) -> None:
    service, client = server
    urls = await _sent_campaign(db, service.links)
    url = _local(service, urls[min(urls)])  # customer 1 (p1@…): mails may leave in any order
    before = _events(db)

    async with client.get(url) as r:  # opening the link changes nothing
        page = await r.text()
        assert r.status == 200 and 'method="post"' in page
        assert r.headers["Content-Security-Policy"].startswith("default-src 'none'")
    assert marketing_consent(db, "email", "p1@example.com") is True

    async with client.post(url, data=ONE_CLICK) as r:
        assert r.status == 200 and "Unsubscribed" in await r.text()
    assert marketing_consent(db, "email", "p1@example.com") is False
    assert marketing_consent(db, "telegram", "70001") is True  # another channel: untouched
    assert marketing_consent(db, "email", "p2@example.com") is True  # another customer
    with db.session() as s:
        last = s.scalars(select(ConsentEvent).order_by(ConsentEvent.id.desc())).first()
        assert last is not None
        assert (last.channel, last.granted, last.source) == (
            "email",
            False,
            "email:unsubscribe-link",
        )

    # used: a repeat (mail clients retry) is answered but changes and records nothing,
    # even after the customer opted in again
    set_marketing_consent(db, "email", "p1@example.com", granted=True, source="web:form")
    after = _events(db)
    async with client.post(url, data=ONE_CLICK) as r:
        assert r.status == 200 and "already" in (await r.text()).lower()
    assert marketing_consent(db, "email", "p1@example.com") is True
    assert _events(db) == after == before + 2


async def test_forged_and_foreign_tokens_are_refused(
    db: Database, server: tuple[WebService, ClientSession]
) -> None:
    service, client = server
    urls = await _sent_campaign(db, service.links)
    (c1, url1), (c2, _) = sorted(urls.items())
    token = url1.rsplit("/", 1)[1]
    with db.session() as s:
        d2 = s.scalar(select(Delivery.id).where(Delivery.customer_id == c2))
    assert d2 is not None
    before = _events(db)
    payload, stamp, signature = token.split(".")
    # the first character of the signature: all six of its bits count (the last's do not)
    tampered = f"{payload}.{stamp}.{'A' if signature[0] != 'A' else 'B'}{signature[1:]}"
    other_payload = service.links.token(d2, c2).split(".")[0]
    forged = [
        tampered,  # signature altered
        f"{other_payload}.{stamp}.{signature}",  # someone else's ids under this signature
        _links(secret="another secret entirely").token(d2, c2),  # signed with another key
        service.links.token(d2, c1),  # genuine signature, someone else's delivery
        service.links.token(10**9, c1),  # no such delivery
        "not-a-token",
    ]
    for bad in forged:
        async with client.post(f"http://127.0.0.1:{service.port}/u/{bad}", data=ONE_CLICK) as r:
            assert r.status == 400, bad
        async with client.get(f"http://127.0.0.1:{service.port}/u/{bad}") as r:
            assert r.status == 400, bad
    async with client.post(_local(service, url1), data={"x": "y"}) as r:
        assert r.status == 400  # not an RFC 8058 request
    assert _events(db) == before
    assert marketing_consent(db, "email", "p1@example.com") is True
    assert marketing_consent(db, "email", "p2@example.com") is True


async def test_expired_link_is_refused(
    db: Database, server: tuple[WebService, ClientSession], monkeypatch: pytest.MonkeyPatch
) -> None:
    service, client = server
    await _sent_campaign(db, service.links)
    with db.session() as s:
        delivery_id, customer_id = s.execute(select(Delivery.id, Delivery.customer_id)).first()  # type: ignore[misc]
    with monkeypatch.context() as m:  # a link minted 31 days ago
        m.setattr(TimestampSigner, "get_timestamp", lambda self: int(time.time()) - 31 * 86400)
        old = service.links.token(delivery_id, customer_id)
    async with client.post(f"http://127.0.0.1:{service.port}/u/{old}", data=ONE_CLICK) as r:
        assert r.status == 410 and "expired" in await r.text()
    fresh = service.links.token(delivery_id, customer_id)
    with pytest.raises(TokenExpired):
        service.links.redeem(db, fresh, now=utcnow() + timedelta(days=30, seconds=5))
    assert service.links.redeem(db, fresh).already_used is False
    with pytest.raises(TokenRefused):
        service.links.redeem(db, fresh + "x")


def test_settings_decide_links_and_the_web_service(db: Database) -> None:
    """Links work out of the box: a generated key and the local web server's address."""
    default = load_settings(_env_file=None)
    links, _ = links_from_settings(default, db)
    assert links is not None and links.url(5, 7).startswith("http://127.0.0.1:8080/u/")
    again, _ = links_from_settings(default, db)  # another process: the same stored key
    assert again is not None and again.read(links.token(5, 7)) == (5, 7)
    assert isinstance(web_factory(default, db), WebService)

    off = load_settings(_env_file=None, web_port=0)
    none, reason = links_from_settings(off, db)
    assert none is None and "RAPPORT_PUBLIC_URL" in reason
    assert isinstance(web_factory(off, db), Disabled)

    full = load_settings(_env_file=None, secret_key=SECRET, public_url="https://x.hk/")
    configured, _ = links_from_settings(full, db)
    assert configured is not None and configured.url(5, 7).startswith("https://x.hk/u/")
    assert configured.read(_links().token(5, 7)) == (5, 7)  # the configured key signs
    assert isinstance(web_factory(full, db), WebService)


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({"secret_key": "short"}, "RAPPORT_SECRET_KEY"),
        ({"public_url": "crm.example.hk"}, "RAPPORT_PUBLIC_URL"),
        ({"public_url": "https://crm.example.hk/\r\nBcc: x@y"}, "RAPPORT_PUBLIC_URL"),
        ({"web_port": 70000}, "RAPPORT_WEB_PORT"),
        ({"retention_months": -1}, "RAPPORT_RETENTION_MONTHS"),
    ],
)
def test_bad_privacy_settings_are_refused(overrides: dict[str, object], fragment: str) -> None:
    with pytest.raises(ConfigurationError, match=fragment):
        load_settings(_env_file=None, **overrides)


async def test_rapport_run_serves_the_unsubscribe_endpoint(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a free port for the configured endpoint
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = load_settings(
        _env_file=None,
        database_url=f"sqlite:///{tmp_path / 'run.db'}",
        secret_key=SECRET,
        public_url="https://crm.example.hk",
        web_port=port,
    )
    stop = asyncio.Event()
    running = asyncio.create_task(run(settings, inbound=[], stop=stop))
    try:
        async with ClientSession() as client:
            for _ in range(100):
                try:
                    async with client.get(f"http://127.0.0.1:{port}/u/forged") as r:
                        assert r.status == 400
                        break
                except OSError:
                    await asyncio.sleep(0.1)
            else:
                pytest.fail("the web endpoint did not come up")
    finally:
        stop.set()
        await asyncio.wait_for(running, 30)
