"""`rapport init`: check every answer against the real service, then write `.env`.

A setting that is wrong is cheapest to find while the owner is still at the
keyboard: each check talks to the service it names (EHLO and login on the
SMTP relay, getMe on the Bot API, login on the IMAP server, opening and
upgrading the database) and fails with one line saying which and why. The
`.env` is written only after every check passed, owner-only (it holds the
token and passwords), and never over an existing one unless asked.
"""

from __future__ import annotations

import asyncio
import contextlib
import imaplib
import os
import secrets
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import aiosmtplib
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

from rapport.crm import database
from rapport.crm.errors import ConfigurationError
from rapport.crm.models import StaffRole
from rapport.crm.settings import Settings, SmtpSecurity, load_settings
from rapport.crm.staff.audit import Actor
from rapport.crm.staff.roles import add_staff, staff_by_telegram
from rapport.migrations import schema

CHECK_TIMEOUT = 15.0


class CheckFailed(ConfigurationError):
    """A service refused or could not be reached; nothing was written."""


@dataclass(frozen=True, slots=True)
class Answers:
    """What the owner told `rapport init` (flags or prompts); None means "not used"."""

    business_name: str
    timezone: str = "UTC"
    database_url: str = "sqlite:///rapport.db"
    telegram_token: str | None = None
    telegram_api_url: str | None = None
    admin_telegram_id: int | None = None
    admin_name: str = "Admin"
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_tls: str = "starttls"
    smtp_username: str | None = None
    smtp_password: str | None = None
    mail_from: str | None = None
    imap_host: str | None = None
    imap_port: int = 993
    imap_username: str | None = None
    imap_password: str | None = None
    public_url: str | None = None

    def env(self) -> dict[str, str]:
        """The settings to write, by Settings field name; unused parts are left out."""
        values: dict[str, object | None] = {
            "business_name": self.business_name,
            "timezone": self.timezone,
            "database_url": self.database_url,
            "telegram_token": self.telegram_token,
            "telegram_api_url": self.telegram_api_url,
            "public_url": self.public_url,
        }
        if self.smtp_host:
            values.update(
                smtp_host=self.smtp_host,
                smtp_port=self.smtp_port,
                smtp_tls=self.smtp_tls,
                smtp_username=self.smtp_username,
                smtp_password=self.smtp_password,
                mail_from=self.mail_from,
            )
        if self.imap_host:
            values.update(
                imap_host=self.imap_host,
                imap_port=self.imap_port,
                imap_username=self.imap_username,
                imap_password=self.imap_password,
            )
        return {k: str(v) for k, v in values.items() if v not in (None, "")}


