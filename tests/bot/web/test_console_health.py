"""The console's health page says what `rapport health` says, and why a task is not live.

A real `Supervisor` runs a task that keeps going (it beats) and one that gives
up; a third row is a "running" task whose process was killed (it no longer
beats). The page's task table, read over HTTP, matches `rapport health
--format csv` row for row; the services table says why this process left a
service off. Only admins see it.
"""

from __future__ import annotations

import asyncio
import csv
import html
import io
import re
from datetime import datetime, timedelta
from pathlib import Path

import httpx

from rapport.bot.present.numbers import NO_DATA
from rapport.bot.present.times import when
from rapport.channels.supervision import GiveUp, Supervisor
from rapport.crm.clock import utcnow
from rapport.crm.database import Database
from rapport.crm.operations.health import RUNNING, record_task, task_states
from tests.support.cli import rapport
from tests.support.console_client import console_server, sign_in, staff

ROW = re.compile(r"<tr[^>]*>(.*?)</tr>", re.S)
CELL = re.compile(r"<td>(.*?)</td>", re.S)
ZONE = "Europe/Berlin"


def table(page: str, table_id: str) -> list[list[str]]:
    body = page.split(f'id="{table_id}"', 1)[1].split("</tbody>", 1)[0].split("<tbody>", 1)[1]
    return [[html.unescape(c) for c in CELL.findall(row)] for row in ROW.findall(body)]


async def forever() -> None:
    await asyncio.Event().wait()


async def refused() -> None:
    raise GiveUp("the bot token was refused")


async def test_the_health_page_shows_what_rapport_health_shows(
    db: Database, tmp_path: Path
) -> None:
    record_task(db, "gone-worker", RUNNING, now=utcnow() - timedelta(minutes=10), fresh=True)
    supervisor = Supervisor(db, heartbeat=0.05)
    live = supervisor.spawn("live-task", forever)
    supervisor.spawn("given-up", refused)
    try:
        await supervisor.failed.wait()
        started = {t.name: t.updated_at for t in task_states(db)}["live-task"]
        while {t.name: t.updated_at for t in task_states(db)}["live-task"] == started:
            await asyncio.sleep(0.02)  # it beats
        supervisor.heartbeat = 3600.0  # hold the rows still while both sides read them
        await asyncio.sleep(0.3)

        async with console_server(db, timezone=ZONE) as served:
            served.console.health = [
                ("web", True, "running"),
                ("telegram", False, "RAPPORT_TELEGRAM_TOKEN is not set"),
            ]
            ada = staff(db, "Ada", "admin", 700)
            mo = staff(db, "Mo", "manager", 701)
            async with (
                httpx.AsyncClient(base_url=served.url) as admin,
                httpx.AsyncClient(base_url=served.url) as manager,
                httpx.AsyncClient(base_url=served.url) as anonymous,
            ):
                await sign_in(admin, db, ada)
                await sign_in(manager, db, mo)
                page = await admin.get("/console/admin/health")
                assert page.status_code == 200
                assert (await manager.get("/console/admin/health")).status_code == 403
                assert (await anonymous.get("/console/admin/health")).status_code == 303
        cli = await asyncio.to_thread(
            rapport, tmp_path, "health", "--format", "csv",
            env={"RAPPORT_DATABASE_URL": db.url, "RAPPORT_TIMEZONE": ZONE},
        )  # fmt: skip
    finally:
        live.cancel()
    assert cli.returncode == 0, cli.stderr

    shown = table(page.text, "tasks")
    exported = list(csv.DictReader(io.StringIO(cli.stdout)))
    assert [r["task"] for r in exported] == ["given-up", "gone-worker", "live-task"]
    zone = served.settings.zone

    def as_shown(value: str) -> str:
        return when(datetime.fromisoformat(value), zone) if value else NO_DATA

    expected = [
        [r["task"], r["live"], r["state"], as_shown(r["last_beat_at"]), r["why_not"] or NO_DATA,
         r["restarts"], r["last_error"] or NO_DATA, as_shown(r["last_error_at"])]
        for r in exported
    ]  # fmt: skip
    assert shown == expected
    by_task = {r["task"]: r for r in exported}
    assert (by_task["live-task"]["live"], by_task["live-task"]["why_not"]) == ("yes", "")
    assert by_task["gone-worker"]["why_not"] == "no heartbeat: its process is gone"
    assert by_task["given-up"]["why_not"] == "given up: GiveUp: the bot token was refused"
    assert table(page.text, "health") == [
        ["web", "on", "running"],
        ["telegram", "off", "RAPPORT_TELEGRAM_TOKEN is not set"],
    ]
