"""The `rapport` command line: the same operations staff have in the bot.

Errors the core raises as `RapportError` become one line on stderr and exit
code 2; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import asyncio
import getpass
import json
import os
import sys
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Annotated, TypeVar
from zoneinfo import ZoneInfo

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from rapport.bot import cli_firstrun, cli_outreach, logs
from rapport.bot.dispatch_service import dispatcher_for
from rapport.bot.report_text import comparison_rows
from rapport.bot.report_text import pct as _pct
from rapport.bot.services import outbound_channels
from rapport.crm import database
from rapport.crm.campaigns.definitions import (
    CampaignSpec,
    InvalidCampaign,
    create_campaign,
    get_campaign,
    list_campaigns,
    set_status,
)
from rapport.crm.campaigns.runs import run_ids, start_run, still_queued, summarise
from rapport.crm.channel import Channel
from rapport.crm.clock import utcnow
from rapport.crm.customers.merge import merge_customers
from rapport.crm.customers.profiles import customer_profile, list_customers
from rapport.crm.customers.tags import add_tags, remove_tags
from rapport.crm.errors import InvalidInput, RapportError
from rapport.crm.interactions.ingest import ingest as ingest_message
from rapport.crm.messages import InboundMessage
from rapport.crm.models import Campaign, CampaignStatus
from rapport.crm.privacy.requests import (
    enforce_retention,
    erase_customer,
    export_customer,
    export_html,
)
from rapport.crm.reports.programmes import Period, campaign_ids_for_segment, programme_metrics
from rapport.crm.segments.rules import (
    count_members,
    create_segment,
    delete_segment,
    describe,
    get_segment,
    list_segments,
    preview,
    segment_rule,
)
from rapport.crm.settings import Settings, load_settings
from rapport.crm.staff.audit import Actor
from rapport.crm.staff.roles import add_staff, audit_trail, list_staff, set_role
from rapport.migrations import schema

app = typer.Typer(no_args_is_help=True, add_completion=False, help="Rapport CRM bot.")
db_app = typer.Typer(no_args_is_help=True, help="Database schema (Alembic).")
customers_app = typer.Typer(no_args_is_help=True, help="Look customers up (audited).")
campaigns_app = typer.Typer(no_args_is_help=True, help="Loyalty, feedback and announcements.")
app.add_typer(db_app, name="db")
segments_app = typer.Typer(no_args_is_help=True, help="Saved customer segments (named rules).")
app.add_typer(customers_app, name="customers")
app.add_typer(campaigns_app, name="campaigns")
report_app = typer.Typer(no_args_is_help=True, help="Programme reports.")
app.add_typer(report_app, name="report")
staff_app = typer.Typer(no_args_is_help=True, help="Staff and roles (the CLI acts as admin).")
app.add_typer(staff_app, name="staff")
audit_app = typer.Typer(no_args_is_help=True, help="Who read or changed personal data.")
app.add_typer(audit_app, name="audit")
app.add_typer(segments_app, name="segments")
privacy_app = typer.Typer(no_args_is_help=True, help="Privacy requests and retention (audited).")
app.add_typer(privacy_app, name="privacy")
import_app = typer.Typer(no_args_is_help=True, help="Bring data in from the business's systems.")
app.add_typer(import_app, name="import")
points_app = typer.Typer(no_args_is_help=True, help="The loyalty points ledger.")
app.add_typer(points_app, name="points")
app.add_typer(cli_firstrun.programmes_app, name="programmes")
app.command("init")(cli_firstrun.init)
app.command("demo-data")(cli_firstrun.demo_data)
app.add_typer(cli_outreach.consent_app, name="consent")
app.add_typer(cli_outreach.mail_app, name="mail")
customers_app.command("import")(cli_outreach.customers_import)
customers_app.command("invite")(cli_outreach.customers_invite)
campaigns_app.command("preview")(cli_outreach.campaigns_preview)
campaigns_app.command("test")(cli_outreach.campaigns_test)

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
def run(
    workers: Annotated[
        int,
        typer.Option(
            "--workers", min=0, help="Also start and supervise N `rapport worker`s (PostgreSQL)."
        ),
    ] = 0,
) -> None:
    """Start Rapport: database, scheduler and every configured channel.

    Example: rapport run --workers 4   (PostgreSQL; plain `rapport run` on SQLite)
    """
    from rapport.bot.runner import run as run_app

    asyncio.run(run_app(_settings(), workers=workers))


@app.command()
def worker(
    parent_fd: Annotated[int | None, typer.Option("--parent-fd", hidden=True)] = None,
) -> None:
    """Run a dispatcher only: sends queued campaign messages (several may share PostgreSQL).

    Example: rapport worker   (several, sharing one PostgreSQL database)
    """
    from rapport.bot.runner import run as run_app

    asyncio.run(run_app(_settings(), worker=True, parent_fd=parent_fd))


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument()] = "head") -> None:
    """Upgrade the schema (to head by default).

    Example: rapport db upgrade
    """
    db = database.Database(_settings().database_url)
    schema.upgrade(db, revision)
    out.print(f"database at revision {schema.current_revision(db)}")


@db_app.command("downgrade")
def db_downgrade(revision: str) -> None:
    """Downgrade the schema to REVISION (e.g. base).

    Example: rapport db downgrade 0003
    """
    db = database.Database(_settings().database_url)
    schema.downgrade(db, revision)
    out.print(f"database at revision {schema.current_revision(db)}")


@db_app.command("current")
def db_current() -> None:
    """Show the schema revision and the newest one this version knows.

    Example: rapport db current
    """
    db = database.Database(_settings().database_url)
    out.print(f"current {schema.current_revision(db)}; head {schema.head_revision()}")


@customers_app.command("list")
def customers_list(
    search: Annotated[str | None, typer.Option(help="Part of a name or address.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
) -> None:
    """Customers, most recently active first.

    Example: rapport customers list --search ann --limit 20
    """
    db = schema.open_database(_settings().database_url)
    rows = list_customers(db, _cli_actor(), search=search, limit=limit)
    table = Table("id", "name", "contact", "consent", "last channel", "last activity", "messages")
    for c in rows:
        table.add_row(
            str(c.id),
            escape(c.display_name or "—"),
            escape(c.contact or "—"),
            ", ".join(c.consent) or "none",
            c.last_channel or "—",
            _when(c.last_activity_at),
            str(c.interactions),
        )
    out.print(table)


@customers_app.command("show")
def customers_show(customer_id: int) -> None:
    """One customer's profile, identities and recent messages.

    Example: rapport customers show 42
    """
    db = schema.open_database(_settings().database_url)
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
    """Put tags on a customer (e.g. vip corporate).

    Example: rapport customers tag 42 vip corporate
    """
    db = schema.open_database(_settings().database_url)
    now = add_tags(db, customer_id, tags)
    out.print(f"customer {customer_id} tags: {escape(', '.join(now))}")


@customers_app.command("untag")
def customers_untag(customer_id: int, tags: list[str]) -> None:
    """Take tags off a customer.

    Example: rapport customers untag 42 corporate
    """
    db = schema.open_database(_settings().database_url)
    left = remove_tags(db, customer_id, tags)
    out.print(f"customer {customer_id} tags: {escape(', '.join(left)) or '(none)'}")


@customers_app.command("merge")
def customers_merge(
    keep_id: int,
    absorb_id: int,
    yes: Annotated[bool, typer.Option("--yes", help="Confirm: this cannot be undone.")] = False,
) -> None:
    """Merge customer ABSORB_ID into KEEP_ID (one person): all history moves, ABSORB_ID goes.

    Example: rapport customers merge 12 48 --yes
    """
    if not yes:
        raise InvalidInput("a merge cannot be undone; run again with --yes to confirm")
    db = schema.open_database(_settings().database_url)
    r = merge_customers(db, keep_id, absorb_id, _cli_actor())
    out.print(
        f"customer {r.absorbed_id} merged into {r.kept_id}: {r.identities} address(es), "
        f"{r.interactions} message(s), {r.deliveries_folded} shared campaign delivery(ies) folded"
    )


@segments_app.command("create")
def segments_create(
    name: str,
    rule: Annotated[str, typer.Option(help='The rule as JSON, e.g. {"field": "tag", ...}.')],
    description: Annotated[str | None, typer.Option(help="What the segment is for.")] = None,
) -> None:
    """Save a segment: a named rule (see crm/segments/rules.py for the format).

    Example: rapport segments create recent \\
    --rule '{"field": "last_activity_days", "op": "<=", "value": 90}'
    """
    db = schema.open_database(_settings().database_url)
    segment = create_segment(db, name, rule, description)
    words = describe(segment_rule(segment))
    out.print(f"segment {segment.id} '{escape(segment.name)}': {escape(words)}", soft_wrap=True)


@segments_app.command("list")
def segments_list() -> None:
    """Every segment: its rule in words and how many customers it picks now.

    Example: rapport segments list
    """
    db = schema.open_database(_settings().database_url)
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
    """One segment: description, rule (in words and as JSON), current size.

    Example: rapport segments show recent
    """
    db = schema.open_database(_settings().database_url)
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
    """How many customers a segment picks now, and some of them (audited).

    Example: rapport segments preview recent --sample 5
    """
    db = schema.open_database(_settings().database_url)
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
    """Delete a segment no campaign uses.

    Example: rapport segments delete recent
    """
    db = schema.open_database(_settings().database_url)
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
    """Feed one inbound message to the CRM by hand, as a channel would.

    Example: rapport ingest --channel email --from ann@example.com --name Ann --text "Thanks!"
    """
    db = schema.open_database(_settings().database_url)
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


def _parse_time(value: str | None, zone: str) -> datetime | None:
    """ISO date-time; a value without an offset is in the campaign's time zone."""
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidCampaign(f"bad date-time {value!r}: use ISO form, 2026-12-01T09:00") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=ZoneInfo(zone))


