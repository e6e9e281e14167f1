"""`rapport privacy …`: subject access exports, erasure and retention (audited)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated

import typer

from rapport.bot.cli.common import cli_actor, configured_settings, open_db, out
from rapport.crm.errors import InvalidInput

app = typer.Typer(no_args_is_help=True, help="Privacy requests and retention (audited).")


def _write_private(path: Path, text: str) -> None:
    """Owner-only from the start: the file holds a person's data."""
    with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
        f.write(text)


@app.command("export")
def privacy_export(
    who: Annotated[
        str, typer.Argument(help="Customer id, email address or telegram:<id>.", metavar="WHO")
    ],
    out_file: Annotated[
        Path | None, typer.Option("--out", help="Write the JSON here (default: stdout).")
    ] = None,
    html_file: Annotated[
        Path | None, typer.Option("--html", help="Also write a readable HTML page here.")
    ] = None,
) -> None:
    """Everything held about one customer, as JSON (and HTML), for a subject access request.

    Example: rapport privacy export ann@example.com --out ann.json --html ann.html
    """
    from rapport.crm.privacy.requests import export_customer, export_html, find_customer

    with open_db(configured_settings().database_url) as db:
        customer_id = find_customer(db, who)
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
    who: Annotated[
        str, typer.Argument(help="Customer id, email address or telegram:<id>.", metavar="WHO")
    ],
    yes: Annotated[bool, typer.Option("--yes", help="Confirm: this cannot be undone.")] = False,
) -> None:
    """Remove a customer's personal data and messages; anonymised totals stay for reports.

    Example: rapport privacy erase 42 --yes   (or an email address, or telegram:<id>)
    """
    from rapport.crm.privacy.requests import erase_customer, find_customer

    if not yes:
        raise InvalidInput("erasing cannot be undone; run again with --yes to confirm")
    with open_db(configured_settings().database_url) as db:
        e = erase_customer(db, cli_actor(), find_customer(db, who))
        out.print(
            f"customer {e.customer_id} erased: {e.identities} address(es), "
            f"{e.messages} message(s), {e.comments} survey comment(s), {e.tags} tag(s)"
        )
        if not e.scrubbed:
            out.print(
                "note: the database was busy, so old copies may stay in its files until "
                "the next erase; run the erase again when Rapport is quieter"
            )


@app.command("retention")
def privacy_retention() -> None:
    """Clear message bodies older than RAPPORT_RETENTION_MONTHS now (also run daily).

    Example: rapport privacy retention
    """
    from rapport.crm.privacy.requests import enforce_retention

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
