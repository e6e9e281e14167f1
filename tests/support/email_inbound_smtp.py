"""Helpers shared by test modules.

Moved out of test_email_inbound_smtp.py, which other test modules imported.
"""

from __future__ import annotations

import asyncio
import smtplib
from concurrent.futures import ThreadPoolExecutor


def _send_blocking(port: int, data: bytes, mail_from: str = "zoe@example.org") -> None:
    # smtplib sends bytes as they are; on the wire mail has CRLF line ends.
    data = data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    with smtplib.SMTP("127.0.0.1", port, local_hostname="client.test", timeout=10) as client:
        client.sendmail(mail_from, ["shop@example.com"], data)


_CLIENTS = ThreadPoolExecutor(max_workers=16, thread_name_prefix="smtplib-client")


async def send(port: int, data: bytes, mail_from: str = "zoe@example.org") -> None:
    """smtplib blocks, and our server runs on this loop: talk from a thread.

    Client threads come from their own pool so they never starve the
    default executor the server ingests in.
    """
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(_CLIENTS, _send_blocking, port, data, mail_from)
