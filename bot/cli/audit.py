"""`rapport audit …`: who read or changed personal data."""

from __future__ import annotations

from typing import Annotated

import typer

from rapport.bot.cli.common import cli_actor, configured_settings, open_db, style
from rapport.bot.cli.render import FormatOption, OutputFormat, WideOption, show

app = typer.Typer(no_args_is_help=True, help="Who read or changed personal data.")


@app.command("list")
def audit_list(
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
    customer: Annotated[int | None, typer.Option(help="Only this customer.")] = None,
    fmt: FormatOption = OutputFormat.TABLE,
    wide: WideOption = False,
) -> None:
    """The newest audit events.

    Example: rapport audit list --customer 42 --limit 20
    """
    from rapport.bot.present.lists import audit_listing
    from rapport.crm.staff.roles import audit_trail

    settings = configured_settings()
    with open_db(settings.database_url) as db:
        events = audit_trail(db, cli_actor(), limit=limit, customer_id=customer)
    show(audit_listing(events, settings.zone), style(settings), fmt, wide=wide)