@campaigns_app.command("create")
def campaigns_create(
    name: str,
    kind: Annotated[str, typer.Option(help="loyalty, feedback or announcement")],
    segment: Annotated[str, typer.Option(help="Name of the segment to reach.")],
    template: Annotated[str | None, typer.Option(help="Message (Jinja2, sandboxed).")] = None,
    template_file: Annotated[
        Path | None, typer.Option(help="Read the message from a file.")
    ] = None,
    cron: Annotated[str | None, typer.Option(help="Five-field crontab, e.g. '0 10 * * 1'.")] = None,
    at: Annotated[str | None, typer.Option(help="One-off time, ISO (campaign zone).")] = None,
    timezone: Annotated[str | None, typer.Option(help="Default: RAPPORT_TIMEZONE.")] = None,
    channel: Annotated[str, typer.Option(help="last_active, email or telegram")] = "last_active",
    fallback: Annotated[bool, typer.Option(help="Use another channel if needed.")] = True,
    subject: Annotated[str | None, typer.Option(help="Email subject.")] = None,
    survey: Annotated[str | None, typer.Option(help="csat or nps (feedback)")] = None,
    points: Annotated[int | None, typer.Option(help="Points to award (loyalty).")] = None,
    offer_code: Annotated[str | None, typer.Option(help="Offer code (loyalty).")] = None,
    offer_days: Annotated[int | None, typer.Option(help="Days the offer is valid.")] = None,
    starts: Annotated[str | None, typer.Option(help="Start of the campaign window.")] = None,
    ends: Annotated[str | None, typer.Option(help="End of the campaign window.")] = None,
    cost: Annotated[float | None, typer.Option(help="Total cost, for reports.")] = None,
) -> None:
    """Create a campaign for a segment; it runs on its schedule from `rapport run`.

    Example: rapport campaigns create "Monthly CSAT" --kind feedback \\
    --survey csat --segment recent --cron "0 9 1 * *" \\
    --template "Hi {{ first_name }}, how did we do?"
    """
    settings = _settings()
    zone = timezone or settings.timezone
    if (template is None) == (template_file is None):
        raise InvalidCampaign("give the message as --template or --template-file")
    body = template if template is not None else template_file.read_text("utf-8")  # type: ignore[union-attr]
    db = schema.open_database(settings.database_url)
    campaign = create_campaign(
        db,
        CampaignSpec(
            name=name,
            kind=kind,
            segment=segment,
            template=body,
            schedule_cron=cron,
            run_at=_parse_time(at, zone),
            timezone=zone,
            channel=channel,
            fallback=fallback,
            subject=subject,
            survey_kind=survey,
            points=points,
            offer_code=offer_code,
            offer_valid_days=offer_days,
            starts_at=_parse_time(starts, zone),
            ends_at=_parse_time(ends, zone),
            cost=cost,
        ),
    )
    out.print(f"campaign {campaign.id} {campaign.name!r} created ({_schedule_words(campaign)})")


