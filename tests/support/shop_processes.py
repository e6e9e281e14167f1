"""Real processes for journey tests: `rapport run` in the background, `rapport …` commands,
with an aiosmtpd sink (in the test's loop) as the shop's mail relay."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.support.email_sink import Sink

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def shop_env(folder: Path, database_url: str, sink: Sink, **extra: str) -> dict[str, str]:
    """The environment of a shop whose relay is the sink; nothing else of the caller's leaks in."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAPPORT_")}
    env.update(
        PYTHONPATH=str(ROOT),
        COLUMNS="200",
        RAPPORT_DATABASE_URL=database_url,
        RAPPORT_SMTP_HOST="127.0.0.1",
        RAPPORT_SMTP_PORT=str(sink.port),
        RAPPORT_SMTP_TLS="none",
        RAPPORT_MAIL_FROM="hello@corner-shop.example",
        RAPPORT_BUSINESS_NAME="Corner Shop",
        RAPPORT_INBOUND_SMTP_PORT="0",
        RAPPORT_WEB_PORT="0",
    )
    env.update(extra)
    return env


@dataclass
class Shop:
    folder: Path
    env: dict[str, str]

    async def rapport(self, *args: str, expect: int = 0) -> str:
        """Run one `rapport` command to its end; its stdout (and stderr when it fails)."""
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "rapport.bot", *args, cwd=self.folder, env=self.env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await asyncio.wait_for(process.communicate(), 180)
        text = out.decode()
        assert process.returncode == expect, f"rapport {' '.join(args)}: {text}{err.decode()}"
        return text if expect == 0 else text + err.decode()


async def wait_for(condition: Callable[[], bool], what: str, timeout: float = 90) -> None:
    """Poll `condition` (a file's content, a sink's count) until it holds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


@asynccontextmanager
async def running(shop: Shop) -> AsyncIterator[Path]:
    """`rapport run` until the block ends (SIGTERM, as systemd stops it); yields its log file."""
    log = shop.folder / "rapport-run.log"
    with log.open("wb") as out:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "rapport.bot", "run", cwd=shop.folder, env=shop.env,
            stdout=out, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
    try:
        await wait_for(
            lambda: (
                "is running with" in log.read_text(errors="replace")
                or process.returncode is not None
            ),
            "rapport run to start",
        )
        assert process.returncode is None, log.read_text()
        yield log
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), 60)
            except TimeoutError:
                process.kill()
                await process.wait()
