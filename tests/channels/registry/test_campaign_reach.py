"""A campaign reaches the same customers whoever starts it (issue 19, problem 2).

`rapport campaigns run-now` (the real CLI) and `/campaign_run` (the real PTB
application inside `rapport run`) get their outbound channels from the one
registry, so with a bot token set both reach an email customer, a
Telegram-only customer and a customer who agreed to marketing only on
Telegram, and both honour the same frequency cap. Mail goes to a real SMTP
sink, Telegram to the Bot API stand-in.
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
from asyncio.subprocess import PIPE
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select

from rapport.bot.runner import run
from rapport.channels.telegram.testing import BotApiStandIn
from rapport.crm.campaigns.definitions import set_status
from rapport.crm.campaigns.runs import start_run
from rapport.crm.clock import utcnow
from rapport.crm.customers.tags import add_tags
from rapport.crm.database import Database
from rapport.crm.models import CampaignStatus, Customer, Delivery, DeliveryStatus, Identity
from rapport.crm.privacy.consent import set_marketing_consent
from rapport.crm.segments.saved import create_segment
from rapport.crm.settings import load_settings
from rapport.crm.staff.audit import Actor
from rapport.crm.staff.roles import add_staff
from rapport.migrations.schema import upgrade
from tests.support.campaign_fixtures import campaign, customer, everyone
from tests.support.email_sink import Sink
from tests.support.privacy_fixtures import two_channel_customer
from tests.support.tg_helpers import TOKEN

TIA, BEA_CHAT, MANAGER = 501, 70002, 9002
CAP = 2
"""RAPPORT_FREQUENCY_CAP_PER_WEEK on both sides: Cy has had two messages this week."""


def _shop(path: Path, api: BotApiStandIn) -> Database:
    """Ed by email; Tia only on Telegram; Bea by email, agreed on Telegram only; Cy capped."""
    db = Database(f"sqlite:///{path}")
    upgrade(db)
    everyone(db)
    customer(db, "ed@example.org", name="Ed")
    customer(db, str(TIA), channel="telegram", name="Tia")
    two_channel_customer(db, 2)  # p2@example.com, last active by email, Telegram chat 70002
    set_marketing_consent(db, "telegram", str(BEA_CHAT), granted=True, source="telegram:/start")
    cy = customer(db, "cy@example.org", name="Cy")
    add_tags(db, cy, ["regular"])
    create_segment(db, "regulars", {"field": "tag", "op": "has", "value": "regular"})
    welcome = campaign(db, "Welcome", segment="regulars", channel="email")
    for days in (2, 1):  # two messages this week, still waiting to go out
        start_run(db, welcome.id, channels=("email",), now=utcnow() - timedelta(days=days))
    set_status(db, welcome.id, CampaignStatus.PAUSED)
    campaign(db, "Spring", template="Hi {{ first_name }}, spring news from {{ business }}!")
    for chat_id, name in ((TIA, "Tia"), (BEA_CHAT, "P2"), (MANAGER, "Max")):
        api.user(chat_id, name)
    return db


def _env(path: Path, api: BotApiStandIn, sink: Sink) -> dict[str, str]:
    return {
        "RAPPORT_DATABASE_URL": f"sqlite:///{path}",
        "RAPPORT_SMTP_HOST": "127.0.0.1",
        "RAPPORT_SMTP_PORT": str(sink.port),
        "RAPPORT_SMTP_TLS": "none",
        "RAPPORT_MAIL_FROM": "shop@example.com",
        "RAPPORT_TELEGRAM_TOKEN": TOKEN,
        "RAPPORT_TELEGRAM_API_URL": api.base_url,
        "RAPPORT_FREQUENCY_CAP_PER_WEEK": str(CAP),
        "RAPPORT_BUSINESS_NAME": "Corner Shop",
        "RAPPORT_PUBLIC_URL": "https://shop.example",  # campaign mail needs an unsubscribe link
        "COLUMNS": "200",
    }


async def _run_now(path: Path, api: BotApiStandIn, sink: Sink) -> str:
    """`rapport campaigns run-now Spring` as its own process, as an operator runs it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAPPORT_")}
    env.update({k: v for k, v in _env(path, api, sink).items() if v is not None})
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "rapport.bot", "campaigns", "run-now", "Spring",
        cwd=path.parent, env=env, stdout=PIPE, stderr=PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode == 0, err.decode()
    return out.decode()


@dataclass(frozen=True)
class Reach:
    """What one run of Spring did: each customer's delivery, and what went out."""

    deliveries: list[tuple[str, str | None, str, str | None]]
    mails: list[tuple[str, str]]
    chats: list[tuple[int, str]]


