"""Campaign dispatch end to end: the outbox, the real EmailSender, a loopback aiosmtpd sink.

Run: python -m benchmarks.dispatch [--customers 20000] [--database-url URL]
         [--connections 4] [--workers 4] [--worker-connections 1] [--skip-single]

N consenting email customers are loaded (untimed), each with a name of
their own, and one announcement run greeting each by first name is
materialised for them (untimed): every mail's text differs, as in a real
campaign, so the renderer's body cache does not flatter the figure. Then,
against one aiosmtpd sink in a separate process on loopback:

1. the baseline: an aiosmtplib-only client sends the same pre-rendered mails
   (rendered untimed beforehand; the first `--baseline-count` of them, as a
   rate needs no more) over `--connections` connections, with the
   same MAIL/RCPT/DATA commands the channel uses: what the sink and the
   SMTP client cost, with no database at all;
2. one dispatcher (one worker) drains the run through `EmailSender` with
   `--connections` connections: claim, render, mark "sending", send, record
   sent + history row;
3. `--workers` worker processes drain a second run of the same size, each
   with its own dispatcher and `--worker-connections` connections (on
   PostgreSQL only: SQLite has one worker), sharing the outbox through
   `FOR UPDATE SKIP LOCKED`;
4. the baseline again; the ratios use the mean of both baselines, so a
   change in the machine's load during the run shows, and weighs less.

After each phase the sink reports how many mails it received, for how many
distinct recipients, and the most any recipient got: exactly once means
mails == recipients == N and max == 1.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
from collections import Counter
from datetime import timedelta
from typing import Any

from benchmarks.common import (
    customer_name,
    fresh_database,
    load_consenting_customers,
    machine,
    result,
)
from rapport.crm.campaigns.definitions import CampaignSpec, create_campaign
from rapport.crm.campaigns.runs import start_run
from rapport.crm.clock import utcnow
from rapport.crm.database import Database
from rapport.crm.segments.saved import create_segment

TEMPLATE = (
    "Hi {{ first_name }},\n\nThis month every loyal customer gets 10 % off everything "
    "at {{ business }}.\nShow this mail at the counter or use the code NOV10 online.\n\n"
    "See you soon!\n"
)
FROM = "shop@example.com"


def unsubscribe_url(delivery_id: int, customer_id: int) -> str:
    return f"https://shop.example.com/unsubscribe/{delivery_id}-{customer_id}-token"


def headers(delivery_id: int, customer_id: int) -> dict[str, str]:
    return {"List-Unsubscribe": f"<{unsubscribe_url(delivery_id, customer_id)}>"}


# -- the sink (child process) ----------------------------------------------------------


def serve_sink() -> None:
    """An aiosmtpd server that counts recipients; `STATS` on stdin reports and resets."""
    from aiosmtpd.smtp import SMTP, Envelope, Session

    received: Counter[str] = Counter()

    class Count:
        async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
            received.update(envelope.rcpt_tos)
            return "250 OK"

    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(
            lambda: SMTP(Count(), hostname="sink", ident="sink"), "127.0.0.1", 0
        )
        print(f"PORT {server.sockets[0].getsockname()[1]}", flush=True)
        while True:
            line = await loop.run_in_executor(None, sys.stdin.readline)
            if not line:
                return
            top = max(received.values(), default=0)
            print(f"STATS {sum(received.values())} {len(received)} {top}", flush=True)
            received.clear()

    asyncio.run(main())


class Sink:
    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.dispatch", "--sink"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None and self.proc.stdin is not None
        self.port = int(self.proc.stdout.readline().split()[1])

    def stats(self) -> tuple[int, int, int]:
        """(mails, distinct recipients, most to one recipient) since the last call."""
        assert self.proc.stdout is not None and self.proc.stdin is not None
        self.proc.stdin.write("STATS\n")
        self.proc.stdin.flush()
        _, mails, distinct, top = self.proc.stdout.readline().split()
        return int(mails), int(distinct), int(top)

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        self.proc.wait(timeout=30)


# -- the phases ------------------------------------------------------------------------


def make_run(db: Database, name: str) -> int:
    create_segment(db, f"everyone {name}", {"all": []})
    campaign = create_campaign(
        db,
        CampaignSpec(
            name=name,
            kind="announcement",
            segment=f"everyone {name}",
            template=TEMPLATE,
            subject="Your November offer – 10 % off",
            channel="email",
        ),
    )
    # Due now: the materialising clock is a little behind the dispatchers'.
    return start_run(db, campaign.id, trigger="manual", now=utcnow() - timedelta(seconds=1)).queued


def prerendered(n: int) -> list[tuple[str, bytes]]:
    """The mails the dispatcher sends, built the same way, before the clock starts."""
    from rapport.channels.email.rendering import MailRenderer
    from rapport.crm.messages import OutboundMessage

    renderer = MailRenderer(FROM, "Rapport")
    mails = []
    for i in range(1, n + 1):
        address = f"r{i}@example.com"
        message = OutboundMessage(
            text=TEMPLATE.replace("{{ first_name }}", customer_name(i).split(" ")[0]).replace(
                "{{ business }}", "Rapport"
            ),
            subject="Your November offer – 10 % off",
            headers=headers(i, i),
            unsubscribe_url=unsubscribe_url(i, i),
            marketing=True,
        )
        mails.append((address, renderer.render(address, message)[1]))
    return mails


async def baseline(port: int, mails: list[tuple[str, bytes]], connections: int) -> float:
    """aiosmtplib alone: the same bytes, the same commands, `connections` sessions."""
    import aiosmtplib

    queue = iter(mails)

    async def session() -> None:
        smtp = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False)
        await smtp.connect()
        await smtp.ehlo()
        for address, data in queue:
            reply = await smtp.execute_command(b"MAIL", b"FROM:<" + FROM.encode() + b">")
            assert reply.code == 250, reply
            reply = await smtp.execute_command(b"RCPT", b"TO:<" + address.encode() + b">")
            assert reply.code == 250, reply
            await smtp.data(data)
        await smtp.quit()

    started = time.perf_counter()
    await asyncio.gather(*(session() for _ in range(connections)))
    return len(mails) / (time.perf_counter() - started)


async def one_worker(db: Database, port: int, connections: int, batch: int) -> tuple[int, float]:
    from rapport.channels.email.outbound import EmailSender, SmtpServer
    from rapport.crm.dispatch.dispatcher import Dispatcher
    from rapport.crm.settings import SmtpSecurity

    sender = EmailSender(
        SmtpServer("127.0.0.1", port, security=SmtpSecurity.NONE),
        FROM,
        from_name="Rapport",
        connections=connections,
    )
    dispatcher = Dispatcher(
        db,
        {"email": sender},
        batch_size=batch,
        unsubscribe_url=unsubscribe_url,
        extra_headers=headers,
    )
    started = time.perf_counter()
    stats = await dispatcher.drain()
    elapsed = time.perf_counter() - started
    await sender.close()
    return stats.sent, elapsed


def worker_main(url: str, port: int, connections: int, batch: int) -> None:
    """A worker process: set up, say READY, wait for GO, drain, report its own clock."""
    import rapport.channels.email.outbound  # noqa: F401  (imported before the clock starts)

    db = Database(url)
    db.engine.connect().close()
    print("READY", flush=True)
    sys.stdin.readline()
    start = time.time()
    sent, _ = asyncio.run(one_worker(db, port, connections, batch))
    print(f"DONE {sent} {start} {time.time()}", flush=True)


def many_workers(
    url: str, port: int, workers: int, connections: int, batch: int
) -> tuple[int, float]:
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "benchmarks.dispatch",
                "--worker",
                url,
                str(port),
                str(connections),
                str(batch),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(workers)
    ]
    for p in procs:
        assert p.stdout is not None
        assert p.stdout.readline().strip() == "READY"
    for p in procs:
        assert p.stdin is not None
        p.stdin.write("GO\n")
        p.stdin.flush()
    reports: list[list[str]] = []
    for p in procs:
        out, _ = p.communicate(timeout=3600)
        reports.append(out.split())
        assert p.returncode == 0
    sent = sum(int(r[1]) for r in reports)
    elapsed = max(float(r[3]) for r in reports) - min(float(r[2]) for r in reports)
    return sent, elapsed


def load(uptime: Any = None) -> str:
    return os.popen("uptime").read().strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--worker-connections", type=int, default=1)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--skip-single", action="store_true", help="only the workers' phase")
    parser.add_argument(
        "--baseline-count", type=int, default=20_000, help="mails per baseline (a rate)"
    )
    parser.add_argument("--sink", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--worker", nargs=4, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.sink:
        serve_sink()
        return
    if args.worker:
        url, port, connections, batch = args.worker
        worker_main(url, int(port), int(connections), int(batch))
        return

    backend = "postgresql" if args.database_url else "sqlite"
    n = args.customers
    print(f"dispatch benchmark on {backend}, {machine()}, {n} customers")
    print(f"load at start: {load()}")
    sink = Sink()
    try:
        with fresh_database(args.database_url) as db:
            load_consenting_customers(db, n)
            mails = prerendered(min(n, args.baseline_count))
            asyncio.run(baseline(sink.port, mails[:2000], args.connections))  # warm the sink up
            sink.stats()
            base = [asyncio.run(baseline(sink.port, mails, args.connections))]
            print(f"baseline aiosmtplib, {args.connections} connections: {base[0]:,.0f} mail/s")
            print(f"  sink: {sink.stats()}")
            single = None
            if not args.skip_single:
                assert make_run(db, "single") == n
                sent, elapsed = asyncio.run(one_worker(db, sink.port, args.connections, args.batch))
                single = sent / elapsed
                print(
                    f"one worker, {args.connections} connections: {sent} in {elapsed:.2f} s "
                    f"= {single:,.0f} mail/s; sink {sink.stats()}"
                )
            multi = None
            if backend == "postgresql" and args.workers > 1:
                assert make_run(db, "workers") == n
                url = db.engine.url.render_as_string(hide_password=False)
                sent, elapsed = many_workers(
                    url, sink.port, args.workers, args.worker_connections, args.batch
                )
                multi = sent / elapsed
                mails_in, distinct, top = sink.stats()
                print(
                    f"{args.workers} workers x {args.worker_connections} connection(s): "
                    f"{sent} in {elapsed:.2f} s = {multi:,.0f} mail/s; sink "
                    f"{(mails_in, distinct, top)}"
                )
                result("dispatch_workers_seconds", elapsed, "s")
                result(
                    "dispatch_workers_exactly_once",
                    float(mails_in == distinct == n and top == 1),
                    "bool",
                )
            base.append(asyncio.run(baseline(sink.port, mails, args.connections)))
            print(f"baseline again: {base[1]:,.0f} mail/s; sink {sink.stats()}")
    finally:
        sink.close()
    mean = sum(base) / len(base)
    print(f"load at end: {load()}")
    result("dispatch_baseline_rate", mean, "msg/s")
    if single is not None:
        result("dispatch_one_worker_rate", single, "msg/s")
        result("dispatch_one_worker_vs_baseline", single / mean, "ratio")
    if multi is not None:
        result("dispatch_workers_rate", multi, "msg/s")
        result("dispatch_workers_vs_baseline", multi / mean, "ratio")


if __name__ == "__main__":
    main()
