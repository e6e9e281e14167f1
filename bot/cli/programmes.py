"""`rapport programmes …`: ready programme templates, listed, shown and installed."""

from __future__ import annotations

from typing import Annotated

import typer

from rapport.bot.cli.common import configured_settings, open_db, out, style
from rapport.bot.cli.render import FormatOption, OutputFormat, WideOption, show

app = typer.Typer(
    no_args_is_help=True, help="Ready programme templates (welcome, CSAT, NPS, loyalty, …)."
)


@app.command("list")
def programmes_list(fmt: FormatOption = OutputFormat.TABLE, wide: WideOption = False) -> None:
    """Every programme template: its name (to install it), what it does, what it creates.

    Example: rapport programmes list
    """
    from rapport.bot.present.lists import programme_listing
    from rapport.crm.campaigns.programmes import installed_programmes, list_programmes

    settings = configured_settings()
    with open_db(settings.database_url) as db:
        installed = installed_programmes(db)
    show(programme_listing(list_programmes(), set(installed)), style(settings), fmt, wide=wide)


@app.command("show")
def programmes_show(name: str) -> None:
    """A programme template as JSON: its segment rules and campaign settings.

    Example: rapport programmes show win-back
    """
    from rapport.crm.campaigns.programmes import get_programme, programme_json

    print(programme_json(get_programme(name)))


@app.command("install")
def programmes_install(
    name: Annotated[str, typer.Argument(help="Template name (see `rapport programmes list`).")],
    timezone: Annotated[str | None, typer.Option(help="Default: RAPPORT_TIMEZONE.")] = None,
    cron: Annotated[str | None, typer.Option(help="Replace every step's schedule.")] = None,
    channel: Annotated[str | None, typer.Option(help="last_active, email or telegram")] = None,
    offer_code: Annotated[str | None, typer.Option(help="Your own offer code.")] = None,
    active: Annotated[
        bool, typer.Option("--active", help="Start at once instead of paused.")
    ] = False,
) -> None:
    """Create a programme's segments and campaigns; they start paused for you to edit.

    Review the texts (`rapport campaigns show NAME`), then `rapport campaigns
    resume NAME` to start each campaign.

    Example: rapport programmes install welcome --timezone Asia/Hong_Kong
    """
    from rapport.crm.campaigns.programmes import install_programme

    settings = configured_settings()
    with open_db(settings.database_url) as db:
        overrides = {
            "timezone": timezone or settings.timezone,
            "schedule_cron": cron,
            "channel": channel,
            "offer_code": offer_code,
        }
        installed = install_programme(db, name, overrides=overrides, active=active)
        state = "active" if active else "paused"
        out.print(
            f"programme {installed.programme}: {len(installed.segments)} segment(s), "
            f"{len(installed.campaigns)} campaign(s) {state} (ids "
            f"{', '.join(map(str, installed.campaigns))})"
        )
        if not active:
            out.print(
                "review them with `rapport campaigns list`, then `rapport campaigns resume ID`"
            )