class _AnswersOnly(Settings):
    """Settings from the answers alone: the shell's RAPPORT_* and an old .env must not leak in."""

    @classmethod
    def settings_customise_sources(  # type: ignore[override]
        cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
        **_others: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:  # fmt: skip
        return (init_settings,)


def validate(answers: Answers) -> Settings:
    """The answers as Settings, with the same one-line errors as a bad `.env` gives."""
    if not answers.business_name.strip():
        raise ConfigurationError("the business name cannot be empty")
    if answers.smtp_host and not answers.mail_from:
        raise ConfigurationError("with an SMTP server, give the From address (--mail-from)")
    if answers.smtp_username and not answers.smtp_password:
        raise ConfigurationError("an SMTP user name needs its password (--smtp-password)")
    if answers.imap_host and not (answers.imap_username and answers.imap_password):
        raise ConfigurationError("an IMAP server needs a user name and password")
    if answers.admin_telegram_id is not None and answers.admin_telegram_id <= 0:
        raise ConfigurationError("the admin's Telegram id is a positive number")
    return load_settings(_AnswersOnly, **answers.env())


# --- checks -------------------------------------------------------------------------------


async def check_smtp(settings: Settings, tls_context: ssl.SSLContext | None = None) -> None:
    """Connect, EHLO (STARTTLS), log in if configured, QUIT."""
    assert settings.smtp_host
    where = f"SMTP server {settings.smtp_host}:{settings.smtp_port}"
    password = settings.smtp_password.get_secret_value() if settings.smtp_password else None
    client = aiosmtplib.SMTP(
        hostname=settings.smtp_host,
        port=settings.smtp_port,
        timeout=CHECK_TIMEOUT,
        use_tls=settings.smtp_tls is SmtpSecurity.TLS,
        start_tls=settings.smtp_tls is SmtpSecurity.STARTTLS,
        tls_context=tls_context,
    )
    try:
        await client.connect()
        await client.ehlo()
        if settings.smtp_username and password:
            await client.login(settings.smtp_username, password)
        await client.quit()
    except aiosmtplib.SMTPAuthenticationError as exc:
        raise CheckFailed(f"{where} refused the login: {exc.code} {_line(exc.message)}") from None
    except aiosmtplib.SMTPResponseException as exc:
        raise CheckFailed(f"{where} answered {exc.code} {_line(exc.message)}") from None
    except (aiosmtplib.SMTPException, OSError) as exc:
        raise CheckFailed(f"cannot reach {where}: {_line(str(exc))}") from None
    finally:
        client.close()


async def check_telegram(settings: Settings) -> str:
    """getMe with the token; the bot's @username."""
    assert settings.telegram_token
    token = settings.telegram_token.get_secret_value()
    url = f"{settings.telegram_api_url}{token}/getMe"
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=CHECK_TIMEOUT)) as http,
            http.get(url) as response,
        ):
            status = response.status
            body = await response.json(content_type=None)
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        host = settings.telegram_api_url.split("/bot")[0]
        raise CheckFailed(
            f"cannot reach the Telegram Bot API at {host}: {_line(str(exc))}"
        ) from None
    if status == 401 or status == 404:
        raise CheckFailed(
            "Telegram refused the bot token (401 Unauthorized): copy it again from @BotFather"
        )
    if not isinstance(body, dict) or not body.get("ok"):
        detail = body.get("description", "") if isinstance(body, dict) else ""
        raise CheckFailed(f"Telegram getMe failed: HTTP {status} {_line(str(detail))}")
    return "@" + str(body["result"].get("username", "?"))


def check_imap(settings: Settings, tls_context: ssl.SSLContext | None = None) -> str:
    """Log in and select the folder, as the poller will; blocking."""
    assert settings.imap_host and settings.imap_username and settings.imap_password
    where = f"IMAP server {settings.imap_host}:{settings.imap_port}"
    try:
        if settings.imap_port == 993:
            imap: imaplib.IMAP4 = imaplib.IMAP4_SSL(
                settings.imap_host, settings.imap_port, ssl_context=tls_context,
                timeout=CHECK_TIMEOUT,
            )  # fmt: skip
        else:
            imap = imaplib.IMAP4(settings.imap_host, settings.imap_port, timeout=CHECK_TIMEOUT)
            if "STARTTLS" in imap.capabilities:
                imap.starttls(ssl_context=tls_context)
    except (OSError, imaplib.IMAP4.error) as exc:
        raise CheckFailed(f"cannot reach {where}: {_line(str(exc))}") from None
    try:
        imap.login(settings.imap_username, settings.imap_password.get_secret_value())
        status, _ = imap.select(f'"{settings.imap_folder}"')
        if status != "OK":
            raise CheckFailed(f"{where}: no folder {settings.imap_folder!r}")
    except imaplib.IMAP4.error as exc:
        raise CheckFailed(f"{where} refused the login: {_line(str(exc))}") from None
    finally:
        with contextlib.suppress(imaplib.IMAP4.error, OSError):
            imap.logout()
    return settings.imap_folder


