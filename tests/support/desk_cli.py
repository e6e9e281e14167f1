"""Helpers shared by test modules.

Moved out of test_desk_cli.py, which other test modules imported.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from typer.testing import CliRunner

from rapport.bot.cli import app
from rapport.crm.errors import RapportError
from tests.support.email_sink import Sink


async def _rapport(cwd: Path, sink: Sink, *args: str) -> tuple[int, str, str]:
    """The CLI in a worker thread (it runs its own event loop), so the sink here can answer."""
    env = {
        "RAPPORT_DATABASE_URL": f"sqlite:///{cwd / 'r.db'}",
        "RAPPORT_SMTP_HOST": "127.0.0.1",
        "RAPPORT_SMTP_PORT": str(sink.port),
        "RAPPORT_SMTP_TLS": "none",
        "RAPPORT_MAIL_FROM": "shop@example.com",
        "RAPPORT_TELEGRAM_TOKEN": None,
        "COLUMNS": "200",
    }
    result = await asyncio.to_thread(CliRunner().invoke, app, list(args), env=env)
    if isinstance(result.exception, RapportError):  # what main() turns into exit code 2
        return 2, result.stdout, str(result.exception)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout, ""
