"""INFO logs of a whole flow hold no message bodies, addresses, names, chat ids or tokens."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from aiohttp import ClientSession
from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError

from rapport.bot.web import WebService
from rapport.crm.campaigns.runs import start_run
from rapport.crm.database import Database
from rapport.crm.dispatch.dispatcher import Dispatcher
from rapport.crm.interactions.ingest import ingest
from rapport.crm.messages import InboundMessage
from rapport.crm.models import Identity
from rapport.crm.privacy.consent import set_marketing_consent
from rapport.crm.privacy.requests import enforce_retention, erase_customer, export_customer
from rapport.crm.privacy.unsubscribe import UnsubscribeLinks
from rapport.crm.staff.audit import Actor
from tests.support.campaign_fixtures import T0, campaign, everyone
from tests.support.recording import RecordingChannel

ADDRESS = "mei.chan@example.hk"
CHAT_ID = "85291234567"
NAME = "Mei Chan"
BODY = "My card ending 4421 was charged twice"


async def test_info_logs_of_a_full_flow_hold_no_personal_data(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    links = UnsubscribeLinks("a-long-enough-secret-key", "https://crm.example.hk", timedelta(1))
    everyone(db)
    first = ingest(db, InboundMessage("email", ADDRESS, NAME, BODY, T0, "<m1@example.hk>"))
    ingest(db, InboundMessage("telegram", CHAT_ID, NAME, BODY, T0, "tg-1"))
    set_marketing_consent(db, "email", ADDRESS, granted=True, source="web:form")
    start_run(db, campaign(db, template="Hi {{ name }}").id, now=T0 + timedelta(hours=1))
    mail = RecordingChannel("email")
    await Dispatcher(db, {"email": mail}, extra_headers=links.headers).drain()
    [(_, message, _)] = mail.sent
    url = message.headers["List-Unsubscribe"].strip("<>")
    token = url.rsplit("/", 1)[1]

    service = WebService(db, links, "127.0.0.1", 0)
    await service.start()
    try:
        local = url.replace("https://crm.example.hk", f"http://127.0.0.1:{service.port}")
        async with (
            ClientSession() as client,
            client.post(local, data={"List-Unsubscribe": "One-Click"}) as r,
        ):
            assert r.status == 200
    finally:
        await service.stop()
    ingest(db, InboundMessage("telegram", CHAT_ID, NAME, "STOP", T0, "tg-2"))
    export_customer(db, Actor("cli:admin"), first.customer_id)
    erase_customer(db, Actor("cli:admin"), first.customer_id)
    enforce_retention(db, months=1)

    text = "\n".join(r.getMessage() for r in caplog.records if r.levelno >= logging.INFO)
    assert "ingested interaction" in text and "consent withdrawn" in text  # the flow did log
    for secret in (ADDRESS, "mei.chan", CHAT_ID, NAME, BODY, "4421", token, "Hi Mei"):
        assert secret not in text, secret


def test_database_errors_do_not_carry_the_statement_parameters(db: Database) -> None:
    """A failed statement's text reaches logs via log.exception: it must not show the values."""
    with pytest.raises(IntegrityError) as caught, db.transaction() as session:
        session.execute(  # no customer 987654321: the foreign key refuses it
            insert(Identity).values(customer_id=987654321, channel="email", external_id=ADDRESS)
        )
    assert ADDRESS not in str(caught.value)
    assert "hidden due to hide_parameters" in str(caught.value)