def _schedule_words(campaign: Campaign) -> str:
    if campaign.schedule_cron:
        return f"cron '{campaign.schedule_cron}' {campaign.timezone}"
    if campaign.run_at:
        return (
            f"once at {campaign.run_at.astimezone(ZoneInfo(campaign.timezone)):%Y-%m-%d %H:%M %Z}"
        )
    return "run by hand"


@campaigns_app.command("list")
def campaigns_list() -> None:
    """Every campaign with its schedule, status and next run (in RAPPORT_TIMEZONE).

    Example: rapport campaigns list
    """
    from rapport.bot.schedule_text import next_run

    settings = _settings()
    db = schema.open_database(settings.database_url)
    now = utcnow()
    table = Table("id", "name", "kind", "status", "schedule", f"next run ({settings.timezone})",
                  "channel")  # fmt: skip
    for c in list_campaigns(db):
        table.add_row(
            str(c.id), c.name, c.kind, c.status, _schedule_words(c),
            next_run(c, settings.zone, now), c.channel,
        )  # fmt: skip
    out.print(table)


@campaigns_app.command("show")
def campaigns_show(campaign: str) -> None:
    """A campaign's definition and the numbers of its runs.

    Example: rapport campaigns show "Monthly CSAT"
    """
    db = schema.open_database(_settings().database_url)
    c = get_campaign(db, campaign)
    out.print(f"[bold]#{c.id} {c.name}[/bold] — {c.kind}, {c.status}, {_schedule_words(c)}")
    out.print(f"channel {c.channel}{' with fallback' if c.fallback else ''}")
    if c.survey_kind:
        out.print(f"survey: {c.survey_kind}")
    if c.points or c.offer_code:
        out.print(f"action: {c.points or 0} points, offer {c.offer_code or '—'}")
    out.print(f"template: {c.template}")
    for run_id in run_ids(db, c.id):
        s = summarise(db, run_id)
        skipped = ", ".join(f"{k} {v}" for k, v in s.skipped.items()) or "none"
        out.print(f"  run {run_id}: {s.queued} to send, skipped: {skipped}")


@campaigns_app.command("pause")
def campaigns_pause(campaign: str) -> None:
    """Stop firing and sending; queued messages wait until resumed.

    Example: rapport campaigns pause "Monthly CSAT"
    """
    db = schema.open_database(_settings().database_url)
    c = set_status(db, campaign, CampaignStatus.PAUSED)
    out.print(f"campaign {c.id} paused")


@campaigns_app.command("resume")
def campaigns_resume(campaign: str) -> None:
    """Fire on schedule and send again.

    Example: rapport campaigns resume "Monthly CSAT"
    """
    db = schema.open_database(_settings().database_url)
    c = set_status(db, campaign, CampaignStatus.ACTIVE)
    out.print(f"campaign {c.id} active")


