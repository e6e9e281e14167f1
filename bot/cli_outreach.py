"""Email outreach commands: import customers, invite, record consent, preview and test campaigns.

Kept out of bot/cli.py, which registers these on the `rapport` app
(`customers import|invite`, `consent grant|withdraw`, `campaigns preview|test`,
`mail reports`).
"""

from __future__ import annotations

import asyncio
import getpass
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from rapport.bot import logs
from rapport.crm.database import Database
from rapport.crm.errors import InvalidInput
from rapport.crm.settings import Settings, load_settings
from rapport.crm.staff.audit import Actor
from rapport.crm.staff.roles import Permission
from rapport.migrations import schema

consent_app = typer.Typer(
    no_args_is_help=True, help="Record marketing consent given or withdrawn elsewhere (audited)."
)
mail_app = typer.Typer(no_args_is_help=True, help="Bounces, complaints and auto-replies received.")
out = Console()
SHOWN_ERRORS = 50


def _settings() -> Settings:
    settings = load_settings()
    logs.configure(settings.log_level)
    return settings


def _actor(db: Database, staff_id: int | None, permission: Permission) -> Actor:
    """The staff member acting (their role checked), or the CLI operator (an admin)."""
    from rapport.crm.models import StaffMember
    from rapport.crm.staff.roles import actor_for, authorise

    if staff_id is None:
        return Actor(label=f"cli:{getpass.getuser()}")
    with db.session() as session:
        member = session.get(StaffMember, staff_id)
    if member is None or not member.active:
        raise InvalidInput(f"no active staff member {staff_id} (see rapport staff list)")
    return actor_for(authorise(member, permission))


StaffOption = Annotated[
    int | None, typer.Option("--staff", help="Staff id acting (default: the CLI, as admin).")
]


def customers_import(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    staff: StaffOption = None,
) -> None:
    """Import customers from CSV: email, name, telegram_id, tags, consent, consent_source,
    consent_at (docs/privacy.md). All rows or none; re-running is safe.

    Example: rapport customers import customers.csv
    """
    from rich.progress import Progress

    from rapport.crm.customers.importing import import_customers_file
    from rapport.crm.value.orders import count_rows

    settings = _settings()
    db = schema.open_database(settings.database_url)
    actor = _actor(db, staff, Permission.MANAGE_CONSENT)
    total = count_rows(file)
    with Progress(console=out, transient=True) as progress:
        checking = progress.add_task("checking rows", total=total)
        writing = progress.add_task("writing", total=total, visible=False)

        def wrote(n: int) -> None:
            progress.update(writing, visible=True, advance=n)

        report = import_customers_file(
            db,
            file,
            actor,
            zone=settings.zone,
            checked=lambda n: progress.advance(checking, n),
            written=wrote,
        )
    if report.errors:
        out.print(f"{len(report.errors)} bad row(s) in {escape(file.name)}; nothing was imported:")
        table = Table("line", "problem")
        for error in report.errors[:SHOWN_ERRORS]:
            table.add_row(str(error.line), escape(error.reason))
        out.print(table)
        if len(report.errors) > SHOWN_ERRORS:
            out.print(f"… and {len(report.errors) - SHOWN_ERRORS} more")
        out.print("fix them and run the import again")
        raise typer.Exit(1)
    out.print(
        f"{report.rows} row(s): {report.created} new customer(s), {report.updated} updated, "
        f"{report.unchanged} unchanged; {report.consents} email consent(s) recorded"
    )
    if report.kept_withdrawn:
        lines = ", ".join(str(n) for n in report.kept_withdrawn[:20])
        out.print(
            f"{len(report.kept_withdrawn)} consent(s) not recorded: the customer withdrew after "
            f"that date (line(s) {lines})"
        )


def _consent(customer_id: int, channel: str, source: str, staff: int | None, granted: bool) -> None:
    from rapport.crm.privacy.consent import staff_consent

    db = schema.open_database(_settings().database_url)
    actor = _actor(db, staff, Permission.MANAGE_CONSENT)
    staff_consent(db, actor, customer_id, channel, granted=granted, source=source)
    state = "granted" if granted else "withdrawn"
    out.print(f"customer {customer_id}: marketing consent by {channel} {state} ({escape(source)})")


ChannelOption = Annotated[str, typer.Option(help="email or telegram")]
SourceOption = Annotated[
    str, typer.Option(help='Where it was given: "signed form at the till, 2026-11-20".')
]


