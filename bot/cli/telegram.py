"""`rapport telegram …`: what the bot could not take in (dead letters)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from rapport.bot.cli.common import configured_settings, open_db, out, when

app = typer.Typer(no_args_is_help=True, help="The Telegram bot: updates it could not handle.")


@app.command("failed")
def telegram_failed(
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
    raw: Annotated[bool, typer.Option("--raw", help="Also print each update's JSON.")] = False,
) -> None:
    """Updates that could not be parsed or handled: dead ones, and those still retried.

    Texts and names in the JSON are redacted; ids and the update's shape remain.

    Example: rapport telegram failed --raw
    """
    from rapport.crm.customers.identity import TELEGRAM
    from rapport.crm.operations.dead_letters import dead_letters

    settings = configured_settings()
    with open_db(settings.database_url) as db:
        letters = dead_letters(db, channel=TELEGRAM, limit=limit)
    if not letters:
        out.print("No failed Telegram updates.")
        return
    table = Table("update", "kind", "state", "attempts", "first seen", "last seen", "error")
    for d in letters:
        state = (
            d.state
            if d.next_attempt_at is None
            else f"{d.state} (next {when(d.next_attempt_at, settings.zone)})"
        )
        table.add_row(
            str(d.update_id),
            d.kind,
            state,
            str(d.attempts),
            when(d.first_seen, settings.zone),
            when(d.last_seen, settings.zone),
            d.error,
        )
    out.print(table)
    if raw:
        for d in letters:
            out.print(f"update {d.update_id}: ", d.raw, sep="", soft_wrap=True)