@campaigns_app.command("edit")
def campaigns_edit(
    campaign: str,
    template: Annotated[str | None, typer.Option(help="New message (Jinja2).")] = None,
    template_file: Annotated[
        Path | None, typer.Option(help="Read the new message from a file.")
    ] = None,
    subject: Annotated[str | None, typer.Option(help="Email subject.")] = None,
    cron: Annotated[str | None, typer.Option(help="Five-field crontab.")] = None,
    timezone: Annotated[str | None, typer.Option(help="IANA time zone.")] = None,
    channel: Annotated[str | None, typer.Option(help="last_active, email or telegram")] = None,
    points: Annotated[int | None, typer.Option(help="Points to award (loyalty).")] = None,
    offer_code: Annotated[str | None, typer.Option(help="Offer code (loyalty).")] = None,
    offer_days: Annotated[int | None, typer.Option(help="Days the offer is valid.")] = None,
    cost: Annotated[float | None, typer.Option(help="Total cost, for reports.")] = None,
) -> None:
    """Change a campaign's message, schedule, channel or offer (e.g. an installed programme).

    Example: rapport campaigns edit "Win-back offer" --offer-code BACK20 --cron "0 9 * * 1"
    """
    from rapport.crm.campaigns.definitions import update_campaign

    if template is not None and template_file is not None:
        raise InvalidCampaign("give the message as --template or --template-file, not both")
    if template_file is not None:
        template = template_file.read_text("utf-8")
    changes = {
        "template": template,
        "subject": subject,
        "schedule_cron": cron,
        "timezone": timezone,
        "channel": channel,
        "points": points,
        "offer_code": offer_code,
        "offer_valid_days": offer_days,
        "cost": cost,
    }
    changes = {k: v for k, v in changes.items() if v is not None}
    if not changes:
        raise InvalidCampaign("nothing to change: give at least one option (see --help)")
    db = schema.open_database(_settings().database_url)
    c = update_campaign(db, campaign, **changes)
    out.print(f"campaign {c.id} updated: {', '.join(sorted(changes))}")


@campaigns_app.command("run-now")
def campaigns_run_now(
    campaign: str,
    send: Annotated[bool, typer.Option(help="Also send now (else `rapport run` sends).")] = True,
    again: Annotated[
        bool, typer.Option("--again", help="Run again though this minute's slot already ran.")
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only say what would be queued; write nothing.")
    ] = False,
) -> None:
    """Fire a campaign at once: make its deliveries and send them.

    A slot (this minute) runs once: asked again it says so; --again runs it
    once more on purpose. --dry-run counts who would be queued or skipped.

    Example: rapport campaigns run-now "Monthly CSAT" --dry-run
    """
    from rapport.crm.campaigns.runs import dry_run as count_run

    settings = _settings()
    db = schema.open_database(settings.database_url)
    c = get_campaign(db, campaign)
    channels = outbound_channels(settings)
    if dry_run:
        summary = count_run(
            db, c.id, channels=tuple(channels), frequency_cap=settings.frequency_cap_per_week
        )
        skipped = ", ".join(f"{k} {v}" for k, v in summary.skipped.items()) or "none"
        out.print(f"dry run: {summary.queued} would be queued, skipped: {skipped}; nothing written")
        return
    summary = start_run(
        db,
        c.id,
        trigger="manual",
        channels=tuple(channels),
        frequency_cap=settings.frequency_cap_per_week,
        again=again,
    )
    if not summary.created:
        at = summary.scheduled_for.astimezone(settings.zone) if summary.scheduled_for else None
        out.print(
            f"campaign {c.id} already ran in this minute's slot"
            f"{f' ({at:%H:%M %Z})' if at else ''}: run {summary.run_id}, "
            f"{summary.queued} queued; nothing new. To run it again on purpose: "
            f"rapport campaigns run-now {escape(repr(c.name))} --again"
        )
        return
    skipped = ", ".join(f"{k} {v}" for k, v in summary.skipped.items()) or "none"
    out.print(f"run {summary.run_id}: {summary.queued} queued, skipped: {skipped}")
    if send and summary.queued:
        dispatcher = dispatcher_for(settings, db, channels)
        stats = asyncio.run(dispatcher.drain())
        out.print(
            f"sent {stats.sent}, retry later {stats.retried}, failed {stats.failed}, "
            f"skipped {stats.skipped}"
        )
        for channel, held in dispatcher.held().items():
            out.print(f"{held} {channel} delivery(ies) held, not sent: {dispatcher.hold[channel]}")
        left = still_queued(db, summary.run_id)
        if left:
            out.print(
                f"{left} still queued (customers who wrote in the last "
                f"{settings.dispatch_quiet_seconds:g} s, or retries): `rapport run` sends them"
            )


@report_app.command("programmes")
def report_programmes(
    campaign: Annotated[str | None, typer.Option(help="One campaign (id or name).")] = None,
    segment: Annotated[str | None, typer.Option(help="Campaigns of one segment.")] = None,
    days: Annotated[int, typer.Option(min=1, help="Period length, ending now.")] = 30,
) -> None:
    """Delivered, skipped, response, participation, CSAT and NPS, against the period before.

    Example: rapport report programmes --segment recent --days 90
    """
    db = schema.open_database(_settings().database_url)
    ids = None
    if campaign is not None:
        ids = [get_campaign(db, campaign).id]
    elif segment is not None:
        ids = campaign_ids_for_segment(db, segment)
    period = Period.last_days(days, utcnow())
    now_m = programme_metrics(db, campaign_ids=ids, period=period)
    before = programme_metrics(db, campaign_ids=ids, period=period.previous())
    table = Table("measure", f"last {days} days", f"the {days} days before")
    rows = comparison_rows(now_m, before)
    for row in rows:
        table.add_row(*row)
    out.print(table)


