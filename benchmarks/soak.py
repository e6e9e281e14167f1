"""Soak: the whole app for M minutes under steady traffic on both channels, campaigns firing.

Run: python -m benchmarks.soak [--minutes 10] [--rate 20] [--database-url URL] [--workers N]
         [--quiet-seconds S]

`rapport run` (with `--workers N` on PostgreSQL) runs as its own process,
exactly as deployed, against loopback stand-ins: the Bot API stand-in with
Telegram's limits, a lean SMTP sink for outbound mail, and Rapport's own
inbound SMTP server fed by a sender that behaves like an MTA. Customers write
in at a steady rate (half by email, half on Telegram, each message with a
unique token); a cron campaign (`* * * * *`) fires every minute to every
customer (by email or Telegram, whichever they used last).

Recorded: resident memory (RSS) of the app and its workers every few
seconds; inbound commit latency, from a message's first offer to the
commit of its interaction (`recorded_at`, same machine's clock); inbound
acknowledgement latency, to the SMTP 250 or the Telegram offset
confirmation (which for Telegram also waits for the bot's answer to be
sent); campaign delivery latency, from a run's start to each message's send.
At the end, after the traffic stops and the outbox drains: inbound messages
lost or stored twice (by token), campaign mails received twice (by
Message-ID at the sink), deliveries left unsettled. Every loop is bounded;
nothing leaves loopback.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import signal
import socket
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy import select

from benchmarks.common import fresh_database, load_consenting_customers, machine, result
from benchmarks.traffic import MailFeeder, TelegramFeeder, Traffic, percentile
from rapport.channels.email.testing import LeanSmtpSink
from rapport.channels.telegram.testing import BotApiStandIn
from rapport.crm.campaigns.definitions import CampaignSpec, create_campaign
from rapport.crm.database import Database
from rapport.crm.models import CampaignRun, Delivery, DeliveryStatus, Direction, Interaction
from rapport.crm.segments.saved import create_segment

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "123456:SOAK-token"
CHAT_BASE = 800_000
TOKEN_IN_TEXT = re.compile(r"\[(s\d+)\]")
UNSETTLED = (DeliveryStatus.QUEUED, DeliveryStatus.CLAIMED, DeliveryStatus.SENDING)
MAX_IN_FLIGHT = 500
"""Mails being offered at once; beyond it the feeder waits (and the rate shows it)."""


def rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        pass
    return 0


def children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        found += [int(p) for p in task.read_text().split()]
    return found


@dataclass
class Sample:
    at: float
    app_kb: int
    workers_kb: int
    workers: int


@dataclass
class Memory:
    samples: list[Sample] = field(default_factory=list)

    async def watch(self, pid: int, every: float, started: float) -> None:
        while True:
            kids = children(pid)
            self.samples.append(
                Sample(time.monotonic() - started, rss_kb(pid), sum(map(rss_kb, kids)), len(kids))
            )
            await asyncio.sleep(every)

    def at(self, seconds: float) -> Sample:
        """The first sample at or after `seconds` into the run (the last one if none)."""
        return next((s for s in self.samples if s.at >= seconds), self.samples[-1])


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def population(db: Database, emails: int, chats: int) -> None:
    load_consenting_customers(db, emails)
    load_consenting_customers(
        db, chats, channel="telegram", external=lambda i: str(CHAT_BASE + i), first_id=emails + 1
    )
    create_segment(db, "everyone", {"all": []})
    create_campaign(
        db,
        CampaignSpec(
            name="Every minute",
            kind="announcement",
            segment="everyone",
            schedule_cron="* * * * *",
            template="Hi {{ first_name }}, this minute's news from {{ business }}!",
        ),
    )


async def wait_for_text(log: Path, text: str, count: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not (log.exists() and log.read_text().count(text) >= count):
        if time.monotonic() > deadline:
            raise SystemExit(f"soak: app did not report {text!r}:\n{log.read_text()[-3000:]}")
        await asyncio.sleep(0.1)


async def wait_until(condition, timeout: float) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not await asyncio.to_thread(condition):
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.5)
    return True


def unsettled(db: Database) -> int:
    with db.session() as s:
        return len(s.scalars(select(Delivery.id).where(Delivery.status.in_(UNSETTLED))).all())


async def feed(
    traffic: Traffic,
    mail: MailFeeder,
    telegram: TelegramFeeder,
    *,
    seconds: float,
    rate: float,
    emails: int,
    chats: int,
) -> int:
    """Offer messages at `rate` for `seconds`, alternating channels; returns how many."""
    start = time.monotonic()
    in_flight: set[asyncio.Task[object]] = set()
    i = 0
    while time.monotonic() - start < seconds:
        due = start + i / rate
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        token = f"s{i}"
        if i % 2:
            chat = CHAT_BASE + emails + 1 + (i // 2) % chats
            await telegram.send(chat, "Is my order on its way?", token)
        else:
            while len(in_flight) >= MAX_IN_FLIGHT:
                await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
            sender = f"r{1 + (i // 2) % emails}@example.com"
            task = asyncio.create_task(mail.send(sender, "Is my order on its way?", token))
            in_flight.add(task)
            task.add_done_callback(in_flight.discard)
        i += 1
    if in_flight:
        await asyncio.wait(in_flight, timeout=120)
    return i


def inbound_tokens(db: Database) -> tuple[Counter[str], dict[str, float]]:
    """How often each token was stored, and when (wall clock) it was first recorded."""
    stored: Counter[str] = Counter()
    recorded: dict[str, float] = {}
    with db.session() as s:
        rows = s.execute(
            select(Interaction.body, Interaction.recorded_at).where(
                Interaction.direction == Direction.IN
            )
        )
        for body, at in rows:
            for token in TOKEN_IN_TEXT.findall(body or ""):
                stored[token] += 1
                recorded[token] = min(recorded.get(token, at.timestamp()), at.timestamp())
    return stored, recorded


def campaign_latencies(db: Database) -> tuple[int, list[float], Counter[str]]:
    """(runs, sorted seconds from run start to each send, deliveries by status)."""
    with db.session() as s:
        runs = s.scalars(select(CampaignRun.id)).all()
        rows = s.execute(
            select(Delivery.status, Delivery.sent_at, CampaignRun.started_at).join(
                CampaignRun, CampaignRun.id == Delivery.run_id
            )
        ).all()
    waits = sorted(
        (sent - started).total_seconds()
        for status, sent, started in rows
        if status == DeliveryStatus.SENT and isinstance(sent, datetime)
    )
    return len(runs), waits, Counter(DeliveryStatus(status).value for status, _, _ in rows)


async def soak(args: argparse.Namespace) -> None:
    seconds = args.minutes * 60
    with (
        fresh_database(args.database_url, prefix="rapport_scale_soak_") as db,
        tempfile.TemporaryDirectory(prefix="rapport_soak_") as tmp,
    ):
        if args.workers and db.dialect != "postgresql":
            raise SystemExit("soak: --workers needs --database-url postgresql://…")
        population(db, args.email_customers, args.telegram_customers)
        log = Path(tmp) / "rapport.log"
        async with (
            BotApiStandIn(TOKEN) as api,
            LeanSmtpSink() as sink,
        ):
            for n in range(
                args.email_customers + 1, args.email_customers + args.telegram_customers + 1
            ):
                api.user(CHAT_BASE + n, f"Customer {n}")
            inbound_port = free_port()
            env = {
                **{k: v for k, v in os.environ.items() if not k.startswith("RAPPORT_")},
                "PYTHONPATH": str(ROOT),
                "RAPPORT_DATABASE_URL": db.url,
                "RAPPORT_TELEGRAM_TOKEN": TOKEN,
                "RAPPORT_TELEGRAM_API_URL": api.base_url,
                # Under `rapport run --workers N` only the app sends on Telegram (its
                # workers run --no-telegram): it takes the whole overall rate.
                "RAPPORT_TELEGRAM_OVERALL_RATE": "29.5",
                "RAPPORT_SMTP_HOST": "127.0.0.1",
                "RAPPORT_SMTP_PORT": str(sink.port),
                "RAPPORT_SMTP_TLS": "none",
                "RAPPORT_MAIL_FROM": "shop@example.com",
                "RAPPORT_INBOUND_SMTP_PORT": str(inbound_port),
                "RAPPORT_WEB_PORT": "0",
                "RAPPORT_PUBLIC_URL": "https://crm.example.test",  # links name a proxy's
                "RAPPORT_FREQUENCY_CAP_PER_WEEK": "100",
                "RAPPORT_LOG_LEVEL": "INFO",
                **(
                    {"RAPPORT_DISPATCH_QUIET_SECONDS": str(args.quiet_seconds)}
                    if args.quiet_seconds is not None
                    else {}
                ),
            }
            command = [sys.executable, "-m", "rapport.bot", "run"]
            if args.workers:
                command += ["--workers", str(args.workers)]
            with log.open("wb") as out:
                app = await asyncio.create_subprocess_exec(
                    *command, cwd=tmp, env=env, stdout=out, stderr=out
                )
            try:
                await wait_for_text(log, "Rapport is running", 1, 120)
                if args.workers:
                    await wait_for_text(log, "worker is running", args.workers, 120)
                layout = f"app pid {app.pid}, {args.workers} worker(s)"
                print(f"soak on {db.dialect}, {machine()}: {layout}")
                started = time.monotonic()
                memory = Memory()
                traffic = Traffic()
                telegram = TelegramFeeder(traffic, api)
                tasks = [
                    asyncio.create_task(memory.watch(app.pid, args.sample, started)),
                    asyncio.create_task(telegram.watch()),
                ]
                offered = await feed(
                    traffic,
                    MailFeeder(traffic, "127.0.0.1", inbound_port),
                    telegram,
                    seconds=seconds,
                    rate=args.rate,
                    emails=args.email_customers,
                    chats=args.telegram_customers,
                )
                fed_for = time.monotonic() - started
                end_sample = memory.samples[-1]
                await api.wait_for(lambda: not api.pending, timeout=120)
                telegram.note_confirmations()
                drained = await wait_until(lambda: unsettled(db) == 0, 300)
                for task in tasks:
                    task.cancel()
            finally:
                if app.returncode is None:
                    app.send_signal(signal.SIGINT)
                try:
                    code = await asyncio.wait_for(app.wait(), 120)
                except TimeoutError:
                    app.kill()
                    code = await app.wait()
        app_log = log.read_text()
        stored, recorded = inbound_tokens(db)
        runs, waits, statuses = campaign_latencies(db)
        email_keys = Counter(m.message_id for m in sink.record.mails)

    tokens = set(traffic.messages)
    lost = len(tokens - set(stored)) + len(traffic.unacked())
    doubled = sum(1 for n in stored.values() if n > 1)
    latencies = traffic.latencies()
    commit = {
        channel: sorted(
            recorded[m.token] - m.offered_wall
            for m in traffic.messages.values()
            if m.token in recorded and m.channel == channel
        )
        for channel in ("email", "telegram")
    }
    both = sorted(commit["email"] + commit["telegram"])
    first = memory.at(min(30.0, fed_for))
    warm = memory.at(min(120.0, fed_for))
    mb = 1 / 1024
    print(f"fed {offered} messages in {fed_for:.0f} s; app exit code {code}; drained {drained}")
    print(f"deliveries by status: {dict(statuses)}; runs {runs}")
    print("memory samples (s, app MB, workers MB):")
    for sample in memory.samples[:: max(1, len(memory.samples) // 20)]:
        print(f"  {sample.at:6.0f} {sample.app_kb * mb:7.1f} {sample.workers_kb * mb:7.1f}")
    result("soak_minutes", fed_for / 60, "min")
    result("inbound_offered", offered, "count")
    result("inbound_rate", offered / fed_for, "msg/s")
    result("inbound_commit_latency_p50", percentile(both, 50) * 1000, "ms")
    result("inbound_commit_latency_p99", percentile(both, 99) * 1000, "ms")
    result("inbound_ack_latency_p50", percentile(latencies, 50) * 1000, "ms")
    result("inbound_ack_latency_p99", percentile(latencies, 99) * 1000, "ms")
    for channel in ("email", "telegram"):
        result(f"{channel}_commit_latency_p50", percentile(commit[channel], 50) * 1000, "ms")
        result(f"{channel}_commit_latency_p99", percentile(commit[channel], 99) * 1000, "ms")
        result(
            f"{channel}_ack_latency_p99", percentile(traffic.latencies(channel), 99) * 1000, "ms"
        )
    result("messages_lost", lost, "count")
    result("messages_doubled", doubled, "count")
    result("campaign_runs", runs, "count")
    result("campaign_sent", len(waits), "count")
    result("campaign_latency_p50", percentile(waits, 50), "s")
    result("campaign_latency_p99", percentile(waits, 99), "s")
    result("campaign_mails_doubled", sum(1 for n in email_keys.values() if n > 1), "count")
    result("deliveries_unsettled", sum(statuses[s.value] for s in UNSETTLED), "count")
    print("Telegram 429s (limit, refused send, last accepted send to that chat, gap):")
    for rejection in api.rejections:
        gap = rejection.since_previous
        print(
            f"  {rejection.limit:7} {kind(rejection.text):8} after "
            f"{kind(rejection.previous_text):8} {'-' if gap is None else f'{gap:.2f} s'}"
        )
    result("telegram_429s", api.too_many_requests, "count")
    result("telegram_polls_per_s", api.calls.get("getupdates", 0) / fed_for, "req/s")
    result("rss_start", first.app_kb * mb, "MB")
    result("rss_end", end_sample.app_kb * mb, "MB")
    result("rss_growth", (end_sample.app_kb - first.app_kb) * mb, "MB")
    result("rss_growth_after_warmup", (end_sample.app_kb - warm.app_kb) * mb, "MB")
    result("rss_workers_end", end_sample.workers_kb * mb, "MB")
    result("app_error_lines", app_log.count(" ERROR "), "count")
    result(
        "log_lines_with_addresses",
        sum("@example.com" in line for line in app_log.splitlines()),
        "count",
    )
    result("app_exit_code", code, "code")


def kind(text: str | None) -> str:
    """A Telegram send as the soak sees it: the campaign's message, or the bot's reply."""
    if text is None:
        return "nothing"
    return "campaign" if "this minute's news" in text else "reply"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument(
        "--rate", type=float, default=20.0, help="inbound messages/s, both channels"
    )
    parser.add_argument("--database-url", default=None, help="PostgreSQL server (default SQLite)")
    parser.add_argument("--workers", type=int, default=0, help="`rapport run --workers N`")
    parser.add_argument("--email-customers", type=int, default=1200)
    parser.add_argument("--telegram-customers", type=int, default=300)
    parser.add_argument("--sample", type=float, default=5.0, help="seconds between RSS samples")
    parser.add_argument(
        "--quiet-seconds",
        type=float,
        default=None,
        help="RAPPORT_DISPATCH_QUIET_SECONDS for the app (default: the app's default)",
    )
    asyncio.run(soak(parser.parse_args()))


if __name__ == "__main__":
    main()
