"""`rapport customers …`: look customers up, tag, merge and value them (audited reads)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from rapport.bot.cli.common import (
    StaffOption,
    acting,
    cli_actor,
    configured_settings,
    open_db,
    out,
    style,
    when,
)
from rapport.bot.cli.progress import progress_bar
from rapport.bot.cli.render import FormatOption, OutputFormat, WideOption, show
from rapport.crm.errors import InvalidInput

app = typer.Typer(no_args_is_help=True, help="Look customers up (audited).")


@app.command("list")
def customers_list(
    search: Annotated[str | None, typer.Option(help="Part of a name or address.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
    fmt: FormatOption = OutputFormat.TABLE,
    wide: WideOption = False,
) -> None:
    """Customers, most recently active first (times in RAPPORT_TIMEZONE).

    Example: rapport customers list --search ann --limit 20
    """
    from rapport.bot.present.lists import customer_listing
    from rapport.crm.customers.profiles import list_customers

    settings = configured_settings()
    with open_db(settings.database_url) as db:
        rows = list_customers(db, cli_actor(), search=search, limit=limit)
    show(customer_listing(rows, settings.zone), style(settings), fmt, wide=wide)


@app.command("show")
def customers_show(customer_id: int) -> None:
    """One customer's profile, identities and recent messages (times in RAPPORT_TIMEZONE).

    Example: rapport customers show 42
    """
    from rapport.crm.customers.profiles import customer_profile

    settings = configured_settings()
    zone = settings.zone
    with open_db(settings.database_url) as db:
        p = customer_profile(db, cli_actor(), customer_id)
        s = p.summary
        out.print(Text(f"#{s.id} {s.display_name or '(no name)'}", style="bold"))
        out.print(
            f"customer since {when(p.created_at, zone)}, first contact by {s.first_seen_channel}"
        )
        out.print(f"marketing consent: {'yes' if p.marketing_consent else 'no'}")
        for channel, external_id in p.identities:
            out.print(f"  {channel}: {external_id}")
        mood = "unscored" if p.average_polarity is None else f"{p.average_polarity:+.2f}"
        out.print(f"{s.interactions:,} message(s), average sentiment {mood} (−1 to +1)")
        if p.open_conversation_id:
            out.print(f"open conversation #{p.open_conversation_id}")
        for r in p.recent:
            arrow = "←" if r.direction == "in" else "→"
            score = "" if r.polarity is None else f" ({r.polarity:+.2f})"
            body = (r.body or "")[:120]
            out.print(f"  {when(r.sent_at, zone)} {arrow} {r.channel}{score}: {body}")


@app.command("tag")
def customers_tag(customer_id: int, tags: list[str]) -> None:
    """Put tags on a customer (e.g. vip corporate).

    Example: rapport customers tag 42 vip corporate
    """
    from rapport.crm.customers.tags import add_tags

    with open_db(configured_settings().database_url) as db:
        now = add_tags(db, customer_id, tags)
        out.print(f"customer {customer_id} tags: {', '.join(now)}")


@app.command("untag")
def customers_untag(customer_id: int, tags: list[str]) -> None:
    """Take tags off a customer.

    Example: rapport customers untag 42 corporate
    """
    from rapport.crm.customers.tags import remove_tags

    with open_db(configured_settings().database_url) as db:
        left = remove_tags(db, customer_id, tags)
        out.print(f"customer {customer_id} tags: {', '.join(left) or '(none)'}")


@app.command("merge")
def customers_merge(
    keep_id: int,
    absorb_id: int,
    yes: Annotated[bool, typer.Option("--yes", help="Confirm: this cannot be undone.")] = False,
) -> None:
    """Merge customer ABSORB_ID into KEEP_ID (one person): all history moves, ABSORB_ID goes.

    Example: rapport customers merge 12 48 --yes
    """
    from rapport.crm.customers.merge import merge_customers

    if not yes:
        raise InvalidInput("a merge cannot be undone; run again with --yes to confirm")
    with open_db(configured_settings().database_url) as db:
        r = merge_customers(db, keep_id, absorb_id, cli_actor())
        out.print(
            f"customer {r.absorbed_id} merged into {r.kept_id}: {r.identities} address(es), "
            f"{r.interactions} message(s), "
            f"{r.deliveries_folded} shared campaign delivery(ies) folded"
        )


@app.command("values")
def customers_values(
    customer_id: Annotated[int | None, typer.Argument(help="Explain one customer.")] = None,
    recompute: Annotated[
        bool, typer.Option(help="Recompute every customer's values first.")
    ] = False,
    fmt: FormatOption = OutputFormat.TABLE,
    wide: WideOption = False,
) -> None:
    """Customer value: recompute, then explain one customer or count customers per tier.

    Example: rapport customers values --recompute
    """
    from rapport.bot import report_listings
    from rapport.crm.customers.profiles import customer_profile
    from rapport.crm.value.loyalty import expire_points, parse_tiers
    from rapport.crm.value.scores import (
        RECOMPUTE_STAGES,
        explain_value,
        recompute_values,
    )

    settings = configured_settings()
    with open_db(settings.database_url) as db:
        if recompute:
            with progress_bar("values: expiring points", total=1 + RECOMPUTE_STAGES) as bar:
                expired = expire_points(db, settings.points_expire_months)
                stats = recompute_values(
                    db,
                    tiers=parse_tiers(settings.loyalty_tiers),
                    progress=lambda stage: bar.advance(description=f"values: {stage}"),
                )
            out.print(
                f"values recomputed for {stats.customers} customer(s), {stats.with_orders} with "
                f"orders; {stats.tier_changes} loyalty tier change(s); {expired} point(s) expired"
            )
        if customer_id is not None:
            customer_profile(db, cli_actor(), customer_id, recent=0)  # audited read
            for line in explain_value(db, customer_id):
                out.print(line)
            return
        listing = report_listings.value(db)
    show(listing, style(settings), fmt, wide=wide)


SHOWN_ERRORS = 50


@app.command("import")
def customers_import(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    staff: StaffOption = None,
) -> None:
    """Import customers from CSV: email, name, telegram_id, tags, consent, consent_source,
    consent_at (docs/privacy.md). All rows or none; re-running is safe.

    Example: rapport customers import customers.csv
    """
    from rapport.crm.customers.importing import import_customers_file
    from rapport.crm.staff.roles import Permission
    from rapport.crm.value.orders import count_rows

    settings = configured_settings()
    with open_db(settings.database_url) as db:
        actor = acting(db, staff, Permission.MANAGE_CONSENT)
        with progress_bar("customers import: checking rows") as bar:
            if bar.shown:
                bar.update(total=count_rows(file))
            writing = False

            def wrote(n: int) -> None:
                nonlocal writing
                if not writing:  # the second pass: the same bar, counted again from 0
                    writing = True
                    bar.update(completed=0, description="customers import: writing")
                bar.advance(n)

            report = import_customers_file(
                db, file, actor, zone=settings.zone, checked=bar.advance, written=wrote
            )
    if report.errors:
        out.print(f"{len(report.errors)} bad row(s) in {file.name}; nothing was imported:")
        table = Table("line", "problem")
        for error in report.errors[:SHOWN_ERRORS]:
            table.add_row(str(error.line), Text(error.reason))
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


@app.command("invite")
def customers_invite(
    email: str,
    name: Annotated[str | None, typer.Option(help="Their name, for the greeting.")] = None,
    staff: StaffOption = None,
) -> None:
    """Send a double opt-in mail: consent is recorded only when they confirm (link or YES).

    Example: rapport customers invite ann@example.com --name "Ann Lee"
    """
    import asyncio

    from rapport.bot.opt_in_mail import send_invitation
    from rapport.channels.registry import OutboundChannels
    from rapport.crm.staff.roles import Permission

    settings = configured_settings()
    outbound = OutboundChannels.from_settings(settings)
    sender = outbound.email
    if sender is None:
        raise InvalidInput("sending mail is off: set RAPPORT_SMTP_HOST and RAPPORT_MAIL_FROM")
    with open_db(settings.database_url) as db:
        actor = acting(db, staff, Permission.MANAGE_CONSENT)

        async def send() -> str:
            async with outbound:
                return await send_invitation(db, settings, sender, email, name, actor.label)

        out.print(asyncio.run(send()))
