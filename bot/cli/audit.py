"""`rapport audit …`: who read or changed personal data."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from rapport.bot.cli.common import cli_actor, configured_settings, open_db, out, when
from rapport.crm.staff.roles import audit_trail

app = typer.Typer(no_args_is_help=True, help="Who read or changed personal data.")


@app.command("list")
def audit_list(
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
    customer: Annotated[int | None, typer.Option(help="Only this customer.")] = None,
) -> None:
    """The newest audit events.

    Example: rapport audit list --customer 42 --limit 20
    """
    with open_db(configured_settings().database_url) as db:
        table = Table("when", "who", "what", "customer", "detail")
        for e in audit_trail(db, cli_actor(), limit=limit, customer_id=customer):
            table.add_row(when(e.at), e.actor, e.action, str(e.customer_id or "—"), e.detail or "")
        out.print(table)
