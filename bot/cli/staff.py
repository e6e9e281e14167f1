"""`rapport staff …`: staff members and their roles (the CLI acts as admin)."""

from __future__ import annotations

from typing import Annotated

import typer

from rapport.bot.cli.common import cli_actor, configured_settings, open_db, out, style
from rapport.bot.cli.render import FormatOption, OutputFormat, WideOption, show

app = typer.Typer(no_args_is_help=True, help="Staff and roles (the CLI acts as admin).")


@app.command("add")
def staff_add(
    name: Annotated[str, typer.Option(help="Name shown in the audit trail.")],
    role: Annotated[str, typer.Option(help="agent, manager or admin")],
    telegram_id: Annotated[int | None, typer.Option(help="Telegram user id.")] = None,
    email: Annotated[str | None, typer.Option(help="Email address.")] = None,
) -> None:
    """Register a staff member (the first admin is made this way).

    Example: rapport staff add --name Ada --role admin --telegram-id 123456789
    """
    from rapport.crm.staff.roles import add_staff

    with open_db(configured_settings().database_url) as db:
        member = add_staff(
            db, cli_actor(), name=name, role=role, telegram_user_id=telegram_id, email=email
        )
        out.print(f"staff {member.id} {member.name} added as {member.role}")


@app.command("list")
def staff_list(fmt: FormatOption = OutputFormat.TABLE, wide: WideOption = False) -> None:
    """Every staff member with role and status.

    Example: rapport staff list
    """
    from rapport.bot.present.lists import staff_listing
    from rapport.crm.staff.roles import list_staff

    settings = configured_settings()
    with open_db(settings.database_url) as db:
        members = list_staff(db)
    show(staff_listing(members), style(settings), fmt, wide=wide)


@app.command("role")
def staff_role(staff_id: int, role: str) -> None:
    """Change a staff member's role.

    Example: rapport staff role 3 manager
    """
    from rapport.crm.staff.roles import set_role

    with open_db(configured_settings().database_url) as db:
        member = set_role(db, cli_actor(), staff_id, role)
        out.print(f"staff {member.id} is now {member.role}")


@app.command("remove")
def staff_remove(staff_id: int) -> None:
    """Deactivate a staff member (kept for the audit trail); their open conversations
    go back to the desk and are announced again to the staff on duty.

    Example: rapport staff remove 3
    """
    from rapport.crm.desk.handover import deactivate_staff

    with open_db(configured_settings().database_url) as db:
        done = deactivate_staff(db, cli_actor(), staff_id)
        handed = (
            f"; conversation(s) {', '.join(f'#{c}' for c in done.conversations)} "
            "unassigned and announced to the staff on duty"
            if done.conversations
            else ""
        )
        out.print(f"staff {done.staff_id} deactivated{handed}")


@app.command("password")
def staff_password(
    member: Annotated[str, typer.Argument(help="The member's name, email or id.")],
    stdin: Annotated[
        bool, typer.Option("--stdin", help="Read the password from the first line of stdin.")
    ] = False,
    clear: Annotated[bool, typer.Option("--clear", help="Remove the password.")] = False,
) -> None:
    """Set a console password (argon2id); sign-in links keep working. Asks twice.

    With --stdin the first line of standard input is the password (for scripts).

    Example: rapport staff password Ada
    """
    import sys

    from rapport.crm.errors import InvalidInput
    from rapport.crm.staff.passwords import check_password_text, find_member, set_password

    password: str | None = None
    if not clear:
        if stdin:
            password = sys.stdin.readline().removesuffix("\n").removesuffix("\r")
        else:
            password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
        if not password:
            raise InvalidInput("no password given (an empty line)")
        check_password_text(password)  # before the database is opened
    with open_db(configured_settings().database_url) as db:
        found = find_member(db, member)
        set_password(db, cli_actor(), found.id, password)
    done = "cleared" if password is None else "set"
    out.print(f"staff {found.id} {found.name}: console password {done}")
