"""Outbound Telegram: surveys with buttons, splitting, escaping, limits and failures."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
from hypothesis import given
from hypothesis import strategies as st
from telegram.ext import ExtBot

from rapport.channels.pacing import Pacer
from rapport.channels.telegram.outbound import TelegramChannel, html_escape, keyboard, split_text
from rapport.channels.telegram.ratelimit import BULK, PacedRateLimiter
from rapport.channels.telegram.service import TelegramService
from rapport.channels.telegram.testing import BotApiStandIn
from rapport.crm.campaigns.surveys import survey_choices
from rapport.crm.channel import Channel, PermanentFailure, RecipientGone, TransientFailure
from rapport.crm.database import Database
from rapport.crm.messages import OutboundMessage
from rapport.crm.models import Interaction
from tests.support.tg_helpers import TOKEN, count

BEN = 2002
CSAT = tuple((str(n), f"csat:{n}") for n in range(1, 6))
NPS = tuple((str(n), f"nps:{n}") for n in range(11))


async def test_buttons_go_out_and_a_tap_under_no_survey_of_ours_is_refused(
    api: BotApiStandIn, service: TelegramService, db: Database
) -> None:
    api.user(BEN, "Ben")
    assert isinstance(service.channel, Channel)
    receipt = await service.channel.send(
        str(BEN), OutboundMessage("How did we do today?", choices=CSAT)
    )
    question = api.sent_to(BEN)[0]
    assert receipt.channel == "telegram"
    assert receipt.message_key == f"msg:{BEN}:{question.message_id}"
    assert question.buttons == [list(CSAT)]  # one row of five

    # Sent by the channel alone, it is no survey delivery Rapport knows: taps are refused
    # (tests/channels/telegram/test_telegram_campaign.py taps a real one).
    tap = await api.tap(question, "csat:4")
    await api.wait_for(lambda: tap in api.callback_answers)
    assert api.callback_answers[tap] == "Sorry, this button no longer works."
    assert count(db, Interaction) == 0


async def test_nps_scale_is_two_rows(api: BotApiStandIn, service: TelegramService) -> None:
    api.user(BEN, "Ben")
    await service.channel.send(str(BEN), OutboundMessage("Would you recommend us?", choices=NPS))
    rows = api.sent_to(BEN)[0].buttons
    assert [len(r) for r in rows] == [6, 5]
    assert [b for row in rows for b in row] == list(NPS)


async def test_long_text_is_split_not_cut(api: BotApiStandIn, service: TelegramService) -> None:
    api.user(BEN, "Ben")
    paragraphs = [f"Paragraph {n}: " + "word " * 300 for n in range(5)]  # ~1.5k chars each
    text = "\n\n".join(paragraphs)
    receipt = await service.channel.send(str(BEN), OutboundMessage(text, choices=CSAT))
    parts = api.sent_to(BEN)
    assert len(parts) > 1
    assert all(len(p.text) <= 4096 for p in parts)
    assert receipt.message_key == f"msg:{BEN}:{parts[0].message_id}"
    assert [p.buttons for p in parts[:-1]] == [[]] * (len(parts) - 1)  # buttons on the last
    assert parts[-1].buttons == [list(CSAT)]
    assert " ".join(" ".join(p.text.split()) for p in parts) == " ".join(text.split())


async def test_text_goes_out_verbatim_and_html_is_escaped(
    api: BotApiStandIn, service: TelegramService
) -> None:
    api.user(BEN, "Ben")
    hostile = "Tom & Jerry <b>unclosed *_[`"
    await service.channel.send(str(BEN), OutboundMessage(hostile))
    assert (api.sent_to(BEN)[0].text, api.sent_to(BEN)[0].parse_mode) == (hostile, None)

    await service.channel.send(
        str(BEN), OutboundMessage(hostile, html=f"Hello <b>{html_escape(hostile)}</b>")
    )
    sent = api.sent_to(BEN)[1]
    assert sent.parse_mode == "HTML"
    assert sent.text == "Hello <b>Tom &amp; Jerry &lt;b&gt;unclosed *_[`</b>"

    with pytest.raises(PermanentFailure, match=r"(?i)can't parse entities"):
        await service.channel.send(str(BEN), OutboundMessage(hostile, html=f"<b>{hostile}</b>"))


async def test_failures_map_to_the_core_errors(
    api: BotApiStandIn, service: TelegramService
) -> None:
    api.user(BEN, "Ben")
    api.block(BEN)
    with pytest.raises(RecipientGone, match="blocked"):
        await service.channel.send(str(BEN), OutboundMessage("hi"))
    with pytest.raises(PermanentFailure, match=r"(?i)chat not found"):
        await service.channel.send("999", OutboundMessage("hi"))
    with pytest.raises(PermanentFailure, match="chat id"):
        await service.channel.send("not-a-chat", OutboundMessage("hi"))
    api.user(3003)
    api.fail_next("sendMessage", 502)
    with pytest.raises(TransientFailure) as transient:
        await service.channel.send("3003", OutboundMessage("hi"))
    assert transient.value.retry_after is None
    await service.channel.send("3003", OutboundMessage("hi"))  # the next try goes through
    assert len(api.sent_to(3003)) == 1


@pytest.fixture
async def strict_api() -> AsyncIterator[BotApiStandIn]:
    """Telegram's per-chat limit (1/s, no burst) and a tight global one (50/s, burst 5)."""
    async with BotApiStandIn(
        TOKEN, overall_rate=50, overall_burst=5, chat_rate=1, chat_burst=1
    ) as stand_in:
        yield stand_in