@report_app.command("export")
def report_export(
    report: Annotated[str, typer.Argument(help="campaigns or segments")],
    days: Annotated[int, typer.Option(min=1, help="Period length, ending now.")] = 30,
    to: Annotated[
        Path | None, typer.Option("--out", help="File to write (default: a dated name).")
    ] = None,
) -> None:
    """The report rows as CSV, one row per campaign or per segment (audited, like /export).

    Example: rapport report export campaigns --days 30 --out campaigns.csv
    """
    from rapport.bot.exports import export_report

    db = schema.open_database(_settings().database_url)
    made = export_report(db, _cli_actor(), report, Period.last_days(days, utcnow()), days)
    path = to or Path(made.filename)
    path.write_bytes(made.content)
    out.print(f"wrote {made.rows} rows to {path}")


@report_app.command("chart")
def report_chart(
    chart: Annotated[str, typer.Argument(help="participation, satisfaction or sentiment")],
    days: Annotated[int, typer.Option(min=1, help="Period length, ending now.")] = 30,
    to: Annotated[Path | None, typer.Option("--out", help="PNG file to write.")] = None,
) -> None:
    """A PNG chart of the report, as /chart sends it.

    Example: rapport report chart satisfaction --days 90 --out csat.png
    """
    from rapport.bot.charts import draw_report

    db = schema.open_database(_settings().database_url)
    png = draw_report(db, chart, Period.last_days(days, utcnow()), f"last {days} days")
    path = to or Path(f"rapport-{chart}-{days}d.png")
    path.write_bytes(png)
    out.print(f"wrote {path}")


@staff_app.command("add")
def staff_add(
    name: Annotated[str, typer.Option(help="Name shown in the audit trail.")],
    role: Annotated[str, typer.Option(help="agent, manager or admin")],
    telegram_id: Annotated[int | None, typer.Option(help="Telegram user id.")] = None,
    email: Annotated[str | None, typer.Option(help="Email address.")] = None,
) -> None:
    """Register a staff member (the first admin is made this way).

    Example: rapport staff add --name Ada --role admin --telegram-id 123456789
    """
    db = schema.open_database(_settings().database_url)
    member = add_staff(
        db, _cli_actor(), name=name, role=role, telegram_user_id=telegram_id, email=email
    )
    out.print(f"staff {member.id} {member.name} added as {member.role}")


@staff_app.command("list")
def staff_list() -> None:
    """Every staff member with role and status.

    Example: rapport staff list
    """
    db = schema.open_database(_settings().database_url)
    table = Table("id", "name", "role", "telegram id", "email", "active")
    for m in list_staff(db):
        table.add_row(
            str(m.id),
            m.name,
            m.role,
            str(m.telegram_user_id or "—"),
            m.email or "—",
            "yes" if m.active else "no",
        )
    out.print(table)


@staff_app.command("role")
def staff_role(staff_id: int, role: str) -> None:
    """Change a staff member's role.

    Example: rapport staff role 3 manager
    """
    db = schema.open_database(_settings().database_url)
    member = set_role(db, _cli_actor(), staff_id, role)
    out.print(f"staff {member.id} is now {member.role}")


@staff_app.command("remove")
def staff_remove(staff_id: int) -> None:
    """Deactivate a staff member (kept for the audit trail).

    Example: rapport staff remove 3
    """
    db = schema.open_database(_settings().database_url)
    member = set_role(db, _cli_actor(), staff_id, None, active=False)
    out.print(f"staff {member.id} deactivated")


@audit_app.command("list")
def audit_list(
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
    customer: Annotated[int | None, typer.Option(help="Only this customer.")] = None,
) -> None:
    """The newest audit events.

    Example: rapport audit list --customer 42 --limit 20
    """
    db = schema.open_database(_settings().database_url)
    table = Table("when", "who", "what", "customer", "detail")
    for e in audit_trail(db, _cli_actor(), limit=limit, customer_id=customer):
        table.add_row(_when(e.at), e.actor, e.action, str(e.customer_id or "—"), e.detail or "")
    out.print(table)


def _write_private(path: Path, text: str) -> None:
    """Owner-only from the start: the file holds a person's data."""
    with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
        f.write(text)


@privacy_app.command("export")
def privacy_export(
    customer_id: int,
    out_file: Annotated[
        Path | None, typer.Option("--out", help="Write the JSON here (default: stdout).")
    ] = None,
    html_file: Annotated[
        Path | None, typer.Option("--html", help="Also write a readable HTML page here.")
    ] = None,
) -> None:
    """Everything held about one customer, as JSON (and HTML), for a subject access request.

    Example: rapport privacy export 42 --out ann.json --html ann.html
    """
    db = schema.open_database(_settings().database_url)
    data = export_customer(db, _cli_actor(), customer_id)
    text = json.dumps(data, ensure_ascii=False, indent=2)
    if out_file is None:
        print(text)
    else:
        _write_private(out_file, text + "\n")
    if html_file is not None:
        _write_private(html_file, export_html(data))
    rows = sum(len(v) for v in data["tables"].values())
    if out_file is not None or html_file is not None:
        out.print(f"customer {customer_id}: {rows} rows exported")


