"""Campaign mail that could carry no working unsubscribe link is held, never sent bare.

With the web server off and no RAPPORT_PUBLIC_URL there is nowhere for a link
to point: the delivery stays queued with the reason, the sink receives
nothing, and once a public URL is configured the same delivery goes out with
its List-Unsubscribe headers.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import select
from typer.testing import CliRunner

from rapport.bot.cli import app
from rapport.crm.database import Database
from rapport.crm.models import Delivery
from rapport.migrations.schema import upgrade
from tests.support.campaign_fixtures import customer, everyone
from tests.support.email_sink import Sink


async def _rapport(cwd: Path, sink: Sink, *args: str, public_url: str | None) -> tuple[int, str]:
    env = {
        "RAPPORT_DATABASE_URL": f"sqlite:///{cwd / 'r.db'}",
        "RAPPORT_SMTP_HOST": "127.0.0.1",
        "RAPPORT_SMTP_PORT": str(sink.port),
        "RAPPORT_SMTP_TLS": "none",
        "RAPPORT_MAIL_FROM": "shop@example.com",
        "RAPPORT_TELEGRAM_TOKEN": None,
        "RAPPORT_WEB_PORT": "0",
        "RAPPORT_PUBLIC_URL": public_url,
        "COLUMNS": "200",
    }
    result = await asyncio.to_thread(CliRunner().invoke, app, list(args), env=env)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout + (result.stderr if result.stderr_bytes else "")


def _statuses(db: Database) -> list[tuple[str, str | None]]:
    with db.session() as s:
        return [
            (d.status, d.skip_reason) for d in s.scalars(select(Delivery).order_by(Delivery.id))
        ]


async def test_mail_without_a_working_unsubscribe_link_is_held_then_sent_once_possible(
    tmp_path: Path, sink: Sink
) -> None:
    db = Database(f"sqlite:///{tmp_path / 'r.db'}")
    upgrade(db)
    customer(db, "ann@example.org", name="Ann Lee")
    everyone(db)
    code, out = await _rapport(
        tmp_path, sink, "campaigns", "create", "Spring", "--kind", "announcement",
        "--segment", "everyone", "--template", "Spring is here, {{ first_name }}!",
        public_url=None,
    )  # fmt: skip
    assert code == 0, out

    code, out = await _rapport(tmp_path, sink, "campaigns", "run-now", "Spring", public_url=None)
    assert code == 0, out
    assert "1 queued" in out
    assert "held, not sent: no working unsubscribe link" in out
    assert sink.received == []  # nothing left bare
    [(status, _)] = _statuses(db)
    assert status == "queued"  # held in the queue, not failed and not lost

    code, out = await _rapport(
        tmp_path, sink, "campaigns", "run-now", "Spring", "--again",
        public_url="https://shop.example",
    )  # fmt: skip
    assert code == 0, out
    sent = [m.message for m in sink.received]
    # the held delivery, once, and the deliberate second run's: each with its link
    assert [m["To"] for m in sent] == ["ann@example.org"] * 2
    assert all(m["List-Unsubscribe"].startswith("<https://shop.example/u/") for m in sent)
    assert [status for status, _ in _statuses(db)] == ["sent", "sent"]
    db.dispose()
