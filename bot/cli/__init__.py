"""The `rapport` command line: the same operations staff have in the bot.

One module per noun (`rapport customers …` lives in customers.py, and so on);
common.py holds what they share. Errors the core raises as `RapportError`
become one line on stderr and exit code 2; anything else is a bug and keeps
its traceback.
"""

from __future__ import annotations

import sys

import typer

from rapport.bot.cli import (
    api_keys,
    audit,
    campaigns,
    consent,
    conversations,
    customers,
    db,
    demo_data,
    ingest,
    init,
    mail,
    privacy,
    programmes,
    reports,
    run,
    segments,
    staff,
    value,
    webhooks,
)
from rapport.crm.errors import RapportError

app = typer.Typer(no_args_is_help=True, add_completion=False, help="Rapport CRM bot.")
app.command("init")(init.init)
app.command("demo-data")(demo_data.demo_data)
app.command()(run.run)
app.command()(run.worker)
app.command()(ingest.ingest)
app.add_typer(db.app, name="db")
app.add_typer(customers.app, name="customers")
app.add_typer(campaigns.app, name="campaigns")
app.add_typer(reports.app, name="report")
app.add_typer(staff.app, name="staff")
app.add_typer(audit.app, name="audit")
app.add_typer(segments.app, name="segments")
app.add_typer(privacy.app, name="privacy")
app.add_typer(value.import_app, name="import")
app.add_typer(value.points_app, name="points")
app.add_typer(programmes.app, name="programmes")
app.add_typer(conversations.app, name="conversations")
app.add_typer(consent.app, name="consent")
app.add_typer(mail.app, name="mail")
app.add_typer(api_keys.app, name="api-keys")
app.add_typer(webhooks.app, name="webhooks")


def main() -> None:
    try:
        app()
    except RapportError as exc:
        print(f"rapport: {exc}", file=sys.stderr)
        sys.exit(2)
