"""`rapport webhooks …`: where events are POSTed, and their deliveries (the CLI acts as admin)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from rapport.bot.cli.common import cli_actor, configured_settings, open_db, out, when

app = typer.Typer(no_args_is_help=True, help="Outgoing webhooks (docs/api.md).")


@app.command("add")
def webhooks_add(
    url: Annotated[str, typer.Argument(help="The receiver, http:// or https://.")],
    events: Annotated[str, typer.Option(help="Event types, comma-separated, or * for all.")] = "*",
    secret: Annotated[
        str | None, typer.Option(help="Signing secret (default: a random one, printed).")
    ] = None,
) -> None:
    """Subscribe a URL to events; prints the secret its deliveries are signed with.

    Example: rapport webhooks add https://shop.example/hooks --events message.received
    """
    from rapport.crm.integrations.subscriptions import add_subscription

    with open_db(configured_settings().database_url) as db:
        sub = add_subscription(db, cli_actor(), url=url, event_types=events, secret=secret)
    out.print(f"webhook {sub.id} → {sub.url} for {' '.join(sub.event_types)}; signing secret:")
    print(sub.secret)


@app.command("list")
def webhooks_list(
    deliveries: Annotated[
        bool, typer.Option("--deliveries", help="List recent deliveries instead.")
    ] = False,
    status: Annotated[
        str | None, typer.Option(help="With --deliveries: pending, delivered or failed.")
    ] = None,
    limit: Annotated[int, typer.Option(help="With --deliveries: how many.")] = 50,
) -> None:
    """The subscriptions, or (--deliveries) the latest deliveries with their last outcome.

    Example: rapport webhooks list --deliveries --status failed
    """
    from rapport.crm.integrations.deliveries import list_deliveries
    from rapport.crm.integrations.subscriptions import list_subscriptions

    settings = configured_settings()
    with open_db(settings.database_url) as db:
        if deliveries:
            table = Table(
                "id", "event", "type", "webhook", "status", "attempts", "next / delivered", "last"
            )
            for d in list_deliveries(db, status=status, limit=limit):
                table.add_row(
                    str(d.id), d.event_id, d.event_type, str(d.subscription_id), d.status,
                    str(d.attempts),
                    when(d.delivered_at if d.delivered_at else d.next_attempt_at, settings.zone),
                    d.last_error or (str(d.last_status) if d.last_status else "—"),
                )  # fmt: skip
        else:
            table = Table("id", "url", "events", "since")
            for s in list_subscriptions(db):
                table.add_row(
                    str(s.id), s.url, " ".join(s.event_types), when(s.created_at, settings.zone)
                )
        out.print(table)


@app.command("remove")
def webhooks_remove(subscription_id: int) -> None:
    """Stop sending to a subscription (its undelivered events are dropped).

    Example: rapport webhooks remove 1
    """
    from rapport.crm.integrations.subscriptions import remove_subscription

    with open_db(configured_settings().database_url) as db:
        dropped = remove_subscription(db, cli_actor(), subscription_id)
    out.print(f"webhook {subscription_id} removed ({dropped} undelivered event(s) dropped)")


@app.command("redeliver")
def webhooks_redeliver(
    delivery_ids: Annotated[list[int] | None, typer.Argument(help="Delivery ids.")] = None,
    event: Annotated[str | None, typer.Option(help="An event id: to every webhook.")] = None,
    failed: Annotated[bool, typer.Option("--failed", help="Every failed delivery.")] = False,
) -> None:
    """Send deliveries again from their first attempt (also ones already delivered).

    Example: rapport webhooks redeliver --failed
    """
    from rapport.crm.integrations.deliveries import redeliver

    with open_db(configured_settings().database_url) as db:
        count = redeliver(
            db, cli_actor(), delivery_ids=delivery_ids or (), event_id=event, all_failed=failed
        )
    out.print(f"{count} delivery(ies) queued again")
