"""What staff can do from Telegram: small handlers that delegate to `crm/`.

One registry, `COMMANDS`, says for each command its name, the permission
it needs, its one-line help and its handler; it drives the PTB handlers,
`/help` (only what the member's role allows) and docs/staff-commands.md
(`python -m rapport.bot.staff_commands > docs/staff-commands.md`; a test checks the
file matches).

Every command asks `rapport.crm.staff.roles.authorise` first. Someone who is not (active)
staff learns nothing: the staff handlers step aside and the customer
dialogs answer with their usual "unknown command" (the attempt is logged
with a pseudonym of the user id and no message text). A member whose role
lacks the permission gets a clear refusal.

Precedence: the staff handlers sit in an earlier PTB handler group
(`STAFF_GROUP`) than the customer dialogs; when they handle an update they
stop it there (`ApplicationHandlerStop`), so a staff member's `/help` is the
staff help and a customer's `/help` is untouched. Anything that is not a
staff command goes on to the customer dialogs as before.

Long lists are paged with inline buttons (`page:<list>:<n>`); a tap re-reads
the list and edits the message in place, so nothing is kept between taps.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from telegram import (
    Bot,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputFile,
    Update,
)
from telegram.error import TelegramError
from telegram.ext import (
    Application,
    ApplicationHandlerStop,
    BaseHandler,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    filters,
)

from rapport.bot import charts, exports
from rapport.bot.desk_commands import (
    DESK_COMMANDS,
    conversations_page,
    followups_page,
    reply_handler,
    staff_chat_guard,
)
from rapport.bot.report_text import comparison_rows
from rapport.bot.report_text import num as _num
from rapport.bot.report_text import pct as _pct
from rapport.bot.report_text import skipped as _skipped
from rapport.bot.report_text import when as _when
from rapport.crm.campaigns.definitions import get_campaign, list_campaigns, set_status
from rapport.crm.campaigns.runs import run_ids, start_run, summarise
from rapport.crm.clock import utcnow
from rapport.crm.customers.profiles import CustomerProfile, customer_profile, list_customers
from rapport.crm.database import Database
from rapport.crm.errors import InvalidInput, NotFound, PermissionDenied, RapportError
from rapport.crm.models import CampaignStatus, StaffMember
from rapport.crm.privacy.requests import erase_customer, export_customer, export_html
from rapport.crm.reports.programmes import (
    Period,
    ProgrammeMetrics,
    programme_metrics,
    segment_campaign_ids,
)
from rapport.crm.segments.rules import describe
from rapport.crm.segments.saved import count_members, list_segments, points_of, segment_rule
from rapport.crm.segments.saved import segments_of as segments_of_customer
from rapport.crm.settings import Settings
from rapport.crm.staff.roles import (
    ROLE_PERMISSIONS,
    Permission,
    actor_for,
    audit_trail,
    authorise,
    staff_by_telegram,
)

log = logging.getLogger(__name__)

STAFF_GROUP = -1
"""PTB handler group of the staff commands: before the customer dialogs (group 0)."""
CHANNELS_KEY = "rapport.channels"
"""`bot_data` key: the channel names the running app can send through (set by the runner)."""
WAKE_KEY = "rapport.wake_dispatcher"
"""`bot_data` key: a callable that wakes the dispatcher (set by the runner)."""
SENDERS_KEY = "rapport.senders"
"""`bot_data` key: `dict[channel name, rapport.crm.channel.Channel]` for direct one-off sends."""
PAGE_SIZE = 8
MAX_AUDIT = 200
MAX_MATCHES = 10
DEFAULT_DAYS = 30
MAX_DAYS = 3650
SNIPPET = 80
MAX_LINE = 400
"""Longest line of a paged list: a page (PAGE_SIZE lines) stays under Telegram's 4096."""

