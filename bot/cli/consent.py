"""`rapport consent …`: marketing consent staff collected elsewhere, or a withdrawal (audited)."""

from __future__ import annotations

from typing import Annotated

import typer

from rapport.bot.cli.common import StaffOption, acting, configured_settings, open_db, out

app = typer.Typer(
    no_args_is_help=True, help="Record marketing consent given or withdrawn elsewhere (audited)."
)
ChannelOption = Annotated[str, typer.Option(help="email or telegram")]
SourceOption = Annotated[
    str, typer.Option(help='Where it was given: "signed form at the till, 2026-11-20".')
]


def _record(customer_id: int, channel: str, source: str, staff: int | None, granted: bool) -> None:
    from rapport.crm.privacy.consent import staff_consent
    from rapport.crm.staff.roles import Permission

    with open_db(configured_settings().database_url) as db:
        actor = acting(db, staff, Permission.MANAGE_CONSENT)
        staff_consent(db, actor, customer_id, channel, granted=granted, source=source)
    state = "granted" if granted else "withdrawn"
    out.print(f"customer {customer_id}: marketing consent by {channel} {state} ({source})")


@app.command("grant")
def consent_grant(
    customer_id: int,
    source: SourceOption,
    channel: ChannelOption = "email",
    staff: StaffOption = None,
) -> None:
    """Record consent a customer gave in the shop or on paper (admin or manager).

    Example: rapport consent grant 42 --channel email --source "signed form, 2026-11-20"
    """
    _record(customer_id, channel, source, staff, True)


@app.command("withdraw")
def consent_withdraw(
    customer_id: int,
    source: SourceOption,
    channel: ChannelOption = "email",
    staff: StaffOption = None,
) -> None:
    """Record that a customer withdrew consent (by phone, in person).

    Example: rapport consent withdraw 42 --channel email --source "asked by phone"
    """
    _record(customer_id, channel, source, staff, False)
