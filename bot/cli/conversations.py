"""`rapport conversations …`: the conversations desk from the terminal (docs/desk.md).

Replies and resolutions go out over the configured channels, opened for the
command and closed after it; the acting staff member is named with --staff.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

from rapport.bot.cli.common import (
    cli_actor,
    configured_settings,
    open_db,
    out,
    style,
    unknown_staff,
    when,
)
from rapport.bot.cli.render import FormatOption, OutputFormat, WideOption, show
from rapport.crm.clock import utcnow

if TYPE_CHECKING:
    from rapport.crm.database import Database
    from rapport.crm.settings import Settings
    from rapport.crm.staff.audit import Actor

if TYPE_CHECKING:  # imported when a command sends: the other commands start faster without
    from rapport.channels.registry import OutboundChannels

T = TypeVar("T")
app = typer.Typer(
    no_args_is_help=True, help="The conversations desk: take, answer, resolve (audited)."
)


def _staff_actor(db: Database, staff_id: int | None) -> Actor:
    """The staff member the CLI acts for (answers are theirs in reports), else the operator."""
    from rapport.crm.staff.roles import actor_for, staff_member

    if staff_id is None:
        return cli_actor()
    member = staff_member(db, staff_id)
    if member is not None and member.active:
        return actor_for(member)
    unknown_staff(db, staff_id)


async def _with_channels(settings: Settings, work: Callable[[OutboundChannels], Awaitable[T]]) -> T:
    """Run `work(channels)` with the configured outbound channels, closing them after."""
    from rapport.channels.registry import OutboundChannels

    async with OutboundChannels.from_settings(settings) as channels:
        return await work(channels)


@app.command("list")
def conversations_list(
    all_: Annotated[bool, typer.Option("--all", help="Resolved ones too.")] = False,
    fmt: FormatOption = OutputFormat.TABLE,
    wide: WideOption = False,
) -> None:
    """Open and waiting conversations, longest waiting first (times in RAPPORT_TIMEZONE).

    Example: rapport conversations list --all
    """
    from rapport.bot.present.lists import conversation_listing
    from rapport.crm.desk.conversations import list_conversations

    settings = configured_settings()
    with open_db(settings.database_url) as db:
        views = list_conversations(db, cli_actor(), include_resolved=all_)
    show(conversation_listing(views, settings.zone), style(settings), fmt, wide=wide)


@app.command("take")
def conversations_take(
    conversation: int,
    staff: Annotated[int, typer.Option(help="Staff id the conversation goes to.")],
    force: Annotated[bool, typer.Option(help="Take it over from someone else.")] = False,
) -> None:
    """Assign a conversation to a staff member.

    Example: rapport conversations take 42 --staff 3
    """
    from rapport.crm.desk.conversations import take

    with open_db(configured_settings().database_url) as db:
        view = take(db, _staff_actor(db, staff), conversation, force=force)
        out.print(f"conversation {view.id} is now {view.assigned_name or ''}'s")


@app.command("reply")
def conversations_reply(
    conversation: int,
    text: str,
    staff: Annotated[int | None, typer.Option(help="Staff id answering.")] = None,
) -> None:
    """Answer the customer on the conversation's channel (email in the same thread).

    Example: rapport conversations reply 42 "Your parcel left today." --staff 3
    """
    import asyncio

    from rapport.crm.desk.replies import send_reply

    settings = configured_settings()
    with open_db(settings.database_url) as db:
        actor = _staff_actor(db, staff)
        asyncio.run(
            _with_channels(settings, lambda ch: send_reply(db, actor, ch, conversation, text))
        )
        out.print(f"sent to the customer of conversation {conversation}")


@app.command("resolve")
def conversations_resolve(
    conversation: int,
    staff: Annotated[int | None, typer.Option(help="Staff id resolving.")] = None,
) -> None:
    """Resolve; a complaint's customer is asked how it was handled (CSAT 1-5).

    Example: rapport conversations resolve 42 --staff 3
    """
    import asyncio

    from rapport.crm.desk.resolution import send_resolution

    settings = configured_settings()
    with open_db(settings.database_url) as db:
        actor = _staff_actor(db, staff)
        done = asyncio.run(
            _with_channels(settings, lambda ch: send_resolution(db, actor, ch, conversation))
        )
        message = f"conversation {conversation} resolved"
        if done.survey_sent:
            message += "; satisfaction question sent"
        elif done.survey_error:
            message += f"; the satisfaction question could NOT be sent: {done.survey_error}"
        out.print(message)


@app.command("complaint")
def conversations_complaint(
    conversation: int,
    staff: Annotated[int | None, typer.Option(help="Staff id flagging it.")] = None,
) -> None:
    """Flag a complaint; a follow-up task gets a due date.

    Example: rapport conversations complaint 42 --staff 3
    """
    from rapport.crm.desk.complaints import flag_complaint
    from rapport.crm.desk.rules import load_rules

    settings = configured_settings()
    with open_db(settings.database_url) as db:
        due = flag_complaint(db, _staff_actor(db, staff), conversation, load_rules(settings))
        out.print(
            f"conversation {conversation} is a complaint; follow up by {when(due, settings.zone)}"
        )


@app.command("followups")
def conversations_followups(
    all_: Annotated[bool, typer.Option("--all", help="Done ones too.")] = False,
    fmt: FormatOption = OutputFormat.TABLE,
    wide: WideOption = False,
) -> None:
    """Complaint follow-up tasks, overdue first; due dates in the business's time zone.

    Example: rapport conversations followups --all
    """
    from rapport.bot.present.lists import follow_up_listing
    from rapport.crm.desk.follow_ups import describe_reason, list_follow_ups
    from rapport.crm.desk.rules import load_rules

    settings = configured_settings()
    zone = load_rules(settings).hours.zone
    with open_db(settings.database_url) as db:
        now = utcnow()
        views = list_follow_ups(db, cli_actor(), include_done=all_)
    reasons = {v.reason: describe_reason(v.reason) for v in views if v.reason}
    show(follow_up_listing(views, zone, now, reasons), style(settings), fmt, wide=wide)


@app.command("followup-done")
def conversations_followup_done(
    conversation: int,
    staff: Annotated[int | None, typer.Option(help="Staff id marking it done.")] = None,
) -> None:
    """Mark a complaint's follow-up done without resolving the conversation (audited).

    Example: rapport conversations followup-done 42 --staff 3
    """
    from rapport.crm.desk.follow_ups import mark_done

    with open_db(configured_settings().database_url) as db:
        view = mark_done(db, _staff_actor(db, staff), conversation)
        out.print(
            f"follow-up of conversation {conversation} done; the conversation stays {view.status}"
        )
