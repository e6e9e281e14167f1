"""A campaign through a Bot API that answers 429, 502 and 403 at set rates.

The channels are the ones `rapport worker` uses (the outbound registry's
Telegram channel: PTB with Rapport's rate limiter, sending as campaigns do)
against the stand-in over HTTP. A 429 is obeyed inside the rate limiter
(wait `retry_after`, try again), a 502 goes back to the outbox and is
retried, a 403 (the customer blocked the bot) is final and marks the chat
unreachable. Nobody gets the message twice.
"""

from __future__ import annotations

from collections import Counter

from sqlalchemy import select

from benchmarks.common import load_consenting_customers
from rapport.channels.registry import OutboundChannels
from rapport.channels.telegram.testing import BotApiStandIn
from rapport.crm.database import Database
from rapport.crm.dispatch.dispatcher import Dispatcher
from rapport.crm.models import Delivery, DeliveryStatus, Identity
from tests.support.scale_fixtures import dispatch_until_settled, materialised_run
from tests.support.tg_helpers import bot_settings

CHATS = 20
BASE = 70_000


def chat(i: int) -> int:
    return BASE + i


def script(i: int) -> tuple[int, ...]:
    """The answers the stand-in gives to the first sends to chat `i`."""
    return {1: (429,), 2: (502,), 3: (502, 502), 4: (403,), 5: (502, 403)}.get(i % 10, ())


async def test_rate_limits_and_outages_retried_blocked_chats_recorded(
    api: BotApiStandIn, db: Database
) -> None:
    load_consenting_customers(db, CHATS, channel="telegram", external=lambda i: str(chat(i)))
    for i in range(1, CHATS + 1):
        api.user(chat(i), f"Customer {i}")
        api.fail_chat(chat(i), *script(i))
    assert materialised_run(db, channel="telegram") == CHATS
    async with OutboundChannels.from_settings(bot_settings(api)) as outbound:
        dispatcher = Dispatcher(db, outbound.for_campaigns(), batch_size=8, base_backoff=0.01)
        await dispatch_until_settled(dispatcher, db)

    blocked = {chat(i) for i in range(1, CHATS + 1) if i % 10 in (4, 5)}
    received = Counter(m.chat_id for m in api.sent)
    assert set(received) == {chat(i) for i in range(1, CHATS + 1)} - blocked
    assert set(received.values()) == {1}, "a chat got the campaign twice"
    assert api.too_many_requests == sum(1 for i in range(1, CHATS + 1) if i % 10 == 1)
    assert not any(api.chat_failures.values()), "every scripted failure was met"

    with db.session() as s:
        rows = s.execute(
            select(Identity.external_id, Delivery.status, Delivery.attempts).join(
                Identity, Identity.id == Delivery.identity_id
            )
        ).all()
        unreachable = set(
            s.scalars(select(Identity.external_id).where(Identity.unreachable_at.is_not(None)))
        )
    attempts = {int(r.external_id): r.attempts for r in rows}
    status = {int(r.external_id): r.status for r in rows}
    for i in range(1, CHATS + 1):
        want = DeliveryStatus.FAILED if chat(i) in blocked else DeliveryStatus.SENT
        assert status[chat(i)] == want, i
        # 429s are absorbed by the rate limiter; 502s come back through the outbox
        assert attempts[chat(i)] == 1 + script(i).count(502), i
    assert unreachable == {str(c) for c in blocked}
