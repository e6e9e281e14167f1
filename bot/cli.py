"""The `rapport` command line: the same operations staff have in the bot.

Errors the core raises as `RapportError` become one line on stderr and exit
code 2; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import asyncio
import getpass
import sys
import uuid
from datetime import datetime
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from bot import logs
from crm import database
from crm.audit import Actor
from crm.clock import utcnow
from crm.customers import customer_profile, list_customers
from crm.errors import RapportError
from crm.ingest import ingest as ingest_message
from crm.messages import InboundMessage
from crm.segments import (
    count_members,
    create_segment,
    delete_segment,
    describe,
    get_segment,
    list_segments,
    preview,
    segment_rule,
)
from crm.settings import Settings, load_settings
from crm.tags import add_tags, remove_tags

app = typer.Typer(no_args_is_help=True, add_completion=False, help="Rapport CRM bot.")
db_app = typer.Typer(no_args_is_help=True, help="Database schema (Alembic).")
customers_app = typer.Typer(no_args_is_help=True, help="Look customers up (audited).")
app.add_typer(db_app, name="db")
segments_app = typer.Typer(no_args_is_help=True, help="Saved customer segments (named rules).")
app.add_typer(customers_app, name="customers")
app.add_typer(segments_app, name="segments")

out = Console()


def _settings() -> Settings:
    settings = load_settings()
    logs.configure(settings.log_level)
    return settings


def _cli_actor() -> Actor:
    return Actor(label=f"cli:{getpass.getuser()}")


def _when(value: datetime | None) -> str:
    return "—" if value is None else value.strftime("%Y-%m-%d %H:%M UTC")


@app.command()
def run() -> None:
    """Start Rapport: database, scheduler and every configured channel."""
    from bot.runner import run as run_app

    asyncio.run(run_app(_settings()))


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument()] = "head") -> None:
    """Upgrade the schema (to head by default)."""
    db = database.Database(_settings().database_url)
    database.upgrade(db, revision)
    out.print(f"database at revision {database.current_revision(db)}")


@db_app.command("downgrade")
def db_downgrade(revision: str) -> None:
    """Downgrade the schema to REVISION (e.g. base)."""
    db = database.Database(_settings().database_url)
    database.downgrade(db, revision)
    out.print(f"database at revision {database.current_revision(db)}")


@db_app.command("current")
def db_current() -> None:
    """Show the schema revision and the newest one this version knows."""
    db = database.Database(_settings().database_url)
    out.print(f"current {database.current_revision(db)}; head {database.head_revision()}")


@customers_app.command("list")
def customers_list(
    search: Annotated[str | None, typer.Option(help="Part of a name or address.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
) -> None:
    """Customers, most recently active first."""
    db = database.open_database(_settings().database_url)
    rows = list_customers(db, _cli_actor(), search=search, limit=limit)
    table = Table("id", "name", "first seen", "last channel", "last activity", "messages")
    for c in rows:
        table.add_row(
            str(c.id),
            c.display_name or "—",
            c.first_seen_channel,
            c.last_channel or "—",
            _when(c.last_activity_at),
            str(c.interactions),
        )
    out.print(table)


@customers_app.command("show")
def customers_show(customer_id: int) -> None:
    """One customer's profile, identities and recent messages."""
    db = database.open_database(_settings().database_url)
    p = customer_profile(db, _cli_actor(), customer_id)
    s = p.summary
    out.print(f"[bold]#{s.id} {s.display_name or '(no name)'}[/bold]")
    out.print(f"customer since {_when(p.created_at)}, via {s.first_seen_channel}")
    out.print(f"marketing consent: {'yes' if p.marketing_consent else 'no'}")
    for channel, external_id in p.identities:
        out.print(f"  {channel}: {external_id}")
    mood = "unscored" if p.average_polarity is None else f"{p.average_polarity:+.2f}"
    out.print(f"{s.interactions} message(s), average sentiment {mood}")
    if p.open_conversation_id:
        out.print(f"open conversation #{p.open_conversation_id}")
    for r in p.recent:
        arrow = "←" if r.direction == "in" else "→"
        score = "" if r.polarity is None else f" ({r.polarity:+.2f})"
        out.print(f"  {_when(r.sent_at)} {arrow} {r.channel}{score}: {(r.body or '')[:120]}")


