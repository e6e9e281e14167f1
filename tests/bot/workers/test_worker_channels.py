"""Under `rapport run --workers N` only the app sends on Telegram (issue #22).

Telegram's per-chat limit is paced inside one process: a worker's campaign
message and the app's reply to the same chat, a moment apart, drew 429s in
the soak. So when the app hosts the bot its workers are started with
`--no-telegram` (they claim email deliveries only) and every Telegram send
shares the app's one rate limiter; without a bot the workers are as before.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from rapport.bot.app import build_app, quota_share
from rapport.bot.workers import WORKER_COMMAND, WorkerPool
from rapport.crm.database import Database
from rapport.crm.settings import load_settings
from rapport.migrations.schema import upgrade
from tests.conftest import scratch_postgres_database


@pytest.fixture
def pg_url() -> Iterator[str]:
    with scratch_postgres_database() as url:
        database = Database(url)
        upgrade(database)
        database.dispose()
        yield url


def worker_command(pg_url: str, **telegram: str | None) -> tuple[str, ...]:
    settings = load_settings(
        database_url=pg_url, inbound_smtp_port=0, web_port=0, smtp_host=None, **telegram
    )
    app = build_app(settings, workers=2, inbound=())
    try:
        [pool] = [s for s in app.services if isinstance(s, WorkerPool)]
        return pool.command
    finally:
        app.db.dispose()


def test_workers_leave_telegram_to_the_app_that_hosts_the_bot(pg_url: str) -> None:
    with_bot = worker_command(pg_url, telegram_token="123456:TEST-token")
    assert with_bot == (*WORKER_COMMAND, "--senders", "3", "--no-telegram")
    assert worker_command(pg_url, telegram_token=None) == (*WORKER_COMMAND, "--senders", "3")


def test_the_mail_quota_is_shared_by_the_app_and_its_workers(pg_url: str) -> None:
    """Two workers and the app send mail side by side: each keeps to a third of it."""
    settings = load_settings(
        database_url=pg_url,
        inbound_smtp_port=0,
        web_port=0,
        smtp_host="127.0.0.1",
        mail_from="shop@example.com",
        smtp_max_per_second=30,
    )
    app = build_app(settings, workers=2, inbound=())
    try:
        assert app.outbound.email is not None
        assert app.outbound.email.max_per_second == 10
    finally:
        app.db.dispose()
    # what `rapport worker --senders 3` does with the same settings
    assert quota_share(settings, 3).smtp_max_per_second == 10
    assert quota_share(settings, 1) is settings
    alone = build_app(settings, inbound=())  # no workers: the whole quota
    try:
        assert alone.outbound.email is not None
        assert alone.outbound.email.max_per_second == 30
    finally:
        alone.db.dispose()
