"""`rapport campaigns …`: define, schedule, pause, edit and fire campaigns."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated
from zoneinfo import ZoneInfo

import typer
from rich.text import Text

from rapport.bot.cli.common import acting, configured_settings, open_db, out, style
from rapport.bot.cli.progress import Bar, progress_bar
from rapport.bot.cli.render import FormatOption, OutputFormat, WideOption, show
from rapport.crm.clock import utcnow
from rapport.crm.errors import InvalidInput

if TYPE_CHECKING:
    from rapport.channels.registry import OutboundChannels
    from rapport.crm.campaigns.definitions import CampaignView
    from rapport.crm.campaigns.runs import RunOutcome, RunSummary
    from rapport.crm.database import Database
    from rapport.crm.settings import Settings

PROGRESS_POLL_SECONDS = 0.2
SETTLE_SECONDS = 30.0
"""How long `run-now` waits for deliveries another dispatcher claimed to be sent."""

app = typer.Typer(no_args_is_help=True, help="Loyalty, feedback and announcements.")


def _parse_time(value: str | None, zone: str) -> datetime | None:
    from rapport.bot.schedule_text import parse_local_time

    return parse_local_time(value, zone)


@app.command("create")
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
    from rapport.crm.campaigns.definitions import CampaignSpec, InvalidCampaign, create_campaign

    settings = configured_settings()
    zone = timezone or settings.timezone
    if (template is None) == (template_file is None):
        raise InvalidCampaign("give the message as --template or --template-file")
    body = template if template is not None else template_file.read_text("utf-8")  # type: ignore[union-attr]
    with open_db(settings.database_url) as db:
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


def _schedule_words(campaign: CampaignView, zone: ZoneInfo | None = None) -> str:
    from rapport.bot.schedule_text import schedule_words

    return schedule_words(campaign, zone)


@app.command("list")
def campaigns_list(fmt: FormatOption = OutputFormat.TABLE, wide: WideOption = False) -> None:
    """Every campaign with its status, next run (in RAPPORT_TIMEZONE) and schedule.

    Example: rapport campaigns list
    """
    from rapport.bot.present.lists import campaign_listing
    from rapport.bot.schedule_text import next_run
    from rapport.crm.campaigns.definitions import list_campaigns

    settings = configured_settings()
    now = utcnow()
    with open_db(settings.database_url) as db:
        rows = [
            (c, _schedule_words(c, settings.zone), next_run(c, settings.zone, now))
            for c in list_campaigns(db)
        ]
    show(campaign_listing(rows, settings.zone), style(settings), fmt, wide=wide)


@app.command("show")
def campaigns_show(campaign: str) -> None:
    """A campaign's definition and the numbers of its runs.

    Example: rapport campaigns show "Monthly CSAT"
    """
    from rapport.crm.campaigns.definitions import get_campaign
    from rapport.crm.campaigns.runs import run_ids, summarise

    with open_db(configured_settings().database_url) as db:
        c = get_campaign(db, campaign)
        out.print(
            Text(f"#{c.id} {c.name}", style="bold"), f"— {c.kind}, {c.status}, {_schedule_words(c)}"
        )
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


@app.command("pause")
def campaigns_pause(campaign: str) -> None:
    """Stop firing and sending; queued messages wait until resumed.

    Example: rapport campaigns pause "Monthly CSAT"
    """
    from rapport.crm.campaigns.definitions import set_status
    from rapport.crm.models import CampaignStatus

    with open_db(configured_settings().database_url) as db:
        c = set_status(db, campaign, CampaignStatus.PAUSED)
        out.print(f"campaign {c.id} paused")


@app.command("resume")
def campaigns_resume(campaign: str) -> None:
    """Fire on schedule and send again.

    Example: rapport campaigns resume "Monthly CSAT"
    """
    from rapport.crm.campaigns.definitions import set_status
    from rapport.crm.models import CampaignStatus

    with open_db(configured_settings().database_url) as db:
        c = set_status(db, campaign, CampaignStatus.ACTIVE)
        out.print(f"campaign {c.id} active")


@app.command("edit")
def campaigns_edit(
    campaign: str,
    template: Annotated[str | None, typer.Option(help="New message (Jinja2).")] = None,
    template_file: Annotated[
        Path | None, typer.Option(help="Read the new message from a file.")
    ] = None,
    subject: Annotated[str | None, typer.Option(help="Email subject.")] = None,
    cron: Annotated[str | None, typer.Option(help="Five-field crontab (drops --at).")] = None,
    at: Annotated[
        str | None, typer.Option(help="One-off time, ISO, campaign zone (drops --cron).")
    ] = None,
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
    from rapport.crm.campaigns.definitions import InvalidCampaign, get_campaign, update_campaign

    if template is not None and template_file is not None:
        raise InvalidCampaign("give the message as --template or --template-file, not both")
    if template_file is not None:
        template = template_file.read_text("utf-8")
    given: dict[str, object] = {
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
    changes = {k: v for k, v in given.items() if v is not None}
    if not changes and at is None:
        raise InvalidCampaign("nothing to change: give at least one option (see --help)")
    if cron is not None and at is not None:
        raise InvalidCampaign("give either --cron or --at, not both")
    with open_db(configured_settings().database_url) as db:
        if cron is not None:
            changes["run_at"] = None  # a recurrence replaces a one-off time
        if at is not None:
            zone = timezone or get_campaign(db, campaign).timezone
            changes.update(run_at=_parse_time(at, zone), schedule_cron=None)
        c = update_campaign(db, campaign, **changes)
        out.print(f"campaign {c.id} updated: {', '.join(sorted(changes))}")


@app.command("run-now")
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
    import asyncio

    from rapport.channels.registry import OutboundChannels
    from rapport.crm.campaigns.definitions import get_campaign
    from rapport.crm.campaigns.progress import send_problems
    from rapport.crm.campaigns.runs import dry_run as dry_run_counts
    from rapport.crm.campaigns.runs import start_run

    settings = configured_settings()
    outbound = OutboundChannels.from_settings(settings)  # the channels `rapport run` has
    with open_db(settings.database_url) as db:
        c = get_campaign(db, campaign)
        if dry_run:
            summary = dry_run_counts(
                db, c.id, channels=outbound.names, frequency_cap=settings.frequency_cap_per_week
            )
            skipped = ", ".join(f"{k} {v}" for k, v in summary.skipped.items()) or "none"
            out.print(
                f"dry run: {summary.queued} would be queued, skipped: {skipped}; nothing written"
            )
            return
        with progress_bar("run-now: making deliveries"):
            summary = start_run(
                db,
                c.id,
                trigger="manual",
                channels=outbound.names,
                frequency_cap=settings.frequency_cap_per_week,
                again=again,
            )
        if not summary.created:
            _already_ran(c, summary, settings.zone)
            return
        skipped = ", ".join(f"{k} {v}" for k, v in summary.skipped.items()) or "none"
        out.print(f"run {summary.run_id}: {summary.queued} queued, skipped: {skipped}")
        if send and summary.queued:
            with progress_bar("run-now: sending", total=summary.queued) as bar:
                outcome, held = asyncio.run(
                    _send(settings, db, outbound, summary.run_id, summary.queued, bar)
                )
            out.print(
                f"sent {outcome.sent}, retry later {outcome.retrying}, failed {outcome.failed}, "
                f"skipped {outcome.skipped - sum(summary.skipped.values())}"
            )
            for channel, (count, reason) in held.items():
                out.print(f"{count} {channel} delivery(ies) held, not sent: {reason}")
            for problem, count in send_problems(db, summary.run_id):
                out.print(f"  {count} waiting or failed: {problem}")
            left = outcome.waiting + outcome.retrying + outcome.in_flight
            if left:
                out.print(
                    f"{left} still queued (customers who wrote in the last "
                    f"{settings.dispatch_quiet_seconds:g} s, or retries): `rapport run` sends them"
                )


async def _send(
    settings: Settings,
    db: Database,
    outbound: OutboundChannels,
    run_id: int,
    queued: int,
    bar: Bar,
) -> tuple[RunOutcome, dict[str, tuple[int, str]]]:
    """Send what is queued now through the outbound channels, closing them after.

    Returns the run's outcome (whoever sent) and, per channel, how many deliveries were held
    unsent and why (e.g. mail that could carry no working unsubscribe link).

    On a terminal, the bar follows the run's deliveries as they settle: it reads
    the run's count of unsettled deliveries a few times a second rather than
    hooking into the dispatcher, so it shows what the database holds, whoever
    sends (workers of `rapport run` too).
    """
    import asyncio

    from rapport.bot.dispatch_service import dispatcher_for
    from rapport.crm.campaigns.runs import still_queued

    async with outbound:
        dispatcher = dispatcher_for(settings, db, outbound)

        async def follow() -> None:
            while True:
                bar.update(completed=queued - still_queued(db, run_id))
                await asyncio.sleep(PROGRESS_POLL_SECONDS)

        follower = asyncio.create_task(follow()) if bar.shown else None
        try:
            await dispatcher.drain()
            outcome = await _settled(db, run_id)
        finally:
            if follower is not None:
                follower.cancel()
        held = {ch: (n, dispatcher.hold[ch]) for ch, n in dispatcher.held().items()}
        return outcome, held


async def _settled(db: Database, run_id: int) -> RunOutcome:
    """The run's outcome once deliveries another dispatcher claimed have settled.

    With `rapport run` up, its dispatcher may claim the new deliveries before
    this one does; reporting only our own sends would say "sent 0" for mail
    that is going out. Waits at most SETTLE_SECONDS, then reports what is
    still in flight as queued.
    """
    import asyncio

    from rapport.crm.campaigns.runs import run_outcome

    deadline = asyncio.get_running_loop().time() + SETTLE_SECONDS
    outcome = run_outcome(db, run_id)
    while outcome.in_flight and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(PROGRESS_POLL_SECONDS)
        outcome = run_outcome(db, run_id)
    return outcome


def _already_ran(campaign: CampaignView, summary: RunSummary, zone: ZoneInfo) -> None:
    at = summary.scheduled_for.astimezone(zone) if summary.scheduled_for else None
    out.print(
        f"campaign {campaign.id} already ran in this minute's slot"
        f"{f' ({at:%H:%M %Z})' if at else ''}: run {summary.run_id}, {summary.queued} queued; "
        "nothing new. To run it again on purpose: "
        f"rapport campaigns run-now {campaign.name!r} --again"
    )


@app.command("preview")
def campaigns_preview(
    campaign: str,
    customer: Annotated[int | None, typer.Option(help="Customer id (default: a sample).")] = None,
) -> None:
    """Print a campaign's message exactly as one customer would get it (audited).

    Example: rapport campaigns preview "Monthly CSAT" --customer 42
    """
    from rapport.bot.campaign_preview import preview_text
    from rapport.crm.staff.roles import Permission

    settings = configured_settings()
    with open_db(settings.database_url) as db:
        actor = acting(db, None, Permission.RUN_CAMPAIGNS)
        print(preview_text(db, settings, actor, campaign, customer))


@app.command("test")
def campaigns_test(
    campaign: str,
    email: Annotated[str | None, typer.Option(help="Send the test to this address.")] = None,
    telegram_id: Annotated[int | None, typer.Option(help="…or to this Telegram chat.")] = None,
) -> None:
    """Send one real test message through the channel; it never counts anywhere.

    A test is marked "[TEST]", goes to the address given (not into a customer's
    history, the reports or the frequency cap) and its unsubscribe link changes nothing.

    Example: rapport campaigns test "Monthly CSAT" --email me@shop.example
    """
    import asyncio

    from rapport.bot.campaign_preview import send_test
    from rapport.crm.staff.roles import Permission

    if (email is None) == (telegram_id is None):
        raise InvalidInput("give one of --email ADDRESS or --telegram-id CHAT_ID")
    channel, address = ("email", email) if email is not None else ("telegram", str(telegram_id))
    assert address is not None
    settings = configured_settings()
    with open_db(settings.database_url) as db:
        actor = acting(db, None, Permission.RUN_CAMPAIGNS)
        said = asyncio.run(send_test(db, settings, actor, campaign, channel, address))
    out.print(said)