@customers_app.command("tag")
def customers_tag(customer_id: int, tags: list[str]) -> None:
    """Put tags on a customer (e.g. vip corporate)."""
    db = database.open_database(_settings().database_url)
    now = add_tags(db, customer_id, tags)
    out.print(f"customer {customer_id} tags: {escape(', '.join(now))}")


@customers_app.command("untag")
def customers_untag(customer_id: int, tags: list[str]) -> None:
    """Take tags off a customer."""
    db = database.open_database(_settings().database_url)
    left = remove_tags(db, customer_id, tags)
    out.print(f"customer {customer_id} tags: {escape(', '.join(left)) or '(none)'}")


@segments_app.command("create")
def segments_create(
    name: str,
    rule: Annotated[str, typer.Option(help='The rule as JSON, e.g. {"field": "tag", ...}.')],
    description: Annotated[str | None, typer.Option(help="What the segment is for.")] = None,
) -> None:
    """Save a segment: a named rule (see crm/segments.py for the format)."""
    db = database.open_database(_settings().database_url)
    segment = create_segment(db, name, rule, description)
    words = describe(segment_rule(segment))
    out.print(f"segment {segment.id} '{escape(segment.name)}': {escape(words)}", soft_wrap=True)


@segments_app.command("list")
def segments_list() -> None:
    """Every segment: its rule in words and how many customers it picks now."""
    db = database.open_database(_settings().database_url)
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


@segments_app.command("show")
def segments_show(name: str) -> None:
    """One segment: description, rule (in words and as JSON), current size."""
    db = database.open_database(_settings().database_url)
    segment = get_segment(db, name)
    out.print(f"[bold]segment {segment.id} {escape(segment.name)}[/bold]")
    if segment.description:
        out.print(escape(segment.description), soft_wrap=True)
    out.print(escape(describe(segment_rule(segment))), soft_wrap=True)
    out.print(f"rule: {escape(segment.rule)}", soft_wrap=True)
    size = count_members(db, segment.id)
    out.print(f"created {_when(segment.created_at)}; {size} customer(s) now")


@segments_app.command("preview")
def segments_preview(
    name: str,
    sample: Annotated[int, typer.Option(min=0, max=100, help="How many to show.")] = 10,
) -> None:
    """How many customers a segment picks now, and some of them (audited)."""
    db = database.open_database(_settings().database_url)
    found = preview(db, _cli_actor(), name, sample=sample)
    out.print(f"{found.count} customer(s) match")
    table = Table("id", "name", "last channel", "last activity", "messages")
    for c in found.sample:
        table.add_row(
            str(c.id),
            escape(c.display_name or "—"),
            c.last_channel or "—",
            _when(c.last_activity_at),
            str(c.interactions),
        )
    if found.sample:
        out.print(table)


@segments_app.command("delete")
def segments_delete(name: str) -> None:
    """Delete a segment no campaign uses."""
    db = database.open_database(_settings().database_url)
    segment = get_segment(db, name)
    delete_segment(db, segment.id)
    out.print(f"deleted segment {segment.id} '{escape(segment.name)}'")


@app.command()
def ingest(
    channel: Annotated[str, typer.Option(help="email or telegram")],
    sender_id: Annotated[str, typer.Option("--from", help="Address or chat id of the sender.")],
    text: Annotated[str, typer.Option(help="The message text.")],
    name: Annotated[str | None, typer.Option(help="Sender's display name.")] = None,
    key: Annotated[str | None, typer.Option(help="Message key (default: a new one).")] = None,
) -> None:
    """Feed one inbound message to the CRM by hand, as a channel would."""
    db = database.open_database(_settings().database_url)
    result = ingest_message(
        db,
        InboundMessage(
            channel=channel,
            external_id=sender_id,
            sender=name,
            text=text,
            sent_at=utcnow(),
            message_key=key or f"cli-{uuid.uuid4()}",
        ),
    )
    state = "duplicate, nothing stored" if result.duplicate else "stored"
    mood = "unscored" if result.polarity is None else f"polarity {result.polarity:+.2f}"
    who = "new customer" if result.new_customer else "customer"
    out.print(
        f"{state}: interaction {result.interaction_id}, {who} {result.customer_id}, "
        f"conversation {result.conversation_id}, {mood}"
    )


def main() -> None:
    try:
        app()
    except RapportError as exc:
        print(f"rapport: {exc}", file=sys.stderr)
        sys.exit(2)