@privacy_app.command("erase")
def privacy_erase(
    customer_id: int,
    yes: Annotated[bool, typer.Option("--yes", help="Confirm: this cannot be undone.")] = False,
) -> None:
    """Remove a customer's personal data and messages; anonymised totals stay for reports.

    Example: rapport privacy erase 42 --yes
    """
    if not yes:
        raise InvalidInput("erasing cannot be undone; run again with --yes to confirm")
    db = schema.open_database(_settings().database_url)
    e = erase_customer(db, _cli_actor(), customer_id)
    out.print(
        f"customer {e.customer_id} erased: {e.identities} address(es), {e.messages} message(s), "
        f"{e.comments} survey comment(s), {e.tags} tag(s)"
    )


@privacy_app.command("retention")
def privacy_retention() -> None:
    """Clear message bodies older than RAPPORT_RETENTION_MONTHS now (also run daily).

    Example: rapport privacy retention
    """
    settings = _settings()
    db = schema.open_database(settings.database_url)
    result = enforce_retention(db, months=settings.retention_months)
    if result.cutoff is None:
        out.print("retention is off (RAPPORT_RETENTION_MONTHS=0): nothing cleared")
        return
    out.print(
        f"cleared {result.messages} message(s) and {result.comments} comment(s) "
        f"older than {result.cutoff:%Y-%m-%d}"
    )


@import_app.command("orders")
def import_orders_cmd(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    show_errors: Annotated[int, typer.Option(help="Row errors listed at most.")] = 50,
) -> None:
    """Import orders from CSV (customer, amount, currency, date, order_id); re-running is safe.

    Good rows go in; bad rows are skipped and listed by line number. Unknown
    email addresses become customers; unknown Telegram chat ids are refused.

    Example: rapport import orders orders.csv
    """
    from rich.progress import Progress

    from rapport.crm.value.orders import count_rows, import_orders_file

    settings = _settings()
    db = schema.open_database(settings.database_url)
    with Progress(console=out, transient=True) as progress:
        task = progress.add_task("importing orders", total=count_rows(file))
        report = import_orders_file(
            db,
            file,
            shop_currency=settings.currency,
            points_per_currency_unit=settings.points_per_currency_unit,
            zone=settings.zone,
            source=f"csv:{file.name}"[:40],
            progress=lambda n: progress.advance(task, n),
        )
    out.print(
        f"{report.imported} imported, {report.duplicates} already there, "
        f"{len(report.errors)} refused; {report.new_customers} new customer(s), "
        f"{report.points} points earned"
    )
    if report.errors:
        table = Table("line", "reason")
        for error in report.errors[:show_errors]:
            table.add_row(str(error.row), error.reason)
        out.print(table)
        if len(report.errors) > show_errors:
            out.print(f"… and {len(report.errors) - show_errors} more")
        raise typer.Exit(1)


@customers_app.command("values")
def customers_values(
    customer_id: Annotated[int | None, typer.Argument(help="Explain one customer.")] = None,
    recompute: Annotated[
        bool, typer.Option(help="Recompute every customer's values first.")
    ] = False,
) -> None:
    """Customer value: recompute, then explain one customer or count customers per tier.

    Example: rapport customers values --recompute
    """
    from rapport.crm.value.loyalty import expire_points, parse_tiers
    from rapport.crm.value.scores import explain_value, recompute_values, value_tier_counts

    settings = _settings()
    db = schema.open_database(settings.database_url)
    if recompute:
        expired = expire_points(db, settings.points_expire_months)
        stats = recompute_values(db, tiers=parse_tiers(settings.loyalty_tiers))
        out.print(
            f"values recomputed for {stats.customers} customer(s), {stats.with_orders} with "
            f"orders; {stats.tier_changes} loyalty tier change(s); {expired} point(s) expired"
        )
    if customer_id is not None:
        customer_profile(db, _cli_actor(), customer_id, recent=0)  # audited read
        for line in explain_value(db, customer_id):
            out.print(line)
        return
    table = Table("value tier", "customers", "total spend", "predicted 12 months")
    for tier, count, spend, predicted in value_tier_counts(db):
        table.add_row(tier, str(count), f"{spend:,.2f}", f"{predicted:,.2f}")
    out.print(table)


@points_app.command("balance")
def points_balance(customer_id: int) -> None:
    """A customer's points balance (the sum of their ledger entries).

    Example: rapport points balance 42
    """
    from rapport.crm.value.loyalty import balance

    db = schema.open_database(_settings().database_url)
    out.print(f"customer {customer_id}: {balance(db, customer_id)} points")


@points_app.command("redeem")
def points_redeem(
    customer_id: int,
    points: int,
    reason: Annotated[str, typer.Option(help="What the points were spent on.")] = "redeemed",
) -> None:
    """Spend a customer's points; refused if the balance is too small.

    Example: rapport points redeem 42 500 --reason "gift voucher"
    """
    from rapport.crm.value.loyalty import redeem_points

    db = schema.open_database(_settings().database_url)
    left = redeem_points(db, customer_id, points, reason)
    out.print(f"customer {customer_id}: {points} points redeemed, {left} left")


