"""`rapport import orders` and `rapport points …`: orders in, the loyalty points ledger."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import Progress
from rich.table import Table

from rapport.bot.cli.common import configured_settings, open_db, out

import_app = typer.Typer(no_args_is_help=True, help="Bring data in from the business's systems.")
points_app = typer.Typer(no_args_is_help=True, help="The loyalty points ledger.")


@import_app.command("orders")
def import_orders_cmd(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    show_errors: Annotated[int, typer.Option(help="Row errors listed at most.")] = 50,
) -> None:
    """Import orders from CSV (customer, amount, currency, date, order_id); re-running is safe.

    Good rows go in; bad rows are skipped and listed by line number. Unknown
    email addresses become customers; unknown Telegram chat ids are refused.

    Example: rapport import orders orders.csv
    """

    from rapport.crm.value.orders import count_rows, import_orders_file

    settings = configured_settings()
    with open_db(settings.database_url) as db:
        with Progress(console=out, transient=True) as progress:
            task = progress.add_task("importing orders", total=count_rows(file))
            report = import_orders_file(
                db,
                file,
                shop_currency=settings.currency,
                points_per_currency_unit=settings.points_per_currency_unit,
                zone=settings.zone,
                source=f"csv:{file.name}"[:40],
                progress=lambda n: progress.advance(task, n),
            )
        out.print(
            f"{report.imported} imported, {report.duplicates} already there, "
            f"{len(report.errors)} refused; {report.new_customers} new customer(s), "
            f"{report.points} points earned"
        )
        if report.errors:
            table = Table("line", "reason")
            for error in report.errors[:show_errors]:
                table.add_row(str(error.row), error.reason)
            out.print(table)
            if len(report.errors) > show_errors:
                out.print(f"… and {len(report.errors) - show_errors} more")
            raise typer.Exit(1)


@points_app.command("balance")
def points_balance(customer_id: int) -> None:
    """A customer's points balance (the sum of their ledger entries).

    Example: rapport points balance 42
    """
    from rapport.crm.value.loyalty import balance

    with open_db(configured_settings().database_url) as db:
        out.print(f"customer {customer_id}: {balance(db, customer_id)} points")


@points_app.command("redeem")
def points_redeem(
    customer_id: int,
    points: int,
    reason: Annotated[str, typer.Option(help="What the points were spent on.")] = "redeemed",
) -> None:
    """Spend a customer's points; refused if the balance is too small.

    Example: rapport points redeem 42 500 --reason "gift voucher"
    """
    from rapport.crm.value.loyalty import redeem_points

    with open_db(configured_settings().database_url) as db:
        left = redeem_points(db, customer_id, points, reason)
        out.print(f"customer {customer_id}: {points} points redeemed, {left} left")
