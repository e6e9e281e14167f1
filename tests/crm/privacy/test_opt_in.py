"""Double opt-in: a signed, expiring, single-use link whose page POSTs; a reply YES; /subscribe."""

from __future__ import annotations

import json
import re
import socket
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from aiohttp import ClientSession
from sqlalchemy import func, select

from rapport.bot.opt_in_mail import send_invitation
from rapport.bot.web import WebService, web_factory
from rapport.channels.email.receiving import store_mail
from rapport.crm.clock import utcnow
from rapport.crm.database import Database
from rapport.crm.models import ConsentEvent, Customer, Identity, OptInRequest
from rapport.crm.privacy.consent import marketing_consent
from rapport.crm.privacy.opt_in import MAX_REQUESTS_PER_DAY, LinkExpired, LinkRefused
from rapport.crm.settings import Settings, load_settings
from tests.support.recording import RecordingChannel

LINK = re.compile(r"http://127\.0\.0\.1:\d+/confirm/\S+")


class Mailbox(RecordingChannel):
    """Receipts keyed like real mail, so a reply's In-Reply-To can name them."""

    async def send(self, external_id, message):  # type: ignore[no-untyped-def, override]
        receipt = await super().send(external_id, message)
        key = f"<{receipt.message_key}@shop.example>"
        self.sent[-1] = (external_id, message, key)
        return type(receipt)(receipt.channel, key, receipt.sent_at)


