"""The `rapport` command line: the same operations staff have in the bot.

One module per noun (`rapport customers …` lives in customers.py, and so on);
common.py holds what they share. Errors the core raises as `RapportError`
become one line on stderr and exit code 2, and so does everything else: a
database that cannot be opened, and any unexpected error (a bug), whose
traceback goes to the log at DEBUG, or to stderr with `--debug` (anywhere on
the command line).
"""

from __future__ import annotations

import logging
import sys
import traceback

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
    health,
    ingest,
    init,
    mail,
    privacy,
    programmes,
    reports,
    run,
    segments,
    staff,
    telegram,
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
app.command()(health.health)
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
app.add_typer(telegram.app, name="telegram")
app.add_typer(api_keys.app, name="api-keys")
app.add_typer(webhooks.app, name="webhooks")


def main() -> None:
    debug = "--debug" in sys.argv[1:]
    if debug:
        sys.argv = [a for a in sys.argv if a != "--debug"]
    try:
        app()
    except RapportError as exc:
        print(f"rapport: {_one_line(str(exc))}", file=sys.stderr)
        sys.exit(2)
    except Exception as exc:  # every failure is one line; the traceback is for --debug
        if debug:
            traceback.print_exc()
        else:
            logging.getLogger("rapport.bot.cli").debug("command failed", exc_info=True)
        print(f"rapport: {failure_line(exc)}", file=sys.stderr)
        sys.exit(2)


def failure_line(exc: BaseException) -> str:
    """One line saying what failed: the database, or an unexpected error by its type.

    Checked by module name, so the CLI need not import SQLAlchemy to recognise
    its errors (tests/bot/cli/test_cli_start.py).
    """
    kind = type(exc)
    if kind.__module__.startswith("sqlalchemy") and kind.__name__ in _DB_OPEN_ERRORS:
        reason = getattr(exc, "orig", None) or exc
        return f"cannot open the database: {_one_line(str(reason))} (check RAPPORT_DATABASE_URL)"
    return (
        f"unexpected error ({kind.__name__}): {_one_line(str(exc)) or 'no detail'}; "
        "run again with --debug for the traceback"
    )


_DB_OPEN_ERRORS = frozenset(
    {"OperationalError", "InterfaceError", "DatabaseError", "ArgumentError", "NoSuchModuleError"}
)


def _one_line(text: str, limit: int = 300) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"