async def _channel(api: BotApiStandIn, limiter: PacedRateLimiter) -> TelegramChannel:
    bot = ExtBot(TOKEN, base_url=api.base_url, rate_limiter=limiter)
    await bot.initialize()
    return TelegramChannel(bot)


async def test_a_429_is_obeyed_and_retried(strict_api: BotApiStandIn) -> None:
    strict_api.user(BEN)
    channel = await _channel(strict_api, PacedRateLimiter(overall_rate=1000, chat_rate=1000))
    started = time.monotonic()
    await channel.send(str(BEN), OutboundMessage("one"))
    await channel.send(str(BEN), OutboundMessage("two"))  # too soon: 429, retry_after 1
    assert time.monotonic() - started >= 0.9
    assert strict_api.too_many_requests == 1
    assert [m.text for m in strict_api.sent_to(BEN)] == ["one", "two"]
    await channel.bot.shutdown()


async def test_without_retries_a_429_is_a_transient_failure(strict_api: BotApiStandIn) -> None:
    strict_api.user(BEN)
    limiter = PacedRateLimiter(overall_rate=1000, chat_rate=1000, max_retries=0)
    channel = await _channel(strict_api, limiter)
    await channel.send(str(BEN), OutboundMessage("one"))
    with pytest.raises(TransientFailure) as failure:
        await channel.send(str(BEN), OutboundMessage("two"))
    assert failure.value.retry_after == 1
    await channel.bot.shutdown()


async def test_pacing_keeps_under_the_limits_where_unpaced_sending_is_refused(
    strict_api: BotApiStandIn,
) -> None:
    chats = list(range(5000, 5020))
    for chat in chats:
        strict_api.user(chat)
    unpaced = await _channel(strict_api, PacedRateLimiter(1000, 1000, max_retries=0))
    outcomes = await asyncio.gather(*(_try(unpaced, chat) for chat in chats))
    assert strict_api.too_many_requests > 0 and "429" in outcomes  # the stand-in enforces

    strict_api.too_many_requests = 0
    await _sleep_for_buckets()
    paced = await _channel(strict_api, PacedRateLimiter(overall_rate=40, chat_rate=0.9))
    started = time.monotonic()
    sends = [paced.send(str(chat), OutboundMessage("hello")) for chat in chats]
    sends.append(paced.send(str(chats[0]), OutboundMessage("again")))  # waits its second
    await asyncio.gather(*sends)
    assert strict_api.too_many_requests == 0
    assert time.monotonic() - started >= 1 / 0.9 - 0.05
    assert [m.text for m in strict_api.sent_to(chats[0])][-2:] == ["hello", "again"]
    await unpaced.bot.shutdown()
    await paced.bot.shutdown()


async def _try(channel: TelegramChannel, chat: int) -> str:
    try:
        await channel.send(str(chat), OutboundMessage("hi"))
    except TransientFailure:
        return "429"
    return "ok"


async def _sleep_for_buckets() -> None:
    await asyncio.sleep(1.1)  # let the stand-in's per-chat buckets refill