def _deliveries(db: Database) -> list[tuple[str, str | None, str, str | None]]:
    """(customer, channel, status, skip reason) of Spring's deliveries."""
    with db.session() as s:
        rows = s.execute(
            select(Customer.display_name, Identity.channel, Delivery.status, Delivery.skip_reason)
            .join(Customer, Customer.id == Delivery.customer_id)
            .outerjoin(Identity, Identity.id == Delivery.identity_id)
            .where(Delivery.campaign_id == 2)
        ).all()
    return sorted((name, channel, str(status), reason) for name, channel, status, reason in rows)


def _without_token(body: str) -> str:
    """The unsubscribe token is signed with the time it was made; the rest must be equal."""
    return re.sub(r"/u/[\w.-]+", "/u/<token>", body)


def _reach(
    db: Database, sink: Sink, mails_before: int, api: BotApiStandIn, sent_before: int
) -> Reach:
    return Reach(
        deliveries=_deliveries(db),
        mails=sorted(
            (m.message["To"], _without_token(m.message.get_body(("plain",)).get_content().strip()))
            for m in sink.received[mails_before:]
        ),
        chats=sorted((m.chat_id, m.text) for m in api.sent[sent_before:] if m.chat_id != MANAGER),
    )


def _all_sent(db: Database) -> bool:
    with db.session() as s:
        statuses = s.scalars(select(Delivery.status).where(Delivery.campaign_id == 2)).all()
    return bool(statuses) and all(
        status in (DeliveryStatus.SENT, DeliveryStatus.SKIPPED) for status in statuses
    )


async def test_run_now_reaches_telegram_customers_without_false_skips(
    tmp_path: Path, api: BotApiStandIn, sink: Sink
) -> None:
    path = tmp_path / "shop.db"
    db = _shop(path, api)
    try:
        out = await _run_now(path, api, sink)

        assert "3 queued, skipped: frequency_cap 1" in out, out
        assert "sent 3," in out, out
        assert _deliveries(db) == [
            ("Cy", "email", "skipped", "frequency_cap"),
            ("Ed", "email", "sent", None),
            ("P2", "telegram", "sent", None),  # agreed on Telegram only: not `no_consent`
            ("Tia", "telegram", "sent", None),  # only on Telegram: not `unreachable`
        ]
        assert [m.text for m in api.sent_to(TIA)] == ["Hi Tia, spring news from Corner Shop!"]
        assert [m.text for m in api.sent_to(BEA_CHAT)] == ["Hi P2, spring news from Corner Shop!"]
        assert [m.message["To"] for m in sink.received] == ["ed@example.org"]
    finally:
        db.dispose()


async def test_run_now_and_campaign_run_reach_the_same_customers_the_same_way(
    tmp_path: Path, api: BotApiStandIn, sink: Sink
) -> None:
    # From the terminal.
    cli_path = tmp_path / "cli.db"
    cli_db = _shop(cli_path, api)
    mails_before, sent_before = len(sink.received), len(api.sent)
    await _run_now(cli_path, api, sink)
    from_cli = _reach(cli_db, sink, mails_before, api, sent_before)
    cli_db.dispose()

    # From Telegram, a manager asking the running app.
    bot_path = tmp_path / "bot.db"
    bot_db = _shop(bot_path, api)
    add_staff(bot_db, Actor(label="cli:test"), name="Max", role="manager", telegram_user_id=MANAGER)
    settings = load_settings(
        _env_file=None,
        **{
            k.removeprefix("RAPPORT_").lower(): v
            for k, v in _env(bot_path, api, sink).items()
            if k != "COLUMNS"
        },
        inbound_smtp_port=0,
        web_port=0,
    )
    mails_before, sent_before = len(sink.received), len(api.sent)
    stop = asyncio.Event()
    running = asyncio.create_task(run(settings, stop=stop))
    try:
        await api.send_text(MANAGER, "/campaign_run Spring")
        await api.wait_for(lambda: any("run #" in m.text for m in api.sent_to(MANAGER)))
        assert "3 to send, skipped frequency_cap 1" in api.sent_to(MANAGER)[-1].text
        await api.wait_for(lambda: _all_sent(bot_db))
        from_bot = _reach(bot_db, sink, mails_before, api, sent_before)
    finally:
        stop.set()
        await asyncio.wait_for(running, 30)
        bot_db.dispose()

    assert from_bot == from_cli
    assert [name for name, _, status, _ in from_cli.deliveries if status == "sent"] == [
        "Ed",
        "P2",
        "Tia",
    ]
    assert len(from_cli.mails) == 1 and len(from_cli.chats) == 2
