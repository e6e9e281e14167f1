"""`rapport privacy …`: subject access exports, erasure and retention (audited)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated

import typer

from rapport.bot.cli.common import cli_actor, configured_settings, open_db, out
from rapport.crm.errors import InvalidInput
from rapport.crm.privacy.requests import (
    enforce_retention,
    erase_customer,
    export_customer,
    export_html,
)

app = typer.Typer(no_args_is_help=True, help="Privacy requests and retention (audited).")


def _write_private(path: Path, text: str) -> None:
    """Owner-only from the start: the file holds a person's data."""
    with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
        f.write(text)


@app.command("export")
def privacy_export(
    customer_id: int,
    out_file: Annotated[
        Path | None, typer.Option("--out", help="Write the JSON here (default: stdout).")
    ] = None,
    html_file: Annotated[
        Path | None, typer.Option("--html", help="Also write a readable HTML page here.")
    ] = None,
) -> None:
    """Everything held about one customer, as JSON (and HTML), for a subject access request.

    Example: rapport privacy export 42 --out ann.json --html ann.html
    """
    with open_db(configured_settings().database_url) as db:
        data = export_customer(db, cli_actor(), customer_id)
        text = json.dumps(data, ensure_ascii=False, indent=2)
        if out_file is None:
            print(text)
        else:
            _write_private(out_file, text + "\n")
        if html_file is not None:
            _write_private(html_file, export_html(data))
        rows = sum(len(v) for v in data["tables"].values())
        if out_file is not None or html_file is not None:
            out.print(f"customer {customer_id}: {rows} rows exported")


@app.command("erase")
def privacy_erase(
    customer_id: int,
    yes: Annotated[bool, typer.Option("--yes", help="Confirm: this cannot be undone.")] = False,
) -> None:
    """Remove a customer's personal data and messages; anonymised totals stay for reports.

    Example: rapport privacy erase 42 --yes
    """
    if not yes:
        raise InvalidInput("erasing cannot be undone; run again with --yes to confirm")
    with open_db(configured_settings().database_url) as db:
        e = erase_customer(db, cli_actor(), customer_id)
        out.print(
            f"customer {e.customer_id} erased: {e.identities} address(es), "
            f"{e.messages} message(s), {e.comments} survey comment(s), {e.tags} tag(s)"
        )


@app.command("retention")
def privacy_retention() -> None:
    """Clear message bodies older than RAPPORT_RETENTION_MONTHS now (also run daily).

    Example: rapport privacy retention
    """
    settings = configured_settings()
    with open_db(settings.database_url) as db:
        result = enforce_retention(db, months=settings.retention_months)
        if result.cutoff is None:
            out.print("retention is off (RAPPORT_RETENTION_MONTHS=0): nothing cleared")
            return
        out.print(
            f"cleared {result.messages} message(s) and {result.comments} comment(s) "
            f"older than {result.cutoff:%Y-%m-%d}"
        )
