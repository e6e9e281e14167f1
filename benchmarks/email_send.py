"""How fast the email channel sends a campaign, against a loopback SMTP sink.

Sends N campaign mails (default 20,000: same body, per-recipient To,
Message-ID and List-Unsubscribe URL) through `EmailSender` to an aiosmtpd
sink running in a separate process, then sends the same number of
pre-rendered mails to the same sink with the standard library's smtplib on
one connection: that baseline is what the sink itself can receive here, so
the ratio says how much of the sink's capacity the channel uses.

    python benchmarks/email_send.py [--count N] [--connections C]

Ends with `RESULT` lines (DESIGN.md, "Names we agreed").
"""

from __future__ import annotations

import argparse
import asyncio
import smtplib
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rapport.channels.email.outbound import EmailSender, SmtpServer
from rapport.crm.messages import OutboundMessage
from rapport.crm.settings import SmtpSecurity

TEXT = (
    "Hello,\n\nThis month every loyal customer gets 10 % off everything in the shop.\n"
    "Show this mail at the counter or use the code NOV10 online.\n\nSee you soon!\n"
) * 3
HTML = "<html><body>" + "".join(f"<p>{line}</p>" for line in TEXT.splitlines() if line) + "</body>"


def campaign_message(n: int) -> OutboundMessage:
    return OutboundMessage(
        text=TEXT,
        subject="Your November offer – 10 % off",
        html=HTML,
        headers={"List-Unsubscribe": f"https://shop.example.com/unsubscribe/{n:08d}-token"},
    )


def serve_sink() -> None:
    """Child process: an aiosmtpd server that accepts and discards everything."""
    from aiosmtpd.smtp import SMTP

    class Discard:
        count = 0

        async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
            Discard.count += 1
            return "250 OK"

    async def main() -> None:
        loop = asyncio.get_running_loop()
        handler = Discard()
        server = await loop.create_server(
            lambda: SMTP(handler, hostname="sink", ident="sink"), "127.0.0.1", 0
        )
        print(f"PORT {server.sockets[0].getsockname()[1]}", flush=True)
        await loop.run_in_executor(None, sys.stdin.read)  # until the parent closes stdin

    asyncio.run(main())


async def send_with_channel(port: int, count: int, connections: int) -> float:
    server = SmtpServer("127.0.0.1", port, security=SmtpSecurity.NONE)
    sender = EmailSender(
        server, "shop@example.com", from_name="Café Rapport", connections=connections
    )
    queue = iter(range(count))

    async def worker() -> None:
        for n in queue:
            await sender.send(f"customer{n}@example.org", campaign_message(n))

    started, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(worker() for _ in range(connections * 4)))
    elapsed = time.perf_counter() - started
    _report_cpu("EmailSender", cpu, count)
    await sender.close()
    return count / elapsed


def send_with_smtplib(port: int, count: int) -> float:
    """Pre-rendered bytes over one smtplib connection: the sink's own pace."""
    from rapport.channels.email.rendering import MailRenderer

    renderer = MailRenderer("shop@example.com", "Café Rapport")
    mails = [
        (
            f"customer{n}@example.org",
            renderer.render(f"customer{n}@example.org", campaign_message(n))[1],
        )
        for n in range(count)
    ]
    started, cpu = time.perf_counter(), time.process_time()
    with smtplib.SMTP("127.0.0.1", port, local_hostname="bench") as client:
        for address, data in mails:
            client.sendmail("shop@example.com", [address], data)
    elapsed = time.perf_counter() - started
    _report_cpu("smtplib", cpu, count)
    return count / elapsed


def _report_cpu(label: str, cpu_started: float, count: int) -> None:
    """Client CPU per mail: steadier than wall-clock rates on a shared machine."""
    per_mail = (time.process_time() - cpu_started) / count * 1e6
    print(f"{label}: client CPU {per_mail:,.0f} µs/mail")


def render_rate(count: int) -> float:
    from rapport.channels.email.rendering import MailRenderer

    renderer = MailRenderer("shop@example.com", "Café Rapport")
    started = time.perf_counter()
    for n in range(count):
        renderer.render(f"customer{n}@example.org", campaign_message(n))
    return count / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=20_000, help="mails per measurement")
    parser.add_argument("--connections", type=int, default=4, help="sender connections")
    parser.add_argument("--sink", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.sink:
        serve_sink()
        return

    sink = subprocess.Popen(
        [sys.executable, __file__, "--sink"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert sink.stdout is not None
        port = int(sink.stdout.readline().split()[1])
        print(f"sink on 127.0.0.1:{port} (aiosmtpd, separate process); {args.count:,} mails each")
        rendered = render_rate(min(args.count, 5_000))
        print(f"rendering alone: {rendered:,.0f} mails/s")
        ours = asyncio.run(send_with_channel(port, args.count, args.connections))
        print(f"EmailSender, {args.connections} connection(s): {ours:,.0f} mails/s")
        baseline = send_with_smtplib(port, args.count)
        print(f"smtplib, pre-rendered, 1 connection: {baseline:,.0f} mails/s")
    finally:
        if sink.stdin:
            sink.stdin.close()
        sink.wait(timeout=10)
    print(f"RESULT email_send_rate {ours:.0f} msg/s")
    print(f"RESULT smtplib_baseline_rate {baseline:.0f} msg/s")
    print(f"RESULT email_send_vs_baseline {ours / baseline:.2f} ratio")


if __name__ == "__main__":
    main()
