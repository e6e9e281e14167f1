"""A campaign to N Telegram chats through the rate-enforcing Bot API stand-in.

The stand-in enforces Telegram's limits (30 messages/s overall, 1/s per chat)
with 429 + retry_after; the bot is PTB's `ExtBot` with Rapport's
`PacedRateLimiter` behind `TelegramChannel`, driven by a pool of workers the
way a campaign dispatcher would (a `TransientFailure` is retried after its
`retry_after`). Prints the achieved rate against the limit (the baseline:
the most Telegram allows in the same wall time), the 429s received and the
messages lost or doubled.

    python benchmarks/telegram_send.py [--count 3000] [--workers 100]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from telegram.ext import ExtBot

from rapport.channels.telegram.outbound import TelegramChannel
from rapport.channels.telegram.ratelimit import PacedRateLimiter
from rapport.channels.telegram.testing import BotApiStandIn
from rapport.crm.channel import TransientFailure
from rapport.crm.messages import OutboundMessage
from rapport.crm.settings import Settings

TOKEN = "123456:BENCH-token"
FIRST_CHAT = 10_000_000


async def campaign(count: int, workers: int, limit: float, burst: float) -> dict[str, float]:
    defaults = Settings()
    async with BotApiStandIn(
        TOKEN, overall_rate=limit, overall_burst=burst, chat_rate=1.0, chat_burst=1.0
    ) as api:
        chats = [FIRST_CHAT + n for n in range(count)]
        for chat in chats:
            api.user(chat)
        limiter = PacedRateLimiter(defaults.telegram_overall_rate, defaults.telegram_chat_rate)
        bot = ExtBot(TOKEN, base_url=api.base_url, rate_limiter=limiter)
        await bot.initialize()
        channel = TelegramChannel(bot)
        queue: asyncio.Queue[int] = asyncio.Queue()
        for chat in chats:
            queue.put_nowait(chat)
        failures = 0
        message = OutboundMessage(
            "Our autumn sale starts today: 20% off everything until Sunday.",
            choices=tuple((str(n), f"csat:{n}") for n in range(1, 6)),
        )

        async def worker() -> None:
            nonlocal failures
            while True:
                try:
                    chat = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                while True:
                    try:
                        await channel.send(str(chat), message)
                        break
                    except TransientFailure as exc:
                        failures += 1
                        await asyncio.sleep(exc.retry_after or 1.0)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(workers)))
        elapsed = time.perf_counter() - started
        await bot.shutdown()
        per_chat = {chat: 0 for chat in chats}
        for sent in api.sent:
            per_chat[sent.chat_id] += 1
        return {
            "elapsed": elapsed,
            "rate": count / elapsed,
            "too_many": api.too_many_requests,
            "lost": sum(1 for n in per_chat.values() if n == 0),
            "doubled": sum(1 for n in per_chat.values() if n > 1),
            "transient": failures,
            "client_rate": defaults.telegram_overall_rate,
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=3000, help="chats to send to")
    parser.add_argument("--workers", type=int, default=100, help="concurrent senders")
    parser.add_argument("--limit", type=float, default=30.0, help="stand-in's overall limit/s")
    parser.add_argument("--burst", type=float, default=5.0, help="stand-in's overall burst")
    args = parser.parse_args()
    result = asyncio.run(campaign(args.count, args.workers, args.limit, args.burst))
    ratio = result["rate"] / args.limit
    print(f"sent {args.count} messages to {args.count} chats in {result['elapsed']:.1f} s")
    print(f"achieved {result['rate']:.2f} msg/s against Telegram's {args.limit:.0f}/s limit")
    print(f"  = {ratio:.1%} of the limit (client paced at {result['client_rate']:.1f}/s)")
    print(f"429s received: {result['too_many']:.0f}", end="; ")
    print(f"sends the dispatcher had to retry: {result['transient']:.0f}")
    print(f"lost: {result['lost']:.0f}, doubled: {result['doubled']:.0f}")
    print(f"RESULT telegram_send_rate {result['rate']:.2f} msg/s")
    print(f"RESULT telegram_vs_limit {ratio:.3f} ratio")
    print(f"RESULT telegram_429s {result['too_many']:.0f} count")
    print(f"RESULT telegram_lost {result['lost']:.0f} count")


if __name__ == "__main__":
    main()