@report_app.command("acquisition")
def report_acquisition(
    months: Annotated[
        int, typer.Option(min=1, max=120, help="Months back, this one included.")
    ] = 12,
    segment: Annotated[str | None, typer.Option(help="Only customers this segment picks.")] = None,
) -> None:
    """New customers per month of first contact, by first channel.

    Example: rapport report acquisition --months 6
    """
    from rapport.crm.reports.retention import acquisition, add_months, month_start

    db = schema.open_database(_settings().database_url)
    now = utcnow()
    start = add_months(month_start(now), 1 - months)
    rows = acquisition(db, start, add_months(month_start(now), 1), segment=segment, now=now)
    channels = sorted({r.channel for r in rows})
    by_month: dict[str, dict[str, int]] = {}
    for r in rows:
        by_month.setdefault(r.month, {})[r.channel] = r.customers
    table = Table("month", *channels, "total")
    for n in range(months):
        month = f"{add_months(start, n):%Y-%m}"
        counts = by_month.get(month, {})
        table.add_row(
            month, *(str(counts.get(ch, 0)) for ch in channels), str(sum(counts.values()))
        )
    out.print(table)


@report_app.command("retention")
def report_retention(
    months: Annotated[
        int, typer.Option(min=1, max=60, help="Cohorts back, this one included.")
    ] = 12,
    dormancy_days: Annotated[int, typer.Option(min=1, help="Silence that counts as churn.")] = 90,
) -> None:
    """Retention cohorts (share active n months after first contact), churned and reactivated.

    Example: rapport report retention --months 12 --dormancy-days 90
    """
    from rapport.crm.reports.retention import (
        add_months,
        churn_and_reactivation,
        month_start,
        retention_cohorts,
    )

    db = schema.open_database(_settings().database_url)
    now = utcnow()
    start = add_months(month_start(now), 1 - months)
    cohorts = retention_cohorts(db, start, now)
    width = max((len(c.active) for c in cohorts), default=1)
    table = Table("cohort", "customers", *(f"+{k}" for k in range(width)))
    for c in cohorts:
        cells = [_pct(s) for s in c.shares]
        table.add_row(c.month, str(c.size), *cells, *([""] * (width - len(cells))))
    out.print(table)
    churn = Table("month", "new", "active", "churned", "reactivated")
    for r in churn_and_reactivation(db, start, months, dormancy_days=dormancy_days):
        churn.add_row(r.month, str(r.new), str(r.active), str(r.churned), str(r.reactivated))
    out.print(churn)


# --- the conversations desk (docs/desk.md) ---------------------------------------------------

T = TypeVar("T")
conversations_app = typer.Typer(
    no_args_is_help=True, help="The conversations desk: take, answer, resolve (audited)."
)
app.add_typer(conversations_app, name="conversations")


def _staff_actor(db: database.Database, staff_id: int | None) -> Actor:
    """The staff member the CLI acts for (answers are theirs in reports), else the operator."""
    from rapport.crm.models import StaffMember
    from rapport.crm.staff.roles import actor_for

    if staff_id is None:
        return _cli_actor()
    with db.session() as session:
        member = session.get(StaffMember, staff_id)
        if member is None or not member.active:
            raise InvalidInput(f"no active staff member {staff_id} (see rapport staff list)")
        return actor_for(member)


async def _with_channels(
    settings: Settings, work: Callable[[dict[str, Channel]], Awaitable[T]]
) -> T:
    """Run `work(channels)` with the configured outbound channels, closing them after."""
    from rapport.channels.telegram.standalone import TelegramSender

    channels = outbound_channels(settings)
    telegram = TelegramSender(settings) if settings.telegram_token else None
    try:
        if telegram is not None:
            await telegram.start()
            channels["telegram"] = telegram.channel
        return await work(channels)
    finally:
        if telegram is not None:
            await telegram.stop()
        for channel in channels.values():
            close = getattr(channel, "close", None)
            if close is not None:
                await close()


@conversations_app.command("list")
def conversations_list(
    all_: Annotated[bool, typer.Option("--all", help="Resolved ones too.")] = False,
) -> None:
    """Open and waiting conversations, longest waiting first.

    Example: rapport conversations list --all
    """
    from rapport.crm.desk.conversations import list_conversations

    db = schema.open_database(_settings().database_url)
    table = Table("id", "customer", "channel", "status", "agent", "complaint", "last message")
    for v in list_conversations(db, _cli_actor(), include_resolved=all_):
        table.add_row(
            str(v.id),
            escape(f"#{v.customer_id} {v.customer_name or ''}"),
            v.channel,
            v.status
            + (f" (reopened ×{v.reopened_count})" if v.reopened_count else "")
            + (" (answer NOT delivered)" if v.send_error else ""),
            escape(v.assigned_name or "—"),
            ("yes" if v.is_complaint else "")
            + (f", follow up by {_when(v.follow_up_due)}" if v.follow_up_due else ""),
            _when(v.last_message_at),
        )
    out.print(table)


