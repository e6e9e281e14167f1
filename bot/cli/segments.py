"""`rapport segments …`: saved customer segments (named rules)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from rapport.bot.cli.common import cli_actor, configured_settings, open_db, out, when
from rapport.crm.clock import utcnow
from rapport.crm.segments.rules import describe
from rapport.crm.segments.saved import (
    count_members,
    create_segment,
    delete_segment,
    get_segment,
    list_segments,
    preview,
    segment_rule,
)

app = typer.Typer(no_args_is_help=True, help="Saved customer segments (named rules).")


@app.command("create")
def segments_create(
    name: str,
    rule: Annotated[str, typer.Option(help='The rule as JSON, e.g. {"field": "tag", ...}.')],
    description: Annotated[str | None, typer.Option(help="What the segment is for.")] = None,
) -> None:
    """Save a segment: a named rule (see crm/segments/rules.py for the format).

    Example: rapport segments create recent \\
    --rule '{"field": "last_activity_days", "op": "<=", "value": 90}'
    """
    with open_db(configured_settings().database_url) as db:
        segment = create_segment(db, name, rule, description)
        words = describe(segment_rule(segment))
        out.print(f"segment {segment.id} '{escape(segment.name)}': {escape(words)}", soft_wrap=True)


@app.command("list")
def segments_list() -> None:
    """Every segment: its rule in words and how many customers it picks now.

    Example: rapport segments list
    """
    with open_db(configured_settings().database_url) as db:
        now = utcnow()
        table = Table("id", "name", "rule", "customers")
        for segment in list_segments(db):
            table.add_row(
                str(segment.id),
                escape(segment.name),
                escape(describe(segment_rule(segment))),
                str(count_members(db, segment.id, now)),
            )
        out.print(table)


@app.command("show")
def segments_show(name: str) -> None:
    """One segment: description, rule (in words and as JSON), current size.

    Example: rapport segments show recent
    """
    with open_db(configured_settings().database_url) as db:
        segment = get_segment(db, name)
        out.print(f"[bold]segment {segment.id} {escape(segment.name)}[/bold]")
        if segment.description:
            out.print(escape(segment.description), soft_wrap=True)
        out.print(escape(describe(segment_rule(segment))), soft_wrap=True)
        out.print(f"rule: {escape(segment.rule)}", soft_wrap=True)
        size = count_members(db, segment.id)
        out.print(f"created {when(segment.created_at)}; {size} customer(s) now")


@app.command("preview")
def segments_preview(
    name: str,
    sample: Annotated[int, typer.Option(min=0, max=100, help="How many to show.")] = 10,
) -> None:
    """How many customers a segment picks now, and some of them (audited).

    Example: rapport segments preview recent --sample 5
    """
    with open_db(configured_settings().database_url) as db:
        found = preview(db, cli_actor(), name, sample=sample)
        out.print(f"{found.count} customer(s) match")
        table = Table("id", "name", "last channel", "last activity", "messages")
        for c in found.sample:
            table.add_row(
                str(c.id),
                escape(c.display_name or "—"),
                c.last_channel or "—",
                when(c.last_activity_at),
                str(c.interactions),
            )
        if found.sample:
            out.print(table)


@app.command("delete")
def segments_delete(name: str) -> None:
    """Delete a segment no campaign uses.

    Example: rapport segments delete recent
    """
    with open_db(configured_settings().database_url) as db:
        segment = get_segment(db, name)
        delete_segment(db, segment.id)
        out.print(f"deleted segment {segment.id} '{escape(segment.name)}'")
