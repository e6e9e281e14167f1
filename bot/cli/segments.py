"""`rapport segments …`: saved customer segments (named rules)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.text import Text

from rapport.bot.cli.common import cli_actor, configured_settings, open_db, out, style, when
from rapport.bot.cli.render import FormatOption, OutputFormat, WideOption, show
from rapport.crm.clock import utcnow

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
    from rapport.crm.segments.rules import describe
    from rapport.crm.segments.saved import create_segment, segment_rule

    with open_db(configured_settings().database_url) as db:
        segment = create_segment(db, name, rule, description)
        words = describe(segment_rule(segment))
        out.print(f"segment {segment.id} '{segment.name}': {words}", soft_wrap=True)


@app.command("list")
def segments_list(fmt: FormatOption = OutputFormat.TABLE, wide: WideOption = False) -> None:
    """Every segment: how many customers it picks now and its rule in words.

    Example: rapport segments list
    """
    from rapport.bot.present.lists import segment_listing
    from rapport.crm.segments.rules import describe
    from rapport.crm.segments.saved import count_members, list_segments, segment_rule

    settings = configured_settings()
    with open_db(settings.database_url) as db:
        now = utcnow()
        rows = [
            (s.id, s.name, describe(segment_rule(s)), count_members(db, s.id, now))
            for s in list_segments(db)
        ]
    show(segment_listing(rows), style(settings), fmt, wide=wide)


@app.command("show")
def segments_show(name: str) -> None:
    """One segment: description, rule (in words and as JSON), current size.

    Example: rapport segments show recent
    """
    from rapport.crm.segments.rules import describe
    from rapport.crm.segments.saved import count_members, get_segment, segment_rule

    settings = configured_settings()
    with open_db(settings.database_url) as db:
        segment = get_segment(db, name)
        out.print(Text(f"segment {segment.id} {segment.name}", style="bold"))
        if segment.description:
            out.print(segment.description, soft_wrap=True)
        out.print(describe(segment_rule(segment)), soft_wrap=True)
        out.print(f"rule: {segment.rule}", soft_wrap=True)
        size = count_members(db, segment.id)
        out.print(f"created {when(segment.created_at, settings.zone)}; {size:,} customer(s) now")


@app.command("preview")
def segments_preview(
    name: str,
    sample: Annotated[int, typer.Option(min=0, max=100, help="How many to show.")] = 10,
    fmt: FormatOption = OutputFormat.TABLE,
    wide: WideOption = False,
) -> None:
    """How many customers a segment picks now, and some of them (audited).

    Example: rapport segments preview recent --sample 5
    """
    from rapport.bot.present.lists import customer_listing
    from rapport.crm.segments.saved import preview

    settings = configured_settings()
    with open_db(settings.database_url) as db:
        found = preview(db, cli_actor(), name, sample=sample)
    listing = customer_listing(found.sample, settings.zone, total=found.count)
    listing.title = f"segment {name}: {found.count:,} customer(s) match"
    if fmt is not OutputFormat.TABLE or found.sample:
        show(listing, style(settings), fmt, wide=wide)
    else:
        out.print(listing.title)


@app.command("delete")
def segments_delete(name: str) -> None:
    """Delete a segment no campaign uses.

    Example: rapport segments delete recent
    """
    from rapport.crm.segments.saved import delete_segment, get_segment

    with open_db(configured_settings().database_url) as db:
        segment = get_segment(db, name)
        delete_segment(db, segment.id)
        out.print(f"deleted segment {segment.id} '{segment.name}'")
