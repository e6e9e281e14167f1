"""Staff commands through the real PTB application and the Bot API stand-in.

One running bot per database answers every command for an agent, a manager,
an admin and someone who is not staff; the expected access is written out
by hand here (not derived from the permission table it checks).
"""

from __future__ import annotations

import csv
import io
import logging
from typing import Any

import pytest
from sqlalchemy import func, select
from telegram.ext import CommandHandler

from rapport.bot.app import customer_bot
from rapport.bot.context import BotShared, RapportContext
from rapport.bot.dialogs.updates import QUIET_GROUP
from rapport.bot.staff.kit import STAFF_GROUP
from rapport.bot.staff.registry import COMMANDS
from rapport.channels.registry import OutboundChannels
from rapport.channels.telegram.service import TelegramService
from rapport.channels.telegram.testing import BotApiStandIn
from rapport.crm.database import Database
from rapport.crm.models import AuditEvent, CampaignRun, Interaction
from rapport.crm.segments.saved import create_segment
from rapport.crm.staff.audit import Actor
from rapport.crm.staff.roles import add_staff, set_role
from tests.support.programme_fixtures import seed_programme
from tests.support.tg_helpers import ask, bot_settings, count

AGENT, MANAGER, ADMIN, STRANGER = 9001, 9002, 9003, 9004
ROLES = {AGENT: "agent", MANAGER: "manager", ADMIN: "admin"}
EVERY_STAFF = {AGENT, MANAGER, ADMIN}
MANAGERS_UP = {MANAGER, ADMIN}
UNKNOWN = "Sorry, I don't know that command."

# command text -> (who may, what a successful answer shows)
MATRIX: list[tuple[str, set[int], Any]] = [
    ("/help", EVERY_STAFF, "Staff commands:"),
    ("/whoami", EVERY_STAFF, "role"),
    ("/customer a@example.com", EVERY_STAFF, "Customer #"),
    ("/segments", MANAGERS_UP, "Segments (1)"),
    ("/campaigns", MANAGERS_UP, "Campaigns (2)"),
    ("/campaign 1", MANAGERS_UP, "Campaign #1 Autumn CSAT: feedback, active"),
    ("/campaign_run 2", MANAGERS_UP, "run #"),
    ("/campaign_pause 2", MANAGERS_UP, "is now paused"),
    ("/campaign_resume Winter NPS", MANAGERS_UP, "is now active"),
    ("/report", MANAGERS_UP, "Report for all campaigns, last 30 days"),
    ("/export campaigns", MANAGERS_UP, "document"),
    ("/chart participation", MANAGERS_UP, "photo"),
    ("/audit", {ADMIN}, "Audit trail, newest first"),
]


async def _staff(db: Database) -> None:
    actor = Actor(label="cli:test")
    for user_id, role in ROLES.items():
        add_staff(db, actor, name=f"{role.title()} Person", role=role, telegram_user_id=user_id)


async def test_every_command_for_every_role(
    api: BotApiStandIn, service: TelegramService, db: Database, wakes: list[int]
) -> None:
    await seed_programme(db)
    await _staff(db)
    neutral = await ask(api, STRANGER, "/no_such_command")
    assert neutral.text.startswith(UNKNOWN)
    with db.session() as session:
        stored_before = session.scalar(select(func.max(Interaction.id))) or 0

    for text, allowed, shows in MATRIX:
        for user in (AGENT, MANAGER, ADMIN, STRANGER):
            reply = await ask(api, user, text)
            where = f"{text} as {ROLES.get(user, 'non-staff')}"
            if user == STRANGER and text == "/help":
                assert reply.text.startswith("You can write to us here"), where  # customer help
            elif user == STRANGER:
                assert reply.text == neutral.text, where  # learns nothing, not even that it exists
            elif user not in allowed:
                assert reply.kind == "text", where
                assert reply.text.startswith(f"Sorry: your role ({ROLES[user]}) does not allow"), (
                    where
                )
            elif shows in ("document", "photo"):
                assert reply.kind == shows and reply.file, where
            else:
                assert reply.kind == "text" and shows in reply.text, (where, reply.text)

    # Staff commands and the strangers' attempts store nothing as customer messages; only the
    # stranger's /help (a customer command) is in the history (with the bot's answers to them).
    with db.session() as session:
        inbound = session.scalars(
            select(Interaction.body).where(
                Interaction.id > stored_before, Interaction.direction == "in"
            )
        ).all()
    assert inbound == ["/help"]
    # /campaign_run by the manager started a manual run on the channels the app has and woke
    # the dispatcher; the admin's run in the same minute found that run instead of a second.
    with db.session() as session:
        runs = list(session.scalars(select(CampaignRun).where(CampaignRun.trigger == "manual")))
    assert len(runs) == 1 and runs[0].campaign_id == 2
    assert wakes == [1, 1]