@given(
    st.lists(
        st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=0, max_size=40)
        | st.sampled_from(["\n", "\n\n", " ", "x" * 70]),
        max_size=80,
    )
)
def test_split_text_parts_fit_and_keep_every_word(pieces: list[str]) -> None:
    text = " ".join(pieces)
    parts = split_text(text, limit=64)
    assert all(len(p) <= 64 for p in parts)
    assert "".join("".join(p.split()) for p in parts) == "".join(text.split())


def test_split_text_prefers_paragraphs_then_lines_then_words() -> None:
    text = "a" * 30 + "\n\n" + "b" * 30 + "\n" + "c" * 10 + " " + "d" * 10
    assert split_text(text, limit=50) == ["a" * 30, "b" * 30, "c" * 10 + " " + "d" * 10]
    assert split_text("short", limit=50) == ["short"]
    assert split_text("x" * 120, limit=50) == ["x" * 50, "x" * 50, "x" * 20]


async def test_campaign_sends_leave_a_slot_for_the_next_reply() -> None:
    pacer = Pacer(rate=50)  # a slot every 20 ms
    order: list[str] = []

    async def take(name: str, urgent: bool) -> None:
        await pacer.wait(urgent)
        order.append(name)

    await take("reply 1", True)
    campaign = asyncio.create_task(take("campaign", False))
    await asyncio.sleep(0)  # the campaign message has its slot and waits for it
    await take("reply 2", True)  # the next reply comes while it waits
    await campaign
    assert order == ["reply 1", "reply 2", "campaign"]


async def test_campaign_sends_let_waiting_replies_go_first() -> None:
    pacer = Pacer(rate=50)
    order: list[str] = []

    async def take(name: str, urgent: bool) -> None:
        await pacer.wait(urgent)
        order.append(name)

    holder = asyncio.create_task(take("reply 1", True))
    await asyncio.sleep(0)
    queued = [asyncio.create_task(take("reply 2", True))]
    queued.append(asyncio.create_task(take("campaign", False)))
    queued.append(asyncio.create_task(take("reply 3", True)))
    await asyncio.gather(holder, *queued)
    assert order == ["reply 1", "reply 2", "reply 3", "campaign"]


async def test_a_chat_is_paced_from_when_its_campaign_message_really_went() -> None:
    """A campaign message waits for an overall slot after its chat slot (replies go
    first); a reply to the same chat must still come a whole chat interval after it."""
    limiter = PacedRateLimiter(overall_rate=20, chat_rate=5)  # 50 ms overall, 200 ms per chat
    went: dict[str, float] = {}

    async def send(name: str, chat: int, urgent: bool) -> None:
        async def callback() -> dict[str, object]:
            went[name] = time.monotonic()
            return {}

        await limiter.process_request(
            callback, (), {}, "sendMessage", {"chat_id": chat}, None if urgent else BULK
        )

    busy = [asyncio.create_task(send(f"reply {n}", 100 + n, True)) for n in range(5)]
    await asyncio.sleep(0)
    campaign = asyncio.create_task(send("campaign", 1, False))  # its chat slot: now
    await asyncio.sleep(0.01)
    await send("reply", 1, True)  # the customer wrote meanwhile
    await asyncio.gather(campaign, *busy)
    assert went["campaign"] > went["reply 4"]  # it gave way to the replies waiting
    assert went["reply"] - went["campaign"] >= 1 / 5 - 0.01


def test_labelled_scales_get_rows_that_fit_their_words() -> None:
    """CSAT: a row per labelled answer; NPS: the labelled ends alone, 1-9 in two rows."""
    csat = keyboard(survey_choices("csat"))
    assert csat is not None
    assert [[b.text for b in row] for row in csat.inline_keyboard] == [
        ["1 = very dissatisfied"], ["2 = dissatisfied"], ["3 = neutral"], ["4 = satisfied"],
        ["5 = very satisfied"],
    ]  # fmt: skip
    nps = keyboard(survey_choices("nps"))
    assert nps is not None
    assert [[b.text for b in row] for row in nps.inline_keyboard] == [
        ["0 = not at all likely"], ["1", "2", "3", "4", "5"], ["6", "7", "8", "9"],
        ["10 = extremely likely"],
    ]  # fmt: skip
    assert [b.callback_data for row in nps.inline_keyboard for b in row] == [
        str(n) for n in range(11)
    ]
