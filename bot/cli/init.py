"""`rapport init`: the first-run setup that checks each service and writes .env."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rapport.bot.cli.common import out
from rapport.crm.errors import ConfigurationError


def init(
    business_name: Annotated[str | None, typer.Option(help="Shown to customers.")] = None,
    timezone: Annotated[str | None, typer.Option(help="IANA name, e.g. Asia/Hong_Kong.")] = None,
    database_url: Annotated[str | None, typer.Option(help="sqlite:/// or postgresql://")] = None,
    telegram_token: Annotated[str | None, typer.Option(help="From @BotFather.")] = None,
    telegram_api_url: Annotated[
        str | None, typer.Option(help="Bot API base URL (default: Telegram's).")
    ] = None,
    admin_telegram_id: Annotated[
        int | None, typer.Option(help="Your Telegram user id: the first admin.")
    ] = None,
    admin_name: Annotated[str, typer.Option(help="The first admin's name.")] = "Admin",
    smtp_host: Annotated[str | None, typer.Option(help="Outbound mail relay.")] = None,
    smtp_port: Annotated[int, typer.Option(help="Relay port.")] = 587,
    smtp_tls: Annotated[str, typer.Option(help="none, starttls or tls")] = "starttls",
    smtp_username: Annotated[str | None, typer.Option(help="Relay user name.")] = None,
    smtp_password: Annotated[str | None, typer.Option(help="Relay password.")] = None,
    mail_from: Annotated[str | None, typer.Option(help="From address of Rapport's mail.")] = None,
    imap_host: Annotated[str | None, typer.Option(help="Mailbox polled for replies.")] = None,
    imap_port: Annotated[int, typer.Option(help="IMAP port.")] = 993,
    imap_username: Annotated[str | None, typer.Option(help="IMAP user name.")] = None,
    imap_password: Annotated[str | None, typer.Option(help="IMAP password.")] = None,
    public_url: Annotated[
        str | None,
        typer.Option(help="https:// address customers reach Rapport's web server at (links)."),
    ] = None,
    env_file: Annotated[Path, typer.Option(help="Where to write the settings.")] = Path(".env"),
    force: Annotated[bool, typer.Option(help="Replace an existing settings file.")] = False,
    non_interactive: Annotated[
        bool, typer.Option("--non-interactive", help="Ask nothing; flags only.")
    ] = False,
) -> None:
    """Set Rapport up: check the database, Telegram and mail settings, then write .env.

    Each answer is tested against the real service (database opened and
    upgraded, SMTP EHLO and login, Telegram getMe, IMAP login); on a failure
    nothing is written and the one-line reason says which.

    Example: rapport init --non-interactive --business-name "Corner Shop" \\
    --timezone Asia/Hong_Kong --telegram-token 123:ABC --admin-telegram-id 42
    """
    from rapport.bot.first_run import Answers, initialise  # aiohttp and aiosmtplib: only here

    if env_file.exists() and not force:
        raise ConfigurationError(f"{env_file} exists; use --force to replace it")
    if not non_interactive:
        business_name = business_name or typer.prompt("Business name", default="My Shop")
        timezone = timezone or typer.prompt("Time zone (IANA)", default="UTC")
        database_url = database_url or typer.prompt("Database URL", default="sqlite:///rapport.db")
        if telegram_token is None:
            telegram_token = _optional("Telegram bot token (blank: no Telegram)", secret=True)
        if telegram_token and admin_telegram_id is None:
            given = _optional("Your Telegram user id (the first admin; blank: later)")
            admin_telegram_id = int(given) if given and given.isdigit() else None
        if smtp_host is None:
            smtp_host = _optional("SMTP relay host (blank: no outbound mail)")
        if smtp_host:
            smtp_port = typer.prompt("SMTP port", default=smtp_port)
            smtp_tls = typer.prompt("SMTP security (none, starttls, tls)", default=smtp_tls)
            smtp_username = smtp_username or _optional("SMTP user name (blank: none)")
            if smtp_username and not smtp_password:
                smtp_password = _optional("SMTP password", secret=True)
            mail_from = mail_from or typer.prompt("From address")
            if public_url is None:
                public_url = _optional(
                    "Public https:// address of Rapport's web server, for the unsubscribe "
                    "and confirmation links in mail (blank: this machine only, for trying)"
                )
        if imap_host is None:
            imap_host = _optional("IMAP host for replies (blank: none)")
        if imap_host:
            imap_port = typer.prompt("IMAP port", default=imap_port)
            imap_username = imap_username or typer.prompt("IMAP user name")
            imap_password = imap_password or typer.prompt("IMAP password", hide_input=True)
    if not business_name:
        raise ConfigurationError("give --business-name (required with --non-interactive)")
    answers = Answers(
        business_name=business_name,
        timezone=timezone or "UTC",
        database_url=database_url or "sqlite:///rapport.db",
        telegram_token=telegram_token or None,
        telegram_api_url=telegram_api_url,
        admin_telegram_id=admin_telegram_id,
        admin_name=admin_name,
        smtp_host=smtp_host or None,
        smtp_port=smtp_port,
        smtp_tls=smtp_tls,
        smtp_username=smtp_username or None,
        smtp_password=smtp_password or None,
        mail_from=mail_from or None,
        imap_host=imap_host or None,
        imap_port=imap_port,
        imap_username=imap_username or None,
        imap_password=imap_password or None,
        public_url=public_url or None,
    )
    initialise(answers, env_file, force=force, report=lambda line: out.print(f"✓ {line}"))
    out.print("next: `rapport programmes list`, then `rapport run`")


def _optional(question: str, *, secret: bool = False) -> str | None:
    answer = typer.prompt(question, default="", show_default=False, hide_input=secret)
    return answer.strip() or None