async def test_help_shows_only_what_the_role_allows_and_customers_keep_theirs(
    api: BotApiStandIn, service: TelegramService, db: Database
) -> None:
    await _staff(db)
    agent_help = (await ask(api, AGENT, "/help")).text
    admin_help = (await ask(api, ADMIN, "/help")).text
    customer_help = (await ask(api, STRANGER, "/help")).text
    assert "/customer" in agent_help and "/campaign_run" not in agent_help
    assert "/audit" in admin_help and "/campaign_run" in admin_help
    assert "/customer" not in customer_help and "/feedback" in customer_help
    who = (await ask(api, MANAGER, "/whoami")).text
    assert who.startswith("You are Manager Person, staff #2, role manager.")
    assert "run campaigns" in who and "read the audit trail" not in who


async def test_customer_lookup_is_audited_with_who_read_whom(
    api: BotApiStandIn, service: TelegramService, db: Database
) -> None:
    programme = await seed_programme(db)
    await _staff(db)
    ann = programme.customers["a"]
    profile = (await ask(api, AGENT, f"/customer {ann}")).text
    assert profile.startswith(f"Customer #{ann}: A")
    assert "identities: email a@example.com" in profile
    assert "segments: everyone" in profile and "marketing consent: yes" in profile
    several = (await ask(api, AGENT, "/customer example.com")).text
    assert several.startswith("Several customers match") and "Send /customer <id>." in several
    missing = (await ask(api, AGENT, "/customer nobody-like-this")).text
    assert "no customer matches 'nobody-like-this'" in missing
    with db.session() as session:
        shown = list(
            session.scalars(select(AuditEvent).where(AuditEvent.action == "customer.show"))
        )
    assert [(e.staff_id, e.customer_id, e.actor) for e in shown] == [
        (1, ann, "staff:1:Agent Person")
    ]


async def test_export_and_chart_arrive_as_files_built_from_the_numbers(
    api: BotApiStandIn, service: TelegramService, db: Database
) -> None:
    await seed_programme(db)
    await _staff(db)
    document = await ask(api, MANAGER, "/export campaigns 30")
    assert document.kind == "document" and document.file_name is not None
    assert document.file_name.startswith("rapport-campaigns-30d-")
    assert document.file is not None
    rows = list(csv.DictReader(io.StringIO(document.file.decode("utf-8-sig"))))
    assert [(r["name"], r["delivered"], r["csat_mean"], r["nps"]) for r in rows] == [
        ("Autumn CSAT", "3", "3.5", ""),
        ("Winter NPS", "4", "", "0.0"),
    ]
    with db.session() as session:
        exported = session.scalar(select(AuditEvent).where(AuditEvent.action == "report.export"))
    assert exported is not None and exported.staff_id == 2

    photo = await ask(api, MANAGER, "/chart satisfaction 7")
    assert photo.kind == "photo" and photo.file is not None
    assert photo.file[:8] == b"\x89PNG\r\n\x1a\n" and len(photo.file) > 20_000
    empty = await ask(api, MANAGER, "/chart sentiment 1")
    assert empty.kind == "text" and "no scored customer messages in last 1 days" in empty.text
    wrong = await ask(api, MANAGER, "/export everything")
    assert "choose one of: campaigns, segments" in wrong.text and "Usage: /export" in wrong.text


async def test_report_scopes_and_bad_input(
    api: BotApiStandIn, service: TelegramService, db: Database
) -> None:
    await seed_programme(db)
    await _staff(db)
    one = (await ask(api, MANAGER, "/report campaign 1 14")).text
    assert one.startswith("Report for campaign #1 Autumn CSAT, last 14 days")
    assert "delivered: 3 (before: 0)" in one and "CSAT mean (1–5): 3.50 / 5 (before: —)" in one
    assert "skipped: no_consent 1 (before: 0)" in one
    segment = (await ask(api, MANAGER, "/report segment everyone")).text
    assert (
        "delivered: 7 (before: 0)" in segment and "NPS (−100 to +100): +0.0 (before: —)" in segment
    )
    assert "no segment 'nobody'" in (await ask(api, MANAGER, "/report segment nobody")).text
    assert "number of days" in (await ask(api, MANAGER, "/report 0")).text
    paused = await ask(api, MANAGER, "/campaign_pause 1")
    assert "is now paused" in paused.text
    refused = (await ask(api, MANAGER, "/campaign_run 1")).text
    assert "campaign #1 is paused; /campaign_resume 1 first" in refused