@pytest.fixture
async def web(db: Database) -> AsyncIterator[tuple[WebService, ClientSession, Mailbox, Settings]]:
    """The web server as `rapport run` builds it (default settings but the port)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = load_settings(
        _env_file=None, database_url=db.url, web_port=port, business_name="Corner Shop"
    )
    service = web_factory(settings, db)
    assert isinstance(service, WebService) and service.opt_in is not None
    mailbox = Mailbox("email")
    service.use_channels({"email": mailbox})
    await service.start()
    async with ClientSession() as client:
        yield service, client, mailbox, settings
    await service.stop()


def _count(db: Database, model: type) -> int:
    with db.session() as s:
        return s.scalar(select(func.count()).select_from(model)) or 0


async def _invite(db: Database, web_parts: tuple, address: str = "ann@example.org") -> str:  # type: ignore[type-arg]
    _service, _, mailbox, settings = web_parts
    said = await send_invitation(db, settings, mailbox, address, "Ann Lee", "cli:test")
    assert said.startswith(f"confirmation mail sent to {address}")
    _, message, _ = mailbox.sent[-1]
    assert message.subject == "Please confirm: news and offers from Corner Shop"
    assert "reply YES" in message.text and not message.marketing
    found = LINK.search(message.text)
    assert found is not None
    return found.group(0)


async def test_the_link_shows_a_button_and_only_its_post_subscribes(
    db: Database,
    web: tuple,  # type: ignore[type-arg]
) -> None:
    _service, client, _, _ = web
    url = await _invite(db, web)
    assert _count(db, Customer) == 0  # asked, not yet a customer

    for _ in range(2):  # a link scanner, a preview: GETs change nothing
        async with client.get(url) as r:
            page = await r.text()
            assert r.status == 200 and 'method="post"' in page and "a…@example.org" in page
    async with client.head(url) as r:
        assert r.status == 200
    async with client.post(url, data={}) as r:  # a POST without the button's field
        assert r.status == 400
    assert _count(db, Customer) == 0 and marketing_consent(db, "email", "ann@example.org") is None

    async with client.post(url, data={"confirm": "yes"}, headers={"User-Agent": "Browser/1"}) as r:
        assert r.status == 200 and "Subscribed" in await r.text()
    assert marketing_consent(db, "email", "ann@example.org") is True
    with db.session() as s:
        [event] = s.scalars(select(ConsentEvent)).all()
        evidence = json.loads(event.evidence or "{}")
        ann = s.scalar(select(Customer))
        assert ann is not None and ann.display_name == "Ann Lee"
    assert event.source == "email:double-opt-in"
    assert evidence["requested_by"] == "cli:test" and evidence["confirmed_via"] == "link"
    assert evidence["confirmation"]["user_agent"] == "Browser/1"
    assert evidence["confirmation"]["remote"] == "127.0.0.1"

    async with client.post(url, data={"confirm": "yes"}) as r:  # used: nothing more
        assert r.status == 200 and "Already confirmed" in await r.text()
    assert _count(db, ConsentEvent) == 1 and _count(db, Customer) == 1


async def test_tampered_expired_and_reused_links(db: Database, web: tuple) -> None:  # type: ignore[type-arg]
    service, client, _, _ = web
    url = await _invite(db, web)
    token = url.rsplit("/", 1)[1]
    for bad in (url[:-2] + "xx", url.replace(token, token[::-1]), url + "A"):
        async with client.get(bad) as r:
            assert r.status == 400 and "not valid" in await r.text()
        async with client.post(bad, data={"confirm": "yes"}) as r:
            assert r.status == 400
    links = service.opt_in.links
    with pytest.raises(LinkExpired):
        links.confirm(db, token, {}, now=utcnow() + timedelta(hours=73))
    with pytest.raises(LinkRefused):
        links.read(links.url(99)[len(links.base) + len("/confirm/") :] + "x")
    assert _count(db, ConsentEvent) == 0
    assert links.confirm(db, token, {}).already is False
    assert links.confirm(db, token, {}).already is True
    assert _count(db, ConsentEvent) == 1


async def test_a_reply_yes_from_the_invited_address_confirms(db: Database, web: tuple) -> None:  # type: ignore[type-arg]
    _, _, mailbox, _ = web
    await _invite(db, web, "bea@example.org")
    _, _, key = mailbox.sent[-1]

    def reply(sender: str, text: str, n: int) -> bytes:
        return (
            f"From: <{sender}>\r\nTo: shop@example.com\r\nSubject: Re: Please confirm\r\n"
            f"Message-ID: <r{n}@example.org>\r\nIn-Reply-To: {key}\r\n\r\n{text}\r\n"
        ).encode()

    store_mail(db, reply("other@example.org", "YES", 1))  # someone else: no
    store_mail(db, reply("bea@example.org", "Maybe later", 2))  # not a yes
    assert marketing_consent(db, "email", "bea@example.org") is not True
    store_mail(db, reply("bea@example.org", "Yes!", 3))
    assert marketing_consent(db, "email", "bea@example.org") is True
    with db.session() as s:
        assert s.scalar(select(ConsentEvent.source)) == "email:reply-yes"
        request = s.scalar(select(OptInRequest))
        assert request is not None and request.confirmed_via == "reply"


async def test_the_subscribe_page_says_the_same_whoever_asks(db: Database, web: tuple) -> None:  # type: ignore[type-arg]
    service, client, mailbox, _ = web
    base = service.opt_in.links.base
    async with client.get(f"{base}/subscribe") as r:
        page = await r.text()
        assert r.status == 200 and 'action="/subscribe"' in page and 'name="email"' in page
    answers = []
    for _ in range(MAX_REQUESTS_PER_DAY + 1):
        async with client.post(f"{base}/subscribe", data={"email": "cy@example.org"}) as r:
            answers.append((r.status, "Check your inbox" in await r.text()))
    assert answers == [(200, True)] * (MAX_REQUESTS_PER_DAY + 1)
    assert len(mailbox.sent) == MAX_REQUESTS_PER_DAY  # the public page cannot be used to spam
    async with client.post(f"{base}/subscribe", data={"email": "not an address"}) as r:
        assert r.status == 400
    assert _count(db, Customer) == 0 and _count(db, Identity) == 0
    with db.session() as s:
        meta = json.loads(s.scalars(select(OptInRequest.request_meta)).first() or "{}")
    assert meta["remote"] == "127.0.0.1"