def check_database(settings: Settings) -> str:
    """Open the database and upgrade it to head (creating a SQLite file); the revision."""
    try:
        db = database.Database(settings.database_url, connect_args=_connect_args(settings))
        try:
            schema.upgrade(db)
            return str(schema.current_revision(db))
        finally:
            db.dispose()
    except ConfigurationError:
        raise
    except Exception as exc:  # driver errors differ by database; the first line says enough
        raise CheckFailed(f"cannot open the database: {_line(str(exc))}") from None


def _connect_args(settings: Settings) -> dict[str, object]:
    if settings.database_url.startswith("postgresql"):
        return {"connect_timeout": int(CHECK_TIMEOUT)}
    return {}


def _line(text: str) -> str:
    first = (text or "").strip().splitlines()
    return first[0][:200] if first else "(no detail)"


# --- writing ------------------------------------------------------------------------------


def _quote(value: str) -> str:
    """A double-quoted .env value (python-dotenv reads \\\\ and \\" back)."""
    if "\n" in value or "\r" in value:
        raise ConfigurationError("settings cannot contain line breaks")
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def render_env(values: dict[str, str]) -> str:
    lines = ["# Written by `rapport init`; see docs/configuration.md for every setting."]
    lines += [f"RAPPORT_{name.upper()}={_quote(value)}" for name, value in values.items()]
    return "\n".join(lines) + "\n"


def write_env(path: Path, text: str, *, force: bool) -> None:
    """Owner-only (0600) from the first byte; refuses to replace a file unless `force`."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if force else os.O_EXCL)
    try:
        fd = os.open(path, flags, 0o600)
    except FileExistsError:
        raise ConfigurationError(f"{path} exists; use --force to replace it") from None
    os.chmod(path, 0o600)  # a replaced file keeps its old mode otherwise
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)


def register_admin(settings: Settings, name: str, telegram_id: int) -> str:
    """Make the first admin; an existing staff member with that id is left as is."""
    db = database.Database(settings.database_url)
    try:
        existing = staff_by_telegram(db, telegram_id, active_only=False)
        if existing is not None:
            return f"staff {existing.id} ({existing.role}) already has Telegram id {telegram_id}"
        member = add_staff(
            db,
            Actor(label="cli:init"),
            name=name,
            role=StaffRole.ADMIN,
            telegram_user_id=telegram_id,
        )
        return f"staff {member.id} {member.name} added as admin"
    finally:
        db.dispose()


@dataclass(frozen=True, slots=True)
class InitResult:
    env_path: Path
    lines: list[str]


def initialise(
    answers: Answers,
    env_path: Path,
    *,
    force: bool = False,
    report: Callable[[str], None] = lambda _line: None,
    tls_context: ssl.SSLContext | None = None,
) -> InitResult:
    """Validate, check each service, upgrade the database, register the admin, write `.env`.

    Any failure raises before anything is written (the database upgrade is the
    database check itself, and is what `rapport run` would do anyway).
    """
    if env_path.exists() and not force:
        raise ConfigurationError(f"{env_path} exists; use --force to replace it")
    settings = validate(answers)
    secret = secrets.token_urlsafe(32)
    done: list[str] = []

    def ok(line: str) -> None:
        done.append(line)
        report(line)

    if settings.smtp_host:
        asyncio.run(check_smtp(settings, tls_context))
        login = " and the login" if settings.smtp_username else ""
        ok(f"SMTP {settings.smtp_host}:{settings.smtp_port} accepted EHLO{login}")
    if settings.telegram_token:
        ok(f"Telegram bot {asyncio.run(check_telegram(settings))} answered getMe")
    if settings.imap_host:
        ok(f"IMAP login ok, folder {check_imap(settings, tls_context)}")
    ok(f"database ready at revision {check_database(settings)}")
    if answers.admin_telegram_id is not None:
        ok(register_admin(settings, answers.admin_name, answers.admin_telegram_id))
    write_env(env_path, render_env({**answers.env(), "secret_key": secret}), force=force)
    ok(f"wrote {env_path} (mode 0600)")
    return InitResult(env_path, done)
