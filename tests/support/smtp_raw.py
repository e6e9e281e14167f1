"""A raw SMTP client for tests: what a hostile or broken sender puts on the wire.

smtplib tidies what it sends and parses what it gets; these tests need the
bytes both ways, so every reply line is checked against RFC 5321 4.2 (three
digits, a space or hyphen, printable ASCII, CRLF).
"""

from __future__ import annotations

import asyncio
import contextlib
import re

REPLY_LINE = re.compile(rb"[2-5][0-9]{2}([ -][\x20-\x7e]*)?\r\n")


class MalformedReply(AssertionError):
    pass


async def read_reply(reader: asyncio.StreamReader, timeout: float = 10) -> tuple[int, list[bytes]]:
    """One (possibly multi-line) reply: its code and lines; MalformedReply if any is bad."""
    lines: list[bytes] = []
    while True:
        line = await asyncio.wait_for(reader.readline(), timeout)
        if not line:
            if lines:
                raise MalformedReply(f"connection closed inside a reply: {lines!r}")
            return 0, []  # closed between replies
        if not REPLY_LINE.fullmatch(line) or len(line) > 512:
            raise MalformedReply(f"malformed SMTP reply line {line!r}")
        if lines and line[:3] != lines[0][:3]:
            raise MalformedReply(f"reply code changed inside a reply: {[*lines, line]!r}")
        lines.append(line)
        if line[3:4] != b"-":
            return int(line[:3]), lines


async def session(
    port: int, commands: list[bytes], *, data: bytes | None = None
) -> list[tuple[int, list[bytes]]]:
    """Greeting, then each command (CRLF added); `data` after a DATA command.

    Returns every reply in order; stops at a closed connection.
    """
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    replies = [await read_reply(reader)]
    try:
        for command in commands:
            writer.write(command + b"\r\n")
            await writer.drain()
            code, lines = await read_reply(reader)
            replies.append((code, lines))
            if code == 0:
                break
            if command.upper().startswith(b"DATA") and code == 354 and data is not None:
                writer.write(data + b"\r\n.\r\n")
                await writer.drain()
                replies.append(await read_reply(reader))
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
    return replies


def mail(
    *,
    sender: str = "zoe@example.org",
    date: str = "",
    message_id: str = "",
    text: str = "Hello",
) -> bytes:
    headers = [f"From: {sender}", "To: shop@example.com", "Subject: Hello"]
    if date:
        headers.append(f"Date: {date}")
    if message_id:
        headers.append(f"Message-ID: {message_id}")
    return ("\r\n".join([*headers, "", text])).encode("utf-8")