@conversations_app.command("take")
def conversations_take(
    conversation: int,
    staff: Annotated[int, typer.Option(help="Staff id the conversation goes to.")],
    force: Annotated[bool, typer.Option(help="Take it over from someone else.")] = False,
) -> None:
    """Assign a conversation to a staff member.

    Example: rapport conversations take 42 --staff 3
    """
    from rapport.crm.desk.conversations import take

    db = schema.open_database(_settings().database_url)
    view = take(db, _staff_actor(db, staff), conversation, force=force)
    out.print(f"conversation {view.id} is now {escape(view.assigned_name or '')}'s")


@conversations_app.command("reply")
def conversations_reply(
    conversation: int,
    text: str,
    staff: Annotated[int | None, typer.Option(help="Staff id answering.")] = None,
) -> None:
    """Answer the customer on the conversation's channel (email in the same thread).

    Example: rapport conversations reply 42 "Your parcel left today." --staff 3
    """
    from rapport.crm.desk.conversations import send_reply

    settings = _settings()
    db = schema.open_database(settings.database_url)
    actor = _staff_actor(db, staff)
    asyncio.run(_with_channels(settings, lambda ch: send_reply(db, actor, ch, conversation, text)))
    out.print(f"sent to the customer of conversation {conversation}")


@conversations_app.command("resolve")
def conversations_resolve(
    conversation: int,
    staff: Annotated[int | None, typer.Option(help="Staff id resolving.")] = None,
) -> None:
    """Resolve; a complaint's customer is asked how it was handled (CSAT 1-5).

    Example: rapport conversations resolve 42 --staff 3
    """
    from rapport.crm.desk.conversations import send_resolution

    settings = _settings()
    db = schema.open_database(settings.database_url)
    actor = _staff_actor(db, staff)
    done = asyncio.run(
        _with_channels(settings, lambda ch: send_resolution(db, actor, ch, conversation))
    )
    message = f"conversation {conversation} resolved"
    if done.survey_sent:
        message += "; satisfaction question sent"
    elif done.survey_error:
        message += f"; the satisfaction question could NOT be sent: {done.survey_error}"
    out.print(escape(message))


@conversations_app.command("complaint")
def conversations_complaint(
    conversation: int,
    staff: Annotated[int | None, typer.Option(help="Staff id flagging it.")] = None,
) -> None:
    """Flag a complaint; a follow-up task gets a due date.

    Example: rapport conversations complaint 42 --staff 3
    """
    from rapport.crm.desk.conversations import flag_complaint
    from rapport.crm.desk.rules import load_rules

    settings = _settings()
    db = schema.open_database(settings.database_url)
    due = flag_complaint(db, _staff_actor(db, staff), conversation, load_rules(settings))
    out.print(f"conversation {conversation} is a complaint; follow up by {_when(due)}")


@conversations_app.command("followups")
def conversations_followups(
    all_: Annotated[bool, typer.Option("--all", help="Done ones too.")] = False,
) -> None:
    """Complaint follow-up tasks, overdue first; due dates in the business's time zone.

    Example: rapport conversations followups --all
    """
    from rapport.crm.desk.follow_ups import describe_reason, list_follow_ups
    from rapport.crm.desk.rules import load_rules

    settings = _settings()
    zone = load_rules(settings).hours.zone
    db = schema.open_database(settings.database_url)
    now = utcnow()
    table = Table(
        "conversation", "customer", "reason", "agent", "status", f"due ({zone.key})", "done"
    )
    for v in list_follow_ups(db, _cli_actor(), include_done=all_):
        table.add_row(
            str(v.conversation_id),
            escape(f"#{v.customer_id} {v.customer_name or ''}"),
            escape(describe_reason(v.reason)),
            escape(v.assigned_name or "—"),
            v.status,
            ("OVERDUE " if v.overdue(now) else "") + f"{v.due_at.astimezone(zone):%Y-%m-%d %H:%M}",
            _when(v.done_at),
        )
    out.print(table)


@conversations_app.command("followup-done")
def conversations_followup_done(
    conversation: int,
    staff: Annotated[int | None, typer.Option(help="Staff id marking it done.")] = None,
) -> None:
    """Mark a complaint's follow-up done without resolving the conversation (audited).

    Example: rapport conversations followup-done 42 --staff 3
    """
    from rapport.crm.desk.follow_ups import mark_done

    db = schema.open_database(_settings().database_url)
    view = mark_done(db, _staff_actor(db, staff), conversation)
    out.print(
        f"follow-up of conversation {conversation} done; the conversation stays {view.status}"
    )


@report_app.command("desk")
def report_desk(
    days: Annotated[int, typer.Option(min=1, help="Conversations opened in this many days.")] = 30,
) -> None:
    """First response and resolution times (p50/p90, business time), breaches, per agent/segment.

    Example: rapport report desk --days 7
    """
    from rapport.bot.desk_commands import REPORT_HEADER, report_rows
    from rapport.crm.desk.report import desk_report
    from rapport.crm.desk.rules import load_rules

    settings = _settings()
    db = schema.open_database(settings.database_url)
    now = utcnow()
    report = desk_report(db, load_rules(settings), Period.last_days(days, now), now)
    table = Table(*REPORT_HEADER)
    for row in report_rows(report):
        table.add_row(*(escape(cell) for cell in row))
    out.print(table)