@consent_app.command("grant")
def consent_grant(
    customer_id: int,
    source: SourceOption,
    channel: ChannelOption = "email",
    staff: StaffOption = None,
) -> None:
    """Record consent a customer gave in the shop or on paper (admin or manager).

    Example: rapport consent grant 42 --channel email --source "signed form, 2026-11-20"
    """
    _consent(customer_id, channel, source, staff, True)


@consent_app.command("withdraw")
def consent_withdraw(
    customer_id: int,
    source: SourceOption,
    channel: ChannelOption = "email",
    staff: StaffOption = None,
) -> None:
    """Record that a customer withdrew consent (by phone, in person).

    Example: rapport consent withdraw 42 --channel email --source "asked by phone"
    """
    _consent(customer_id, channel, source, staff, False)


def customers_invite(
    email: str,
    name: Annotated[str | None, typer.Option(help="Their name, for the greeting.")] = None,
    staff: StaffOption = None,
) -> None:
    """Send a double opt-in mail: consent is recorded only when they confirm (link or YES).

    Example: rapport customers invite ann@example.com --name "Ann Lee"
    """
    from rapport.bot.opt_in_mail import send_invitation
    from rapport.bot.services import close_channels, outbound_channels

    settings = _settings()
    db = schema.open_database(settings.database_url)
    actor = _actor(db, staff, Permission.MANAGE_CONSENT)
    channels = outbound_channels(settings)
    sender = channels.get("email")
    if sender is None:
        raise InvalidInput("sending mail is off: set RAPPORT_SMTP_HOST and RAPPORT_MAIL_FROM")

    async def send() -> str:
        try:
            return await send_invitation(db, settings, sender, email, name, actor.label)
        finally:
            await close_channels(channels)

    out.print(escape(asyncio.run(send())))


def campaigns_preview(
    campaign: str,
    customer: Annotated[int | None, typer.Option(help="Customer id (default: a sample).")] = None,
) -> None:
    """Print a campaign's message exactly as one customer would get it (audited).

    Example: rapport campaigns preview "Monthly CSAT" --customer 42
    """
    from rapport.bot.campaign_preview import preview_text

    settings = _settings()
    db = schema.open_database(settings.database_url)
    actor = _actor(db, None, Permission.RUN_CAMPAIGNS)
    print(preview_text(db, settings, actor, campaign, customer))


def campaigns_test(
    campaign: str,
    email: Annotated[str | None, typer.Option(help="Send the test to this address.")] = None,
    telegram_id: Annotated[int | None, typer.Option(help="…or to this Telegram chat.")] = None,
) -> None:
    """Send one real test message through the channel; it never counts anywhere.

    A test is marked "[TEST]", goes to the address given (not a customer's
    history, reports or frequency cap) and its unsubscribe link changes nothing.

    Example: rapport campaigns test "Monthly CSAT" --email me@shop.example
    """
    from rapport.bot.campaign_preview import send_test

    if (email is None) == (telegram_id is None):
        raise InvalidInput("give one of --email ADDRESS or --telegram-id CHAT_ID")
    settings = _settings()
    db = schema.open_database(settings.database_url)
    actor = _actor(db, None, Permission.RUN_CAMPAIGNS)
    channel, address = ("email", email) if email is not None else ("telegram", str(telegram_id))
    assert address is not None
    out.print(escape(asyncio.run(send_test(db, settings, actor, campaign, channel, address))))


@mail_app.command("reports")
def mail_reports(
    unmatched: Annotated[bool, typer.Option("--unmatched", help="Only unmatched ones.")] = False,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
) -> None:
    """Bounces, complaints and auto-replies, newest first, and what Rapport did (audited).

    Example: rapport mail reports --unmatched
    """
    from rapport.crm.interactions.bounces import list_reports

    settings = _settings()
    db = schema.open_database(settings.database_url)
    actor = _actor(db, None, Permission.VIEW_CUSTOMERS)
    table = Table("received", "kind", "recipient", "status", "customer", "outcome")
    rows = list_reports(db, actor, unmatched_only=unmatched, limit=limit)
    for r in rows:
        table.add_row(
            f"{r.received_at.astimezone(settings.zone):%Y-%m-%d %H:%M}",
            r.kind,
            escape(r.recipient or "—"),
            r.status or "—",
            str(r.customer_id or "unmatched"),
            escape(r.outcome),
        )
    if rows:
        out.print(table)
    else:
        out.print("no mail reports" + (" unmatched" if unmatched else ""))
