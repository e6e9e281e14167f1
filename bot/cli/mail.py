"""`rapport mail …`: bounces, complaints and auto-replies received, and what Rapport did."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from rapport.bot.cli.common import acting, configured_settings, open_db, out

app = typer.Typer(no_args_is_help=True, help="Bounces, complaints and auto-replies received.")


@app.command("reports")
def mail_reports(
    unmatched: Annotated[bool, typer.Option("--unmatched", help="Only unmatched ones.")] = False,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
) -> None:
    """Bounces, complaints and auto-replies, newest first, and what Rapport did (audited).

    Example: rapport mail reports --unmatched
    """
    from rapport.crm.interactions.bounces import list_reports
    from rapport.crm.staff.roles import Permission

    settings = configured_settings()
    with open_db(settings.database_url) as db:
        actor = acting(db, None, Permission.VIEW_CUSTOMERS)
        rows = list_reports(db, actor, unmatched_only=unmatched, limit=limit)
    if not rows:
        out.print("no mail reports" + (" unmatched" if unmatched else ""))
        return
    table = Table("received", "kind", "recipient", "status", "customer", "outcome")
    for r in rows:
        table.add_row(
            f"{r.received_at.astimezone(settings.zone):%Y-%m-%d %H:%M}",
            r.kind,
            r.recipient or "—",
            r.status or "—",
            str(r.customer_id or "unmatched"),
            r.outcome,
        )
    out.print(table)
