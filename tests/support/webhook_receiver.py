"""A webhook receiver on loopback (a real aiohttp server) that fails until told not to."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from aiohttp import web


@dataclass
class Receiver:
    """Answers `failing_status` while `failing`, then 204; keeps every request it got."""

    failing: bool = True
    failing_status: int = 500
    requests: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)
    url: str = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append((request.path, dict(request.headers), await request.read()))
        if self.failing:
            return web.Response(status=self.failing_status, text="receiver is down")
        return web.Response(status=204)


@asynccontextmanager
async def receiving(*, failing: bool = True) -> AsyncIterator[Receiver]:
    receiver = Receiver(failing)
    app = web.Application()
    app.router.add_post("/{tail:.*}", receiver.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    receiver.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        yield receiver
    finally:
        await runner.cleanup()
