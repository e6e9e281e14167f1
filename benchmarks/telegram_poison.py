"""How long a customer waits behind poisoned Telegram updates (issue 19, problem 1).

Run: python -m benchmarks.telegram_poison [--poison 20] [--rounds 5] [--database-url URL]

The real PTB application (customer dialogs and staff commands) polls the Bot
API stand-in. Each round queues `poison` updates the library cannot parse and
`poison` messages whose handler raises, then a good chat's `/help`, and times
until the good chat is answered. The baseline is the same `/help` with nothing
queued before it, in the same run. Before supervision and dead letters the
poisoned round never ended (the polling task died on the first bad update).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from datetime import timedelta

from telegram import Update
from telegram.ext import TypeHandler

from benchmarks.common import fresh_database, machine, result
from rapport.bot.app import customer_bot
from rapport.bot.context import BotShared, RapportContext
from rapport.channels.registry import OutboundChannels
from rapport.channels.supervision import Supervisor
from rapport.channels.telegram.testing import BotApiStandIn
from rapport.crm.database import Database
from rapport.crm.settings import load_settings

TOKEN = "123456:TEST-token"
BAD_CHATS = range(100_000, 200_000)


async def _raise(update: Update, context: RapportContext) -> None:
    chat = update.effective_chat
    if chat is not None and chat.id in BAD_CHATS:
        raise RuntimeError("a bug in a handler")


async def _answered(api: BotApiStandIn, chat: int) -> float:
    before = len(api.sent_to(chat))
    started = time.perf_counter()
    await api.send_text(chat, "/help")
    await api.wait_for(lambda: len(api.sent_to(chat)) > before, timeout=120)
    return time.perf_counter() - started


async def measure(db: Database, poison: int, rounds: int) -> tuple[float, float]:
    async with BotApiStandIn(
        TOKEN, overall_rate=1000, overall_burst=1000, chat_rate=1000, chat_burst=1000
    ) as api:
        settings = load_settings(
            _env_file=None, telegram_token=TOKEN, telegram_api_url=api.base_url,
            telegram_overall_rate=30, telegram_chat_rate=30,
        )  # fmt: skip
        outbound = OutboundChannels.from_settings(settings)
        service = customer_bot(
            settings, db, BotShared(outbound), supervisor=Supervisor(db, first_delay=0.05),
            poll_timeout=1, retry_delay=0.05, first_retry=timedelta(seconds=30),
        )  # fmt: skip
        service.application.add_handler(TypeHandler(Update, _raise), group=-10)
        await service.start()
        try:
            clean, poisoned = [], []
            next_bad = iter(BAD_CHATS)
            for r in range(rounds):
                good = 1000 + r
                api.user(good, "Good")
                clean.append(await _answered(api, good))
                for _ in range(poison):
                    await api.push_raw({"callback_query": {"id": "1", "data": "5"}})
                    bad = next(next_bad)
                    api.user(bad, "Bad")
                    await api.send_text(bad, "hello")
                poisoned.append(await _answered(api, good))
        finally:
            await service.stop()
            await outbound.close()
    return statistics.median(clean), statistics.median(poisoned)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--poison", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    print(f"machine: {machine()}")
    with fresh_database(args.database_url) as db:
        clean, poisoned = asyncio.run(measure(db, args.poison, args.rounds))
    print(f"{args.poison} unparseable + {args.poison} raising updates ahead, {args.rounds} rounds")
    result("telegram_answer_clean_p50", clean * 1000, "ms")
    result("telegram_answer_behind_poison_p50", poisoned * 1000, "ms")
    result("telegram_poison_ratio", poisoned / clean, "x")


if __name__ == "__main__":
    main()
