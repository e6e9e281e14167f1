"""Each `rapport` command opens the database once and closes it when it ends.

Run in process (typer's runner), so a command that forgot to dispose of its
engine would leave its pooled connection open on the server for the rest of
the process — which is what a long test run or an embedding program would see.
"""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from rapport.bot.cli import app
from tests.conftest import postgres_admin_url, scratch_postgres_database


def _sessions_on(admin_url: str, database: str) -> int:
    engine = create_engine(admin_url)
    try:
        with engine.connect() as conn:
            return conn.execute(
                text("SELECT count(*) FROM pg_stat_activity WHERE datname = :name"),
                {"name": database},
            ).scalar_one()
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_commands_leave_no_connection_open() -> None:
    with scratch_postgres_database() as url:
        admin_url = postgres_admin_url()
        assert admin_url is not None
        name = url.rsplit("/", 1)[1]
        env = {"RAPPORT_DATABASE_URL": url, "RAPPORT_TELEGRAM_TOKEN": None, "COLUMNS": "200"}
        runner = CliRunner()
        for args in (
            ["db", "upgrade"],
            ["ingest", "--channel", "email", "--from", "ann@example.com", "--text", "Hello"],
            ["customers", "list"],
            ["segments", "list"],
            ["db", "current"],
        ):
            result = runner.invoke(app, args, env=env)
            assert result.exit_code == 0, (args, result.output, result.exception)
        assert _sessions_on(admin_url, name) == 0
