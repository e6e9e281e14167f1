"""`rapport api-keys …`: keys for the HTTP API (the CLI acts as admin)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from rapport.bot.cli.common import cli_actor, configured_settings, open_db, out, when

app = typer.Typer(no_args_is_help=True, help="API keys for the HTTP API (docs/api.md).")


@app.command("create")
def api_keys_create(
    name: Annotated[str, typer.Option(help="Who uses the key (the shop, the ERP).")],
    scope: Annotated[str, typer.Option(help="agent, manager or admin: that role's permissions.")],
) -> None:
    """Create a key and print it once (only its hash is kept).

    Example: rapport api-keys create --name shop --scope manager
    """
    from rapport.crm.integrations.api_keys import create_api_key

    with open_db(configured_settings().database_url) as db:
        key = create_api_key(db, cli_actor(), name=name, scope=scope)
    out.print(
        f"API key {key.id} ({key.name}, scope {key.scope}); copy it now, it is not shown again:"
    )
    print(key.secret)


@app.command("list")
def api_keys_list() -> None:
    """Every key with its scope, last use and whether it is revoked (never the key itself).

    Example: rapport api-keys list
    """
    from rapport.crm.integrations.api_keys import list_api_keys

    settings = configured_settings()
    with open_db(settings.database_url) as db:
        table = Table("id", "name", "scope", "starts with", "created", "last used", "revoked")
        for k in list_api_keys(db):
            table.add_row(
                str(k.id), k.name, k.scope, k.prefix + "…", when(k.created_at, settings.zone),
                when(k.last_used_at, settings.zone), when(k.revoked_at, settings.zone),
            )  # fmt: skip
        out.print(table)


@app.command("revoke")
def api_keys_revoke(key_id: int) -> None:
    """Revoke a key: requests with it are refused from now on.

    Example: rapport api-keys revoke 2
    """
    from rapport.crm.integrations.api_keys import revoke_api_key

    with open_db(configured_settings().database_url) as db:
        revoke_api_key(db, cli_actor(), key_id)
    out.print(f"API key {key_id} revoked")
