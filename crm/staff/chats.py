"""Where personal data may go in Telegram: the one staff-chat policy.

A staff command's answer, an announcement of a new conversation, a
forwarded customer message and a reminder all carry personal data (names,
addresses, what customers wrote). They may go to exactly two kinds of chat:

- the staff member's own private chat with the bot (in Telegram a private
  chat's id is the user's id), and only while the member is active;
- the configured staff chat (`RAPPORT_STAFF_CHAT_ID`), the shop's desk group.

Anything else, a group an agent added the bot to, a chat shared with
customers, a deactivated agent's chat, gets nothing: a command there is
answered neutrally (`NEUTRAL`) and the attempt is audited (`refuse`); a desk
message for it is not sent (`StaffChats.deliverable`). The same object
decides for every path, so no path can be more generous than another.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select

from rapport.crm.database import Database
from rapport.crm.models import StaffMember
from rapport.crm.staff.audit import Actor, record
from rapport.crm.staff.roles import StaffView

NEUTRAL = (
    "I can only help with that in a private chat with me. "
    "Open a private chat with this bot and send the command there."
)
"""The answer to a staff command sent where personal data may not go: it names no data
and tells whoever is in that chat nothing about the shop's customers."""


@dataclass(frozen=True, slots=True)
class StaffChats:
    """The staff-chat policy for one configuration (`RAPPORT_STAFF_CHAT_ID` or none)."""

    staff_chat_id: int | None = None

    def may_receive(self, chat_id: int, member: StaffView | None) -> bool:
        """May a command's answer (personal data) go to `chat_id`, asked by `member`?

        Yes in the member's private chat with the bot or in the staff chat, and
        only for an active member.
        """
        if member is None or not member.active:
            return False
        if self.staff_chat_id is not None and chat_id == self.staff_chat_id:
            return True
        return member.telegram_user_id is not None and chat_id == member.telegram_user_id

    def deliverable(self, db: Database, chats: Iterable[int]) -> list[int]:
        """Those of `chats` a desk message (announcement, forward, reminder) may go to:
        the staff chat, and private chats of active staff members. Order kept."""
        wanted = list(dict.fromkeys(chats))
        if not wanted:
            return []
        with db.session() as session:
            active = set(
                session.scalars(
                    select(StaffMember.telegram_user_id).where(
                        StaffMember.active.is_(True),
                        StaffMember.telegram_user_id.in_(wanted),
                    )
                )
            )
        return [c for c in wanted if c == self.staff_chat_id or c in active]


def refuse(db: Database, actor: Actor, what: str, chat_id: int) -> None:
    """Audit an attempt to have personal data sent to a chat the policy does not allow."""
    with db.transaction() as session:
        record(
            session,
            actor,
            "staff.chat_refused",
            detail=f"{what[:60]} asked in chat {chat_id}, which may not receive personal data",
        )
