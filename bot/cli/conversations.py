"""`rapport conversations …`: the conversations desk from the terminal (docs/desk.md).

Replies and resolutions go out over the configured channels, opened for the
command and closed after it; the acting staff member is named with --staff.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from rapport.bot.cli.common import cli_actor, configured_settings, open_db, out, when
from rapport.bot.services import with_channels
from rapport.crm.clock import utcnow
from rapport.crm.database import Database
from rapport.crm.errors import InvalidInput
from rapport.crm.staff.audit import Actor

app = typer.Typer(
    no_args_is_help=True, help="The conversations desk: take, answer, resolve (audited)."
)


def _staff_actor(db: Database, staff_id: int | None) -> Actor:
    """The staff member the CLI acts for (answers are theirs in reports), else the operator."""
    from rapport.crm.models import StaffMember
    from rapport.crm.staff.roles import actor_for

    if staff_id is None:
        return cli_actor()
    with db.session() as session:
        member = session.get(StaffMember, staff_id)
        if member is None or not member.active:
            raise InvalidInput(f"no active staff member {staff_id} (see rapport staff list)")
        return actor_for(member)


@app.command("list")
def conversations_list(
    all_: Annotated[bool, typer.Option("--all", help="Resolved ones too.")] = False,
) -> None:
    """Open and waiting conversations, longest waiting first.

    Example: rapport conversations list --all
    """
    from rapport.crm.desk.conversations import list_conversations

    with open_db(configured_settings().database_url) as db:
        table = Table("id", "customer", "channel", "status", "agent", "complaint", "last message")
        for v in list_conversations(db, cli_actor(), include_resolved=all_):
            table.add_row(
                str(v.id),
                escape(f"#{v.customer_id} {v.customer_name or ''}"),
                v.channel,
                v.status
                + (f" (reopened ×{v.reopened_count})" if v.reopened_count else "")
                + (" (answer NOT delivered)" if v.send_error else ""),
                escape(v.assigned_name or "—"),
                ("yes" if v.is_complaint else "")
                + (f", follow up by {when(v.follow_up_due)}" if v.follow_up_due else ""),
                when(v.last_message_at),
            )
        out.print(table)


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
        out.print(f"conversation {view.id} is now {escape(view.assigned_name or '')}'s")


@app.command("reply")
def conversations_reply(
    conversation: int,
    text: str,
    staff: Annotated[int | None, typer.Option(help="Staff id answering.")] = None,
) -> None:
    """Answer the customer on the conversation's channel (email in the same thread).

    Example: rapport conversations reply 42 "Your parcel left today." --staff 3
    """
    from rapport.crm.desk.replies import send_reply

    settings = configured_settings()
    with open_db(settings.database_url) as db:
        actor = _staff_actor(db, staff)
        asyncio.run(
            with_channels(settings, lambda ch: send_reply(db, actor, ch, conversation, text))
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
    from rapport.crm.desk.resolution import send_resolution

    settings = configured_settings()
    with open_db(settings.database_url) as db:
        actor = _staff_actor(db, staff)
        done = asyncio.run(
            with_channels(settings, lambda ch: send_resolution(db, actor, ch, conversation))
        )
        message = f"conversation {conversation} resolved"
        if done.survey_sent:
            message += "; satisfaction question sent"
        elif done.survey_error:
            message += f"; the satisfaction question could NOT be sent: {done.survey_error}"
        out.print(escape(message))


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
        out.print(f"conversation {conversation} is a complaint; follow up by {when(due)}")


@app.command("followups")
def conversations_followups(
    all_: Annotated[bool, typer.Option("--all", help="Done ones too.")] = False,
) -> None:
    """Complaint follow-up tasks, overdue first; due dates in the business's time zone.

    Example: rapport conversations followups --all
    """
    from rapport.crm.desk.follow_ups import describe_reason, list_follow_ups
    from rapport.crm.desk.rules import load_rules

    settings = configured_settings()
    zone = load_rules(settings).hours.zone
    with open_db(settings.database_url) as db:
        now = utcnow()
        table = Table(
            "conversation", "customer", "reason", "agent", "status", f"due ({zone.key})", "done"
        )
        for v in list_follow_ups(db, cli_actor(), include_done=all_):
            table.add_row(
                str(v.conversation_id),
                escape(f"#{v.customer_id} {v.customer_name or ''}"),
                escape(describe_reason(v.reason)),
                escape(v.assigned_name or "—"),
                v.status,
                ("OVERDUE " if v.overdue(now) else "")
                + f"{v.due_at.astimezone(zone):%Y-%m-%d %H:%M}",
                when(v.done_at),
            )
        out.print(table)


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
