"""First-run commands: `rapport init`, `rapport programmes …`, `rapport demo-data`.

Kept out of bot/cli.py so the first-run experience reads as one piece; cli.py
registers these on the `rapport` app.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from rapport.bot import logs
from rapport.crm import database
from rapport.crm.errors import ConfigurationError
from rapport.crm.settings import Settings, load_settings
from rapport.migrations import schema

programmes_app = typer.Typer(
    no_args_is_help=True, help="Ready programme templates (welcome, CSAT, NPS, loyalty, …)."
)
out = Console()
DEMO_URL = "sqlite:///rapport-demo.db"


def _settings() -> Settings:
    settings = load_settings()
    logs.configure(settings.log_level)
    return settings


@programmes_app.command("list")
def programmes_list() -> None:
    """Every programme template: what it does, the standard it serves, what it creates.

    Example: rapport programmes list
    """
    from rapport.crm.campaigns.programmes import installed_programmes, list_programmes

    installed = installed_programmes(schema.open_database(_settings().database_url))
    table = Table("name", "programme", "competency", "creates", "installed", show_lines=True)
    for p in list_programmes():
        creates = "\n".join(f"{s.campaign.name} ({s.campaign.kind})" for s in p.steps)
        table.add_row(
            p.name,
            f"[bold]{p.title}[/bold]\n{p.description}",
            p.competency,
            creates,
            "yes" if p.name in installed else "—",
        )
    out.print(table)


@programmes_app.command("show")
def programmes_show(name: str) -> None:
    """A programme template as JSON: its segment rules and campaign settings.

    Example: rapport programmes show win-back
    """
    from rapport.crm.campaigns.programmes import get_programme, programme_json

    print(programme_json(get_programme(name)))


@programmes_app.command("install")
def programmes_install(
    name: Annotated[str, typer.Argument(help="Template name (see `rapport programmes list`).")],
    timezone: Annotated[str | None, typer.Option(help="Default: RAPPORT_TIMEZONE.")] = None,
    cron: Annotated[str | None, typer.Option(help="Replace every step's schedule.")] = None,
    channel: Annotated[str | None, typer.Option(help="last_active, email or telegram")] = None,
    offer_code: Annotated[str | None, typer.Option(help="Your own offer code.")] = None,
    active: Annotated[
        bool, typer.Option("--active", help="Start at once instead of paused.")
    ] = False,
) -> None:
    """Create a programme's segments and campaigns; they start paused for you to edit.

    Review the texts (`rapport campaigns show NAME`), then `rapport campaigns
    resume NAME` to start each campaign.

    Example: rapport programmes install welcome --timezone Asia/Hong_Kong
    """
    from rapport.crm.campaigns.programmes import install_programme

    settings = _settings()
    db = schema.open_database(settings.database_url)
    overrides = {
        "timezone": timezone or settings.timezone,
        "schedule_cron": cron,
        "channel": channel,
        "offer_code": offer_code,
    }
    installed = install_programme(db, name, overrides=overrides, active=active)
    state = "active" if active else "paused"
    out.print(
        f"programme {installed.programme}: {len(installed.segments)} segment(s), "
        f"{len(installed.campaigns)} campaign(s) {state} (ids "
        f"{', '.join(map(str, installed.campaigns))})"
    )
    if not active:
        out.print("review them with `rapport campaigns list`, then `rapport campaigns resume ID`")


def demo_data(
    customers: Annotated[int, typer.Option(min=1, max=1_000_000, help="How many.")] = 1000,
    database_url: Annotated[
        str, typer.Option(help="Where to write; never a database with real data.")
    ] = DEMO_URL,
    seed: Annotated[int, typer.Option(help="Same seed, same data.")] = 1,
) -> None:
    """Fill a separate database with realistic synthetic customers to try reports on.

    The database is marked as demo data; one holding real data is refused. A
    demo database is emptied and filled again. Point RAPPORT_DATABASE_URL at it
    to try `rapport report …` and the charts.

    Example: rapport demo-data --customers 5000 --seed 7
    """
    from rapport.bot.demo import STAGES, fill_demo

    settings = _settings()
    if database.normalise_url(database_url) == database.normalise_url(settings.database_url):
        out.print("note: this is your configured RAPPORT_DATABASE_URL; only an empty or demo "
                  "database is accepted")  # fmt: skip
    db = schema.open_database(database_url)
    columns = (TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn())
    with Progress(*columns, console=out, transient=True) as progress:
        task = progress.add_task("demo data: drawing customers", total=STAGES)

        def step(stage: str, n: int) -> None:
            progress.update(task, advance=n, description=f"demo data: {stage}")

        stats = fill_demo(
            db,
            customers,
            seed=seed,
            currency=settings.currency,
            points_per_currency_unit=settings.points_per_currency_unit,
            loyalty_tiers=settings.loyalty_tiers,
            progress=step,
        )
    table = Table("demo data", "rows")
    for label, value in (
        ("customers", stats.customers),
        ("addresses", stats.identities),
        ("orders", stats.orders),
        ("conversations", stats.conversations),
        ("messages", stats.interactions),
        ("campaigns", stats.campaigns),
        ("deliveries", stats.deliveries),
        ("survey answers", stats.survey_answers),
    ):
        table.add_row(label, f"{value:,}")
    out.print(table)
    out.print(f"try: RAPPORT_DATABASE_URL={escape(database_url)} rapport report programmes")


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
    )
    initialise(answers, env_file, force=force, report=lambda line: out.print(f"✓ {line}"))
    out.print("next: `rapport programmes list`, then `rapport run`")


def _optional(question: str, *, secret: bool = False) -> str | None:
    answer = typer.prompt(question, default="", show_default=False, hide_input=secret)
    return answer.strip() or None
