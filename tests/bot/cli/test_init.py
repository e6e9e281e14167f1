"""`rapport init`: every answer checked against a real service, .env written only on success.

The SMTP relay is the loopback aiosmtpd sink and Telegram is the Bot API
stand-in; the happy path and SMTP-down run the real command in a subprocess
(while this test's loop serves both), the others call `initialise` in a
thread, which is what the command does after reading its flags.
"""

from __future__ import annotations

import asyncio
import os
import stat
import sys
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from sqlalchemy import select

from rapport.bot.first_run import Answers, initialise
from rapport.channels.telegram.testing import BotApiStandIn
from rapport.crm.database import Database
from rapport.crm.errors import ConfigurationError
from rapport.crm.models import StaffMember
from rapport.crm.settings import Settings
from rapport.migrations.schema import current_revision, head_revision
from tests.support.dovecot_server import DOVECOT
from tests.support.email_sink import Sink

TOKEN = "654321:INIT-token"


class Accounts:
    """Accepts user "shop" with password "pw"."""

    def __call__(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (b"shop", b"pw")
        return AuthResult(success=ok, handled=False)


@pytest.fixture
async def sink() -> AsyncIterator[Sink]:
    running = await Sink(auth_require_tls=False, authenticator=Accounts()).start()
    yield running
    await running.stop()


@pytest.fixture
async def api() -> AsyncIterator[BotApiStandIn]:
    async with BotApiStandIn(TOKEN) as stand_in:
        yield stand_in


async def rapport_init(cwd: Path, *args: str) -> tuple[int, str, str]:
    """The real command in a subprocess, awaited so this loop keeps serving the fakes."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAPPORT_")}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[3])
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "rapport.bot", "init", "--non-interactive", *args,
        cwd=cwd, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def flags(tmp_path: Path, sink: Sink, api: BotApiStandIn, **changes: str) -> list[str]:
    values = {
        "--business-name": 'Corner "Shop"',
        "--timezone": "Asia/Hong_Kong",
        "--database-url": f"sqlite:///{tmp_path / 'shop.db'}",
        "--telegram-token": TOKEN,
        "--telegram-api-url": api.base_url,
        "--admin-telegram-id": "4242",
        "--smtp-host": "127.0.0.1",
        "--smtp-port": str(sink.port),
        "--smtp-tls": "none",
        "--smtp-username": "shop",
        "--smtp-password": "pw",
        "--mail-from": "hello@shop.example",
        "--public-url": "https://crm.shop.example",
        **changes,
    }
    return [part for pair in values.items() for part in pair]


async def test_non_interactive_init_checks_everything_and_writes_env(
    tmp_path: Path, sink: Sink, api: BotApiStandIn
) -> None:
    code, out, err = await rapport_init(tmp_path, *flags(tmp_path, sink, api))
    assert code == 0, err
    assert "@rapport_test_bot" in out and "accepted EHLO and the login" in out
    env = tmp_path / ".env"
    assert stat.S_IMODE(env.stat().st_mode) == 0o600
    settings = Settings(_env_file=env)  # type: ignore[call-arg]
    assert settings.business_name == 'Corner "Shop"'
    assert settings.timezone == "Asia/Hong_Kong"
    assert settings.telegram_token is not None
    assert settings.telegram_token.get_secret_value() == TOKEN
    assert settings.smtp_port == sink.port and settings.mail_from == "hello@shop.example"
    assert settings.public_url == "https://crm.shop.example"  # where links in mail point
    assert settings.secret_key is not None and len(settings.secret_key.get_secret_value()) >= 32
    assert api.calls.get("getme") == 1
    db = Database(settings.database_url)
    assert current_revision(db) == head_revision()
    with db.session() as s:
        admin = s.scalar(select(StaffMember))
    db.dispose()
    assert admin is not None and (admin.telegram_user_id, admin.role) == (4242, "admin")


async def test_smtp_down_exits_2_with_one_line_and_writes_nothing(
    tmp_path: Path, sink: Sink, api: BotApiStandIn
) -> None:
    port = sink.port
    await sink.stop()
    code, _out, err = await rapport_init(tmp_path, *flags(tmp_path, sink, api))
    assert code == 2
    assert err.strip().count("\n") == 0 and f"cannot reach SMTP server 127.0.0.1:{port}" in err
    assert not (tmp_path / ".env").exists() and not (tmp_path / "shop.db").exists()


def answers(tmp_path: Path, sink: Sink, api: BotApiStandIn, **changes: Any) -> Answers:
    values: dict[str, Any] = {
        "business_name": "Corner Shop",
        "database_url": f"sqlite:///{tmp_path / 'shop.db'}",
        "telegram_token": TOKEN,
        "telegram_api_url": api.base_url,
        "smtp_host": "127.0.0.1",
        "smtp_port": sink.port,
        "smtp_tls": "none",
        "mail_from": "hello@shop.example",
    }
    values.update(changes)
    return Answers(**values)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"telegram_token": "654321:WRONG"}, "Telegram refused the bot token"),
        ({"smtp_username": "shop", "smtp_password": "nope"}, "refused the login: 535"),
        ({"timezone": "Mars/Olympus"}, "RAPPORT_TIMEZONE: Value error, unknown time zone"),
        ({"mail_from": None}, "give the From address"),
        ({"database_url": "mysql://x/y"}, "only sqlite:/// and postgresql://"),
    ],
)
async def test_a_failed_check_changes_nothing(
    tmp_path: Path, sink: Sink, api: BotApiStandIn, changes: dict[str, Any], message: str
) -> None:
    env = tmp_path / ".env"
    with pytest.raises(ConfigurationError, match=message):
        await asyncio.to_thread(initialise, answers(tmp_path, sink, api, **changes), env)
    assert not env.exists() and not (tmp_path / "shop.db").exists()


async def test_unreachable_database_is_one_clear_line(
    tmp_path: Path, sink: Sink, api: BotApiStandIn
) -> None:
    bad = answers(tmp_path, sink, api, database_url=f"sqlite:///{tmp_path}/no/such/dir/x.db")
    with pytest.raises(ConfigurationError, match="cannot open the database: "):
        await asyncio.to_thread(initialise, bad, tmp_path / ".env")
    assert not (tmp_path / ".env").exists()


async def test_existing_env_is_kept_unless_forced(
    tmp_path: Path, sink: Sink, api: BotApiStandIn
) -> None:
    env = tmp_path / ".env"
    env.write_text("RAPPORT_BUSINESS_NAME=Old\n")
    with pytest.raises(ConfigurationError, match="exists; use --force"):
        await asyncio.to_thread(initialise, answers(tmp_path, sink, api), env)
    assert env.read_text() == "RAPPORT_BUSINESS_NAME=Old\n"
    await asyncio.to_thread(lambda: initialise(answers(tmp_path, sink, api), env, force=True))
    assert "Corner Shop" in env.read_text() and stat.S_IMODE(env.stat().st_mode) == 0o600


def test_interactive_prompts_with_channels_left_off(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from rapport.bot.cli import app

    monkeypatch.chdir(tmp_path)
    db_url = f"sqlite:///{tmp_path / 'shop.db'}"
    # business, zone, database, token (blank), SMTP host (blank), IMAP host (blank)
    typed = f"Tea House\nEurope/Lisbon\n{db_url}\n\n\n\n"
    result = CliRunner().invoke(app, ["init"], input=typed)
    assert result.exit_code == 0, result.output
    settings = Settings(_env_file=tmp_path / ".env")  # type: ignore[call-arg]
    assert (settings.business_name, settings.timezone) == ("Tea House", "Europe/Lisbon")
    assert settings.telegram_token is None and settings.smtp_host is None
    text = (tmp_path / ".env").read_text()
    assert "RAPPORT_SMTP" not in text and "RAPPORT_TELEGRAM" not in text


@pytest.mark.skipif(DOVECOT is None, reason="needs Dovecot (apt-get install dovecot-imapd)")
def test_imap_login_is_checked_against_a_real_server(tmp_path: Path, dovecot: Any) -> None:
    base = Answers(
        business_name="Corner Shop",
        database_url=f"sqlite:///{tmp_path / 'shop.db'}",
        imap_host=dovecot.host,
        imap_port=dovecot.port,
        imap_username=dovecot.username,
    )
    env = tmp_path / ".env"
    wrong = replace(base, imap_password="wrong")
    with pytest.raises(ConfigurationError, match="refused the login"):
        initialise(wrong, env)
    assert not env.exists()
    done = initialise(replace(base, imap_password=dovecot.password), env)
    assert "IMAP login ok, folder INBOX" in done.lines
    assert f'RAPPORT_IMAP_PORT="{dovecot.port}"' in env.read_text()