Handler = Callable[["StaffCommands", "Call"], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Call:
    """One staff command being answered: who asked, in which chat, with which words."""

    bot: Bot
    chat_id: int
    member: StaffMember
    args: list[str]
    bot_data: dict[str, object]


@dataclass(frozen=True, slots=True)
class StaffCommand:
    name: str
    permission: Permission | None
    """None: any active staff member."""
    usage: str
    help: str
    handler: Handler


# --- helpers ------------------------------------------------------------------------------


def _pseudonym(user_id: int) -> str:
    """Enough to tell repeated attempts apart in the log without writing the id in clear."""
    return hashlib.sha256(f"telegram:{user_id}".encode()).hexdigest()[:10]


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _snippet(text: str | None) -> str:
    return _clip(" ".join((text or "").split()), SNIPPET)


def _days(word: str) -> int:
    if not word.isdigit() or not 1 <= int(word) <= MAX_DAYS:
        raise InvalidInput(f"the period is a number of days from 1 to {MAX_DAYS}, got {word!r}")
    return int(word)


def _period(days: int) -> Period:
    return Period.last_days(days, utcnow())


def _one_arg(call: Call, what: str) -> str:
    if not call.args:
        raise InvalidInput(f"give {what}")
    return " ".join(call.args)


def metrics_lines(now: ProgrammeMetrics, before: ProgrammeMetrics) -> list[str]:
    """The report figures (docs/reports.md), each with the previous period's in brackets."""
    pairs = comparison_rows(now, before)
    return [f"{name}: {a} (before: {b})" for name, a, b in pairs]


def profile_text(profile: CustomerProfile, points: int, segments: Sequence[str]) -> str:
    s = profile.summary
    lines = [
        f"Customer #{s.id}: {s.display_name or '(no name)'}",
        f"since {_when(profile.created_at)}, first seen on {s.first_seen_channel}",
        f"last active: {_when(s.last_activity_at)} on {s.last_channel or '—'}",
        f"marketing consent: {'yes' if profile.marketing_consent else 'no'}",
        "identities: " + "; ".join(f"{ch} {ext}" for ch, ext in profile.identities),
        f"points: {points} · segments: {', '.join(segments) or 'none'}",
        f"messages: {s.interactions}, average sentiment "
        + ("—" if profile.average_polarity is None else f"{profile.average_polarity:+.2f}"),
        "open conversation: "
        + ("none" if profile.open_conversation_id is None else f"#{profile.open_conversation_id}"),
    ]
    if profile.recent:
        lines.append("recent:")
        for r in profile.recent:
            arrow = "←" if r.direction == "in" else "→"
            lines.append(f"{r.sent_at:%m-%d %H:%M} {arrow} {r.channel}: {_snippet(r.body)}")
    return "\n".join(lines)


# --- paged lists ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Page:
    text: str
    markup: InlineKeyboardMarkup | None


def _paged(list_name: str, title: str, lines: Sequence[str], number: int) -> Page:
    """Page `number` (0-based, clamped) of `lines`, with previous/next buttons as needed."""
    if not lines:
        return Page(f"{title}: none yet.", None)
    pages = (len(lines) + PAGE_SIZE - 1) // PAGE_SIZE
    number = min(max(number, 0), pages - 1)
    shown = [_clip(line, MAX_LINE) for line in lines[number * PAGE_SIZE : (number + 1) * PAGE_SIZE]]
    header = f"{title} ({len(lines)})" + (f", page {number + 1} of {pages}" if pages > 1 else "")
    buttons = []
    if number > 0:
        buttons.append(
            InlineKeyboardButton("‹ previous", callback_data=f"page:{list_name}:{number - 1}")
        )
    if number < pages - 1:
        buttons.append(
            InlineKeyboardButton("next ›", callback_data=f"page:{list_name}:{number + 1}")
        )
    markup = InlineKeyboardMarkup([buttons]) if buttons else None
    return Page("\n".join([header + ":", *shown]), markup)


_PAGE_DATA = re.compile(r"^page:([a-z_]+):([0-9]{1,6})$")


# --- the commands --------------------------------------------------------------------------


class StaffCommands:
    """The staff handlers, bound to one database and one settings object."""

    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings

    # -- registration ------------------------------------------------------------------

    def handlers(self) -> list[BaseHandler[Update, ContextTypes.DEFAULT_TYPE, object]]:
        found: list[BaseHandler[Update, ContextTypes.DEFAULT_TYPE, object]] = [
            CommandHandler(spec.name, self._entry(spec), filters=filters.UpdateType.MESSAGE)
            for spec in COMMANDS
        ]
        found.append(CallbackQueryHandler(self.page_tap, pattern=r"^page:"))
        found.append(reply_handler(self))
        guard = staff_chat_guard(self)
        if guard is not None:
            found.append(guard)
        return found

    def register(self, application: Application) -> None:  # type: ignore[type-arg]
        application.add_handlers(self.handlers(), group=STAFF_GROUP)

    async def _member(self, user_id: int) -> StaffMember | None:
        return await asyncio.to_thread(staff_by_telegram, self.db, user_id)

    def _entry(
        self, spec: StaffCommand
    ) -> Callable[[Update, ContextTypes.DEFAULT_TYPE], Awaitable[None]]:
        async def entry(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
            user, chat = update.effective_user, update.effective_chat
            if user is None or chat is None:
                return
            member = await self._member(user.id)
            if member is None:
                # Step aside: the customer dialogs answer "unknown command" as for any typo.
                log.info("staff command /%s from non-staff user %s", spec.name, _pseudonym(user.id))
                return
            call = Call(context.bot, chat.id, member, list(context.args or []), context.bot_data)
            try:
                _check(member, spec.permission)
                await spec.handler(self, call)
            except PermissionDenied as exc:
                log.info("staff %d refused /%s: %s", member.id, spec.name, exc)
                await _say(call.bot, chat.id, f"Sorry: {exc}.")
            except RapportError as exc:
                await _say(
                    call.bot,
                    chat.id,
                    f"/{spec.name}: {exc}\nUsage: /{spec.name} {spec.usage}".rstrip(),
                )
            raise ApplicationHandlerStop

        return entry

    async def page_tap(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """A tap on previous/next: re-read the list, edit the message in place."""
        query = update.callback_query
        assert query is not None
        match = _PAGE_DATA.match(query.data or "")
        member = await self._member(query.from_user.id)
        if member is None or match is None or match.group(1) not in LISTS:
            log.info(
                "page tap from non-staff user %s or with bad data", _pseudonym(query.from_user.id)
            )
            await _answer(query, None)
            raise ApplicationHandlerStop
        list_name, number = match.group(1), int(match.group(2))
        permission, build = LISTS[list_name]
        try:
            _check(member, permission)
            page = await build(self, member, number)
        except RapportError as exc:
            await _answer(query, str(exc))
            raise ApplicationHandlerStop from None
        await _answer(query, None)
        try:
            await query.edit_message_text(page.text, reply_markup=page.markup)
        except TelegramError as exc:
            log.warning("could not turn a page: %s", type(exc).__name__)
        raise ApplicationHandlerStop

    async def _send_page(self, call: Call, list_name: str) -> None:
        _, build = LISTS[list_name]
        page = await build(self, call.member, 0)
        await _say(call.bot, call.chat_id, page.text, markup=page.markup)

    # -- list builders (for the first page and for taps) -------------------------------------

    async def segments_page(self, member: StaffMember, number: int) -> Page:
        def lines() -> list[str]:
            found = []
            for seg in list_segments(self.db):
                size = count_members(self.db, seg.id)
                found.append(f"• {seg.name}: {describe(segment_rule(seg))} ({size} now)")
            return found

        return _paged("segments", "Segments", await asyncio.to_thread(lines), number)

    async def campaigns_page(self, member: StaffMember, number: int) -> Page:
        def lines() -> list[str]:
            return [
                f"#{c.id} {c.name}: {c.kind}, {c.status}, "
                + (
                    f"cron {c.schedule_cron} {c.timezone}"
                    if c.schedule_cron
                    else f"once {_when(c.run_at)}"
                )
                for c in list_campaigns(self.db)
            ]

        return _paged("campaigns", "Campaigns", await asyncio.to_thread(lines), number)

    async def audit_page(self, member: StaffMember, number: int) -> Page:
        def lines() -> list[str]:
            events = audit_trail(self.db, actor_for(member), limit=MAX_AUDIT)
            return [
                f"{_when(e.at)} {e.actor} {e.action}"
                + (f" customer #{e.customer_id}" if e.customer_id else "")
                + (f" ({e.detail})" if e.detail else "")
                for e in events
            ]

        return _paged("audit", "Audit trail, newest first", await asyncio.to_thread(lines), number)

    # -- command handlers ---------------------------------------------------------------------

    async def help(self, call: Call) -> None:
        allowed = ROLE_PERMISSIONS.get(call.member.role, frozenset())
        lines = [
            f"/{c.name} {c.usage}".rstrip() + f" – {c.help}"
            for c in COMMANDS
            if c.permission is None or c.permission in allowed
        ]
        await _say(call.bot, call.chat_id, "Staff commands:\n" + "\n".join(lines))

    async def whoami(self, call: Call) -> None:
        m = call.member
        allowed = sorted(ROLE_PERMISSIONS.get(m.role, frozenset()))
        await _say(
            call.bot,
            call.chat_id,
            f"You are {m.name}, staff #{m.id}, role {m.role}.\nYou may: {', '.join(allowed)}.",
        )

    async def customer(self, call: Call) -> None:
        query = _one_arg(call, "a customer id, name, email or @handle").strip()
        actor = actor_for(call.member)
        if query.isdigit():
            customer_id = int(query)
        else:
            matches = await asyncio.to_thread(
                list_customers, self.db, actor, search=query.lstrip("@"), limit=MAX_MATCHES + 1
            )
            if not matches:
                raise NotFound(f"no customer matches {query!r}")
            if len(matches) > 1:
                more = (
                    " (showing the first 10; be more specific)"
                    if len(matches) > MAX_MATCHES
                    else ""
                )
                lines = [
                    f"#{c.id} {c.display_name or '(no name)'}, "
                    f"last active {_when(c.last_activity_at)}"
                    for c in matches[:MAX_MATCHES]
                ]
                await _say(
                    call.bot,
                    call.chat_id,
                    f"Several customers match{more}:\n"
                    + "\n".join(lines)
                    + "\nSend /customer <id>.",
                )
                return
            customer_id = matches[0].id

        def read() -> str:
            profile = customer_profile(self.db, actor, customer_id)
            return profile_text(
                profile, points_of(self.db, customer_id), segments_of_customer(self.db, customer_id)
            )

        await _say(call.bot, call.chat_id, await asyncio.to_thread(read))

    async def segments(self, call: Call) -> None:
        await self._send_page(call, "segments")

    async def campaigns(self, call: Call) -> None:
        await self._send_page(call, "campaigns")

    async def campaign(self, call: Call) -> None:
        ref = _one_arg(call, "a campaign id or name")

        def read() -> str:
            c = get_campaign(self.db, ref)
            runs = run_ids(self.db, c.id)
            lines = [
                f"Campaign #{c.id} {c.name}: {c.kind}, {c.status}",
                "schedule: "
                + (
                    f"cron {c.schedule_cron} ({c.timezone})"
                    if c.schedule_cron
                    else f"once at {_when(c.run_at)}"
                ),
                f"runs: {len(runs)}",
            ]
            if runs:
                last = summarise(self.db, runs[-1])
                skipped = ", ".join(f"{k} {v}" for k, v in sorted(last.skipped.items())) or "none"
                lines.append(f"last run #{last.run_id}: {last.queued} to send, skipped {skipped}")
            total = programme_metrics(self.db, campaign_ids=[c.id])
            lines.append("all runs so far:")
            lines += [
                f"delivered {total.delivered}, failed {total.failed}, pending {total.pending}, "
                f"skipped {_skipped(total)}",
                f"response rate {_pct(total.response_rate)}, "
                f"participation rate {_pct(total.participation_rate)}",
                f"CSAT mean {_num(total.csat_mean)}, "
                f"satisfied {_num(total.csat_satisfied_pct, '%')}, NPS {_num(total.nps)}",
            ]
            return "\n".join(lines)

        await _say(call.bot, call.chat_id, await asyncio.to_thread(read))

    def _channels(self, call: Call) -> tuple[str, ...]:
        """The channels the running app sends through (runner's word); else by settings."""
        given = call.bot_data.get(CHANNELS_KEY)
        if isinstance(given, tuple):
            return given
        found = ["telegram"]
        if self.settings.smtp_host and self.settings.mail_from:
            found.append("email")
        return tuple(found)

    async def campaign_run(self, call: Call) -> None:
        ref = _one_arg(call, "a campaign id or name")
        campaign = await asyncio.to_thread(get_campaign, self.db, ref)
        if campaign.status != CampaignStatus.ACTIVE:
            raise InvalidInput(
                f"campaign #{campaign.id} is {campaign.status}; "
                f"/campaign_resume {campaign.id} first"
            )
        summary = await asyncio.to_thread(
            start_run, self.db, campaign.id, trigger="manual", channels=self._channels(call)
        )
        log.info(
            "staff %d ran campaign %d by hand: run %d", call.member.id, campaign.id, summary.run_id
        )
        wake = call.bot_data.get(WAKE_KEY)
        if callable(wake):
            wake()
        skipped = ", ".join(f"{k} {v}" for k, v in sorted(summary.skipped.items())) or "none"
        if not summary.created:
            text = f"Campaign #{campaign.id} already started run #{summary.run_id} this minute"
        else:
            text = f"Campaign #{campaign.id} {campaign.name}: run #{summary.run_id} started"
        await _say(
            call.bot,
            call.chat_id,
            f"{text}: {summary.queued} to send, skipped {skipped}.\n"
            f"/campaign {campaign.id} shows progress.",
        )

    async def _set_status(self, call: Call, status: CampaignStatus) -> None:
        ref = _one_arg(call, "a campaign id or name")
        campaign = await asyncio.to_thread(set_status, self.db, ref, status)
        log.info("staff %d set campaign %d %s", call.member.id, campaign.id, status)
        await _say(
            call.bot,
            call.chat_id,
            f"Campaign #{campaign.id} {campaign.name} is now {campaign.status}.",
        )

    async def campaign_pause(self, call: Call) -> None:
        await self._set_status(call, CampaignStatus.PAUSED)

    async def campaign_resume(self, call: Call) -> None:
        await self._set_status(call, CampaignStatus.ACTIVE)

    async def report(self, call: Call) -> None:
        args = list(call.args)
        days = DEFAULT_DAYS
        scoped = bool(args) and args[0] in ("campaign", "segment")
        if args and args[-1].isdigit() and len(args) != (2 if scoped else 0):
            days = _days(args.pop())

        def read() -> str:
            ids: list[int] | None = None
            scope = "all campaigns"
            if args:
                kind, name = args[0], " ".join(args[1:])
                if kind not in ("campaign", "segment") or not name:
                    raise InvalidInput(
                        "say /report, /report campaign <id> or /report segment <name>"
                    )
                if kind == "campaign":
                    c = get_campaign(self.db, name)
                    ids, scope = [c.id], f"campaign #{c.id} {c.name}"
                else:
                    ids, scope = segment_campaign_ids(self.db, name), f"segment {name}"
            period = _period(days)
            now = programme_metrics(self.db, campaign_ids=ids, period=period)
            before = programme_metrics(self.db, campaign_ids=ids, period=period.previous())
            head = f"Report for {scope}, last {days} days (before: the {days} days before)"
            return "\n".join([head, *metrics_lines(now, before)])

        await _say(call.bot, call.chat_id, await asyncio.to_thread(read))

    def _report_and_days(self, call: Call, known: dict[str, str]) -> tuple[str, int]:
        if not call.args or call.args[0] not in known:
            raise InvalidInput("choose one of: " + ", ".join(known))
        if len(call.args) > 2:
            raise InvalidInput("give a report name and optionally a number of days")
        return call.args[0], _days(call.args[1]) if len(call.args) == 2 else DEFAULT_DAYS

    async def export(self, call: Call) -> None:
        report, days = self._report_and_days(call, exports.EXPORTS)
        made = await asyncio.to_thread(
            exports.export_report, self.db, actor_for(call.member), report, _period(days), days
        )
        await call.bot.send_document(
            chat_id=call.chat_id,
            document=InputFile(made.content, filename=made.filename),
            caption=f"{report}, last {days} days: {made.rows} rows (definitions: docs/reports.md)",
        )

    async def chart(self, call: Call) -> None:
        name, days = self._report_and_days(call, charts.CHARTS)
        period = _period(days)
        label = f"last {days} days"

        png = await asyncio.to_thread(charts.draw_report, self.db, name, period, label)
        await call.bot.send_photo(
            chat_id=call.chat_id,
            photo=InputFile(png, filename=f"{name}.png"),
            caption=f"{name}, {label}",
        )

    async def audit(self, call: Call) -> None:
        await self._send_page(call, "audit")

    async def privacy_export(self, call: Call) -> None:
        """A subject-access export as a JSON document and a readable HTML page."""
        customer_id = _customer_id(call)
        data = await asyncio.to_thread(
            export_customer, self.db, actor_for(call.member), customer_id
        )
        body = json.dumps(data, ensure_ascii=False, indent=2, default=str).encode("utf-8")
        for content, name in (
            (body, f"customer-{customer_id}.json"),
            (export_html(data).encode("utf-8"), f"customer-{customer_id}.html"),
        ):
            await call.bot.send_document(
                chat_id=call.chat_id,
                document=InputFile(content, filename=name),
                caption=f"everything held about customer {customer_id} (audited)",
            )

    async def privacy_erase(self, call: Call) -> None:
        """Irreversible, so it asks for the word `confirm` after the id."""
        customer_id = _customer_id(call)
        if call.args[1:] != ["confirm"]:
            raise InvalidInput(
                f"erasing cannot be undone: send /privacy_erase {customer_id} confirm"
            )
        done = await asyncio.to_thread(erase_customer, self.db, actor_for(call.member), customer_id)
        await _say(
            call.bot,
            call.chat_id,
            f"customer {customer_id} erased: {done.identities} address(es), "
            f"{done.messages} message(s), {done.comments} survey comment(s), "
            f"{done.tags} tag(s) removed; totals in reports are unchanged.",
        )


def _customer_id(call: Call) -> int:
    if not call.args or not call.args[0].isdigit():
        raise InvalidInput("give the customer's id (see /customer)")
    return int(call.args[0])


def _check(member: StaffMember, permission: Permission | None) -> None:
    """`authorise` for commands that need a permission; any active staff otherwise."""
    if permission is not None:
        authorise(member, permission)


async def _say(
    bot: Bot, chat_id: int, text: str, *, markup: InlineKeyboardMarkup | None = None
) -> None:
    """Answer staff; best effort (the command's effect is already stored), long text cut."""
    if len(text) > 4000:
        text = text[:3990] + "\n…"
    try:
        await bot.send_message(chat_id=chat_id, text=text, reply_markup=markup)
    except TelegramError as exc:
        log.warning("could not answer a staff chat: %s", type(exc).__name__)


async def _answer(query: CallbackQuery, text: str | None) -> None:
    try:
        await query.answer(text)
    except TelegramError as exc:
        log.warning("could not answer a button tap: %s", type(exc).__name__)


S = StaffCommands
COMMANDS: tuple[StaffCommand, ...] = (
    StaffCommand("help", None, "", "the staff commands your role allows", S.help),
    StaffCommand("whoami", None, "", "your name, role and what it allows", S.whoami),
    StaffCommand(
        "customer",
        Permission.VIEW_CUSTOMERS,
        "<id|name|email|@handle>",
        "a customer's profile, identities, points, segments and recent messages (audited)",
        S.customer,
    ),
    StaffCommand(
        "segments", Permission.VIEW_REPORTS, "", "saved segments, their rules and sizes", S.segments
    ),
    StaffCommand(
        "campaigns",
        Permission.VIEW_REPORTS,
        "",
        "all campaigns with kind, status and schedule",
        S.campaigns,
    ),
    StaffCommand(
        "campaign",
        Permission.VIEW_REPORTS,
        "<id|name>",
        "one campaign: status, last run, live numbers",
        S.campaign,
    ),
    StaffCommand(
        "campaign_run", Permission.RUN_CAMPAIGNS, "<id|name>", "run a campaign now", S.campaign_run
    ),
    StaffCommand(
        "campaign_pause",
        Permission.RUN_CAMPAIGNS,
        "<id|name>",
        "pause a campaign (queued messages wait)",
        S.campaign_pause,
    ),
    StaffCommand(
        "campaign_resume",
        Permission.RUN_CAMPAIGNS,
        "<id|name>",
        "resume a paused campaign",
        S.campaign_resume,
    ),
    StaffCommand(
        "report",
        Permission.VIEW_REPORTS,
        "[campaign <id>|segment <name>] [days]",
        "programme figures for a period against the one before",
        S.report,
    ),
    StaffCommand(
        "export",
        Permission.VIEW_REPORTS,
        "<" + "|".join(exports.EXPORTS) + "> [days]",
        "the report rows as a CSV document (audited)",
        S.export,
    ),
    StaffCommand(
        "chart",
        Permission.VIEW_REPORTS,
        "<" + "|".join(charts.CHARTS) + "> [days]",
        "a PNG chart of the report",
        S.chart,
    ),
    StaffCommand("audit", Permission.VIEW_AUDIT, "", "the audit trail, newest first", S.audit),
    StaffCommand(
        "privacy_export",
        Permission.PRIVACY,
        "<customer id>",
        "everything held about a customer, as JSON and HTML documents (audited)",
        S.privacy_export,
    ),
    StaffCommand(
        "privacy_erase",
        Permission.PRIVACY,
        "<customer id> confirm",
        "erase a customer's personal data, keeping anonymised totals (audited)",
        S.privacy_erase,
    ),
    *(StaffCommand(*spec) for spec in DESK_COMMANDS),
)

ListBuilder = Callable[[StaffCommands, StaffMember, int], Awaitable[Page]]
LISTS: dict[str, tuple[Permission | None, ListBuilder]] = {
    "segments": (Permission.VIEW_REPORTS, S.segments_page),
    "campaigns": (Permission.VIEW_REPORTS, S.campaigns_page),
    "audit": (Permission.VIEW_AUDIT, S.audit_page),
    "conversations": (Permission.ANSWER, conversations_page),
    "followups": (Permission.ANSWER, followups_page),
}


def commands_markdown() -> str:
    """docs/staff-commands.md, generated from the registry."""
    roles = ROLE_PERMISSIONS
    lines = [
        "# Staff commands in Telegram",
        "",
        "Generated from `bot/staff_commands.py` (`COMMANDS`) by "
        "`python -m rapport.bot.staff_commands > docs/staff-commands.md`; "
        "a test checks it is current.",
        "",
        "Register staff with "
        "`rapport staff add --name … --telegram-id … --role agent|manager|admin`. "
        'Anyone else who sends these commands gets the customer bot\'s "unknown command" reply; '
        "a role without the permission gets a clear refusal.",
        "",
        "| command | what it does | needs | " + " | ".join(roles) + " |",
        "|---|---|---|" + "---|" * len(roles),
    ]
    for c in COMMANDS:
        need = "any staff" if c.permission is None else str(c.permission)
        marks = [
            "yes" if c.permission is None or c.permission in perms else "no"
            for perms in roles.values()
        ]
        usage = f"/{c.name} {c.usage}".rstrip().replace("|", "\\|")
        lines.append(f"| `{usage}` | {c.help} | {need} | " + " | ".join(marks) + " |")
    lines += [
        "",
        "Lists longer than one message (`/segments`, `/campaigns`, `/audit`, `/conversations`, "
        "`/followups`) "
        "have previous/next "
        "buttons. Exports: "
        + "; ".join(f"`{k}` ({v})" for k, v in exports.EXPORTS.items())
        + ". Charts: "
        + "; ".join(f"`{k}` ({v})" for k, v in charts.CHARTS.items())
        + ". Figures are defined in [reports.md](reports.md).",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    print(commands_markdown(), end="")