async def test_long_lists_page_with_buttons(
    api: BotApiStandIn, service: TelegramService, db: Database
) -> None:
    await _staff(db)
    for n in range(20):
        create_segment(db, f"seg{n:02}", {"field": "tag", "op": "has", "value": f"t{n}"})
    first = await ask(api, MANAGER, "/segments")
    assert first.text.startswith("Segments (20), page 1 of 3:")
    assert first.text.count("\n• ") == 8 and "seg00" in first.text and "seg08" not in first.text
    assert first.buttons == [[("next ›", "page:segments:1")]]

    query = await api.tap(first, "page:segments:1")
    await api.wait_for(lambda: len(first.edits) == 1)
    assert query in api.callback_answers
    assert first.edits[0].startswith("Segments (20), page 2 of 3:") and "seg08" in first.edits[0]
    assert first.buttons == [[("‹ previous", "page:segments:0"), ("next ›", "page:segments:2")]]
    await api.tap(first, "page:segments:2")
    await api.wait_for(lambda: len(first.edits) == 2)
    assert "page 3 of 3" in first.edits[1] and first.edits[1].count("\n• ") == 4
    assert first.buttons == [[("‹ previous", "page:segments:1")]]

    # A tap is checked like a command: an agent cannot page the audit trail...
    agent_message = await ask(api, AGENT, "/whoami")
    refused = await api.tap(agent_message, "page:audit:0")
    await api.wait_for(lambda: refused in api.callback_answers)
    assert "does not allow you to read the audit trail" in (api.callback_answers[refused] or "")
    # ...and a stranger's forged tap turns no page and stores nothing.
    neutral = await ask(api, STRANGER, "/segments")
    forged = await api.tap(neutral, "page:segments:1")
    await api.wait_for(lambda: forged in api.callback_answers)
    assert neutral.edits == [] and api.callback_answers[forged] is None
    assert count(db, Interaction) == 0


async def test_the_root_wires_staff_before_customers_and_hands_over_its_shared_objects(
    api: BotApiStandIn, db: Database
) -> None:
    settings = bot_settings(api, smtp_host="127.0.0.1", mail_from="shop@example.com")
    woken: list[int] = []
    shared = BotShared(OutboundChannels.from_settings(settings), lambda: woken.append(1))
    service = customer_bot(settings, db, shared)
    groups = service.application.handlers
    assert sorted(groups) == [QUIET_GROUP, STAFF_GROUP, 0]
    staff_commands = {
        name for h in groups[STAFF_GROUP] if isinstance(h, CommandHandler) for name in h.commands
    }
    assert staff_commands == {c.name for c in COMMANDS}
    # One bot for answers and campaign sends: one rate limiter for both.
    assert service.application.bot is shared.outbound.telegram_bot
    # Every handler's context is typed and reads the objects the root built, no string keys.
    context = service.application.context_types.context(service.application)
    assert isinstance(context, RapportContext)
    assert context.outbound is shared.outbound
    assert context.outbound.names == ("email", "telegram")
    context.wake_dispatcher()
    assert woken == [1]
    await shared.outbound.close()


async def test_deactivated_staff_are_strangers_again_and_the_attempt_is_logged_blind(
    api: BotApiStandIn, service: TelegramService, db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    await _staff(db)
    assert "Audit trail" in (await ask(api, ADMIN, "/audit")).text
    set_role(db, Actor(label="cli:test"), 3, None, active=False)
    with caplog.at_level(logging.INFO, logger="rapport.bot.staff.registry"):
        assert (await ask(api, ADMIN, "/audit secret words")).text.startswith(UNKNOWN)
    [attempt] = [r.getMessage() for r in caplog.records if "non-staff" in r.getMessage()]
    assert attempt.startswith("staff command /audit from non-staff user ")
    assert str(ADMIN) not in attempt and "secret" not in attempt


async def test_privacy_requests_are_admin_only_and_audited(
    api: BotApiStandIn, service: TelegramService, db: Database
) -> None:
    programme = await seed_programme(db)
    await _staff(db)
    ann = programme.customers["a"]
    for user in (AGENT, MANAGER):
        refused = await ask(api, user, f"/privacy_export {ann}")
        assert refused.text.startswith(f"Sorry: your role ({ROLES[user]}) does not allow")
    assert (await ask(api, STRANGER, f"/privacy_erase {ann} confirm")).text.startswith(UNKNOWN)

    before = len(api.sent_to(ADMIN))
    await api.send_text(ADMIN, f"/privacy_export {ann}")
    await api.wait_for(lambda: len(api.sent_to(ADMIN)) >= before + 2)
    json_doc, html_doc = api.sent_to(ADMIN)[before : before + 2]
    assert json_doc.kind == "document" and json_doc.file_name == f"customer-{ann}.json"
    assert b"a@example.com" in json_doc.file and html_doc.file_name.endswith(".html")

    unconfirmed = await ask(api, ADMIN, f"/privacy_erase {ann}")
    assert "cannot be undone" in unconfirmed.text
    erased = await ask(api, ADMIN, f"/privacy_erase {ann} confirm")
    assert erased.text.startswith(f"customer {ann} erased:")
    with db.session() as session:
        actions = set(
            session.scalars(select(AuditEvent.action).where(AuditEvent.customer_id == ann))
        )
    assert {"privacy.export", "privacy.erase"} <= actions
