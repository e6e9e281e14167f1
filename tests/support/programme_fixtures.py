"""A small, hand-countable programme: two survey campaigns and a few customers.

Times are anchored to midnight UTC three days ago, so "the last 30 days" of
the bot's reports always covers them and each campaign answers on its own
day. The figures each test expects are written out where they are checked.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from rapport.crm.campaigns.runs import start_run
from rapport.crm.channel import PermanentFailure
from rapport.crm.clock import utcnow
from rapport.crm.database import Database
from rapport.crm.dispatch.dispatcher import Dispatcher
from rapport.crm.interactions.ingest import ingest
from rapport.crm.messages import InboundMessage
from tests.support.campaign_fixtures import campaign, customer, everyone
from tests.support.recording import RecordingChannel


@dataclass(frozen=True, slots=True)
class Programme:
    base: datetime
    csat_id: int
    nps_id: int
    customers: dict[str, int]


async def _run(
    db: Database, channel: RecordingChannel, campaign_id: int, fail: set[str]
) -> dict[str, str]:
    """Run and send one campaign at the channel's clock; each customer's message key."""
    at = channel.clock()
    start_run(db, campaign_id, now=at)
    already = len(channel.sent)
    for address in fail:
        channel.fail(address, PermanentFailure("554 no such user"))
    await Dispatcher(db, {"email": channel}).drain()
    return {to: key for to, _, key in channel.sent[already:]}


def _reply(db: Database, address: str, text: str, at: datetime, key: str | None) -> None:
    ingest(
        db,
        InboundMessage(
            "email",
            address,
            None,
            text,
            at,
            f"<{address}-{int(at.timestamp())}@x>",
            in_reply_to=key,
        ),
    )


async def seed_programme(db: Database) -> Programme:
    """CSAT campaign on day D (a 5, b 2, c silent but writes later, d bounces, e no consent);
    NPS campaign on day D+1 (a 10, b 3; c and d silent; e no consent)."""
    base = utcnow().replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=3)
    everyone(db)
    ids = {
        name: customer(db, f"{name}@example.com", consent=name != "e", at=base) for name in "abcde"
    }
    csat = campaign(
        db, "Autumn CSAT", kind="feedback", survey_kind="csat", template="How did we do?", cost=30.0
    )
    nps = campaign(db, "Winter NPS", kind="feedback", survey_kind="nps", template="Recommend us?")
    day1 = base + timedelta(hours=9)
    now = [day1]
    channel = RecordingChannel(clock=lambda: now[0])
    keys = await _run(db, channel, csat.id, fail={"d@example.com"})
    _reply(db, "a@example.com", "5", day1 + timedelta(hours=3), keys["a@example.com"])
    _reply(db, "b@example.com", "2", day1 + timedelta(hours=3), keys["b@example.com"])
    _reply(db, "c@example.com", "where is my parcel?", day1 + timedelta(hours=6), None)
    day2 = now[0] = day1 + timedelta(days=1)
    keys = await _run(db, channel, nps.id, fail=set())
    _reply(db, "a@example.com", "10", day2 + timedelta(hours=3), keys["a@example.com"])
    _reply(db, "b@example.com", "3", day2 + timedelta(hours=3), keys["b@example.com"])
    return Programme(base=base, csat_id=csat.id, nps_id=nps.id, customers=ids)
