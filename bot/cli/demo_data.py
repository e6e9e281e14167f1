"""`rapport demo-data`: fill a separate database with synthetic customers to try reports on."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from rapport.bot.cli.common import configured_settings, open_db, out
from rapport.bot.cli.progress import progress_bar

DEMO_URL = "sqlite:///rapport-demo.db"


def demo_data(
    customers: Annotated[int, typer.Option(min=1, max=1_000_000, help="How many.")] = 1000,
    database_url: Annotated[
        str, typer.Option(help="Where to write; never a database with real data.")
    ] = DEMO_URL,
    seed: Annotated[int, typer.Option(help="Same seed, same data.")] = 1,
) -> None:
    """Fill a separate database with realistic synthetic customers to try reports on.

    The database is marked as demo data; one holding real data is refused. A
    demo database is emptied and filled again. Point RAPPORT_DATABASE_URL at it
    to try `rapport report …` and the charts.

    Example: rapport demo-data --customers 5000 --seed 7
    """
    from rapport.bot.demo.fill import STAGES, fill_demo
    from rapport.crm import database

    settings = configured_settings()
    if database.normalise_url(database_url) == database.normalise_url(settings.database_url):
        out.print("note: this is your configured RAPPORT_DATABASE_URL; only an empty or demo "
                  "database is accepted")  # fmt: skip
    with open_db(database_url, new_ok=True) as db:
        with progress_bar("demo data: drawing customers", total=STAGES) as bar:

            def step(stage: str, n: int) -> None:
                bar.advance(n, description=f"demo data: {stage}")

            stats = fill_demo(
                db,
                customers,
                seed=seed,
                currency=settings.currency,
                points_per_currency_unit=settings.points_per_currency_unit,
                loyalty_tiers=settings.loyalty_tiers,
                progress=step,
            )
        table = Table("demo data", "rows")
        for label, value in (
            ("customers", stats.customers),
            ("addresses", stats.identities),
            ("orders", stats.orders),
            ("conversations", stats.conversations),
            ("messages", stats.interactions),
            ("campaigns", stats.campaigns),
            ("deliveries", stats.deliveries),
            ("survey answers", stats.survey_answers),
        ):
            table.add_row(label, f"{value:,}")
        out.print(table)
        out.print(f"try: RAPPORT_DATABASE_URL={database_url} rapport report programmes")
