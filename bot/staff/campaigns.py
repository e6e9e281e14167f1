"""Segments and campaigns for staff: list them, look one up, run, pause and resume."""

from __future__ import annotations

import asyncio
import logging

from rapport.bot.report_text import figures_line, when
from rapport.bot.staff.kit import (
    Call,
    Commands,
    Page,
    StaffCommand,
    one_arg,
    paged,
    say,
)
from rapport.crm.campaigns.definitions import get_campaign, list_campaigns, set_status
from rapport.crm.campaigns.runs import run_ids, start_run, summarise
from rapport.crm.errors import InvalidInput
from rapport.crm.models import CampaignStatus
from rapport.crm.reports.programmes import programme_metrics
from rapport.crm.segments.rules import describe
from rapport.crm.segments.saved import count_members, list_segments, segment_rule
from rapport.crm.staff.roles import Permission, StaffView

log = logging.getLogger(__name__)


async def segments_page(cmds: Commands, member: StaffView, number: int) -> Page:
    def lines() -> list[str]:
        found = []
        for seg in list_segments(cmds.db):
            size = count_members(cmds.db, seg.id)
            found.append(f"• {seg.name}: {describe(segment_rule(seg))} ({size} now)")
        return found

    return paged("segments", "Segments", await asyncio.to_thread(lines), number)


async def campaigns_page(cmds: Commands, member: StaffView, number: int) -> Page:
    def lines() -> list[str]:
        return [
            f"#{c.id} {c.name}: {c.kind}, {c.status}, "
            + (
                f"cron {c.schedule_cron} {c.timezone}"
                if c.schedule_cron
                else f"once {when(c.run_at, cmds.settings.zone)}"
            )
            for c in list_campaigns(cmds.db)
        ]

    return paged("campaigns", "Campaigns", await asyncio.to_thread(lines), number)


async def segments(cmds: Commands, call: Call) -> None:
    await cmds.send_page(call, "segments")


async def campaigns(cmds: Commands, call: Call) -> None:
    await cmds.send_page(call, "campaigns")


async def campaign(cmds: Commands, call: Call) -> None:
    ref = one_arg(call, "a campaign id or name")

    def read() -> str:
        c = get_campaign(cmds.db, ref)
        runs = run_ids(cmds.db, c.id)
        lines = [
            f"Campaign #{c.id} {c.name}: {c.kind}, {c.status}",
            "schedule: "
            + (
                f"cron {c.schedule_cron} ({c.timezone})"
                if c.schedule_cron
                else f"once at {when(c.run_at, cmds.settings.zone)}"
            ),
            f"runs: {len(runs)}",
        ]
        if runs:
            last = summarise(cmds.db, runs[-1])
            skipped_words = ", ".join(f"{k} {v}" for k, v in sorted(last.skipped.items())) or "none"
            lines.append(f"last run #{last.run_id}: {last.queued} to send, skipped {skipped_words}")
        total = programme_metrics(cmds.db, campaign_ids=[c.id])
        lines.append("all runs so far:")
        lines += figures_line(total)
        return "\n".join(lines)

    await say(call.bot, call.chat_id, await asyncio.to_thread(read))


async def campaign_run(cmds: Commands, call: Call) -> None:
    ref = one_arg(call, "a campaign id or name")
    found = await asyncio.to_thread(get_campaign, cmds.db, ref)
    if found.status != CampaignStatus.ACTIVE:
        raise InvalidInput(
            f"campaign #{found.id} is {found.status}; /campaign_resume {found.id} first"
        )
    summary = await asyncio.to_thread(
        start_run,
        cmds.db,
        found.id,
        trigger="manual",
        channels=call.outbound.names,  # the registry `rapport campaigns run-now` uses too
        frequency_cap=cmds.settings.frequency_cap_per_week,
    )
    log.info("staff %d ran campaign %d by hand: run %d", call.member.id, found.id, summary.run_id)
    call.wake_dispatcher()
    skipped_words = ", ".join(f"{k} {v}" for k, v in sorted(summary.skipped.items())) or "none"
    if not summary.created:
        text = f"Campaign #{found.id} already started run #{summary.run_id} this minute"
    else:
        text = f"Campaign #{found.id} {found.name}: run #{summary.run_id} started"
    await say(
        call.bot,
        call.chat_id,
        f"{text}: {summary.queued} to send, skipped {skipped_words}.\n"
        f"/campaign {found.id} shows progress.",
    )


async def _set_status(cmds: Commands, call: Call, status: CampaignStatus) -> None:
    ref = one_arg(call, "a campaign id or name")
    changed = await asyncio.to_thread(set_status, cmds.db, ref, status)
    log.info("staff %d set campaign %d %s", call.member.id, changed.id, status)
    await say(
        call.bot, call.chat_id, f"Campaign #{changed.id} {changed.name} is now {changed.status}."
    )


async def campaign_pause(cmds: Commands, call: Call) -> None:
    await _set_status(cmds, call, CampaignStatus.PAUSED)


async def campaign_resume(cmds: Commands, call: Call) -> None:
    await _set_status(cmds, call, CampaignStatus.ACTIVE)


CAMPAIGN_COMMANDS = (
    StaffCommand(
        "segments", Permission.VIEW_REPORTS, "", "saved segments, their rules and sizes", segments
    ),
    StaffCommand(
        "campaigns",
        Permission.VIEW_REPORTS,
        "",
        "all campaigns with kind, status and schedule",
        campaigns,
    ),
    StaffCommand(
        "campaign",
        Permission.VIEW_REPORTS,
        "<id|name>",
        "one campaign: status, last run, live numbers",
        campaign,
    ),
    StaffCommand(
        "campaign_run", Permission.RUN_CAMPAIGNS, "<id|name>", "run a campaign now", campaign_run
    ),
    StaffCommand(
        "campaign_pause",
        Permission.RUN_CAMPAIGNS,
        "<id|name>",
        "pause a campaign (queued messages wait)",
        campaign_pause,
    ),
    StaffCommand(
        "campaign_resume",
        Permission.RUN_CAMPAIGNS,
        "<id|name>",
        "resume a paused campaign",
        campaign_resume,
    ),
)
