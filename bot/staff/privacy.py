"""Personal data for staff: the audit trail, subject-access exports and erasure."""

from __future__ import annotations

import asyncio
import json

from telegram import InputFile

from rapport.bot.report_text import when
from rapport.bot.staff.kit import Call, Commands, Page, StaffCommand, paged, say
from rapport.crm.errors import InvalidInput
from rapport.crm.privacy.requests import (
    erase_customer,
    export_customer,
    export_html,
    find_customer,
)
from rapport.crm.staff.roles import Permission, StaffView, actor_for, audit_trail

MAX_AUDIT = 200


async def audit_page(cmds: Commands, member: StaffView, number: int) -> Page:
    def lines() -> list[str]:
        events = audit_trail(cmds.db, actor_for(member), limit=MAX_AUDIT)
        return [
            f"{when(e.at, cmds.settings.zone)} {e.actor} {e.action}"
            + (f" customer #{e.customer_id}" if e.customer_id else "")
            + (f" ({e.detail})" if e.detail else "")
            for e in events
        ]

    return paged("audit", "Audit trail, newest first", await asyncio.to_thread(lines), number)


async def audit(cmds: Commands, call: Call) -> None:
    await cmds.send_page(call, "audit")


def _who(cmds: Commands, call: Call) -> int:
    """The customer named by id, email address or telegram:<id> (the first word)."""
    if not call.args:
        raise InvalidInput("give the customer's id, email address or telegram:<id>")
    return find_customer(cmds.db, call.args[0])


async def privacy_export(cmds: Commands, call: Call) -> None:
    """A subject-access export as a JSON document and a readable HTML page."""
    customer_id = await asyncio.to_thread(_who, cmds, call)
    data = await asyncio.to_thread(export_customer, cmds.db, actor_for(call.member), customer_id)
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


async def privacy_erase(cmds: Commands, call: Call) -> None:
    """Irreversible, so it asks for the word `confirm` after the id."""
    customer_id = await asyncio.to_thread(_who, cmds, call)
    if call.args[1:] != ["confirm"]:
        raise InvalidInput(f"erasing cannot be undone: send /privacy_erase {customer_id} confirm")
    done = await asyncio.to_thread(erase_customer, cmds.db, actor_for(call.member), customer_id)
    await say(
        call.bot,
        call.chat_id,
        f"customer {customer_id} erased: {done.identities} address(es), "
        f"{done.messages} message(s), {done.comments} survey comment(s), "
        f"{done.tags} tag(s) removed; totals in reports are unchanged.",
    )


PRIVACY_COMMANDS = (
    StaffCommand("audit", Permission.VIEW_AUDIT, "", "the audit trail, newest first", audit),
    StaffCommand(
        "privacy_export",
        Permission.PRIVACY,
        "<customer id|email|telegram:id>",
        "everything held about a customer, as JSON and HTML documents (audited)",
        privacy_export,
    ),
    StaffCommand(
        "privacy_erase",
        Permission.PRIVACY,
        "<customer id|email|telegram:id> confirm",
        "erase a customer's personal data, keeping anonymised totals (audited)",
        privacy_erase,
    ),
)
