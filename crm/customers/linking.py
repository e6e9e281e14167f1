"""One-time codes that link a chat to the customer the business knows by email.

A person who wrote by email and then starts a Telegram chat is two customers
until they prove they own the address: the chat asks for a code
(`request_link`), the code goes to the address by email, and the person
sends it back in the chat (`confirm_link`). Then the chat's customer is
merged into the email customer (`rapport.crm.customers.merge`), who keeps their id: one
history, one points balance.

What the design guards against:

- *Learning whether an address is known*: `request_link` stores a row and
  counts it against the limits whether or not the address belongs to a
  customer; only the caller learns whether to send mail, and the dialog
  answers the same either way.
- *Guessing*: a code is 6 random digits, lives 15 minutes, and dies after 5
  wrong tries; a wrong try counts against every live code of the chat, so
  asking for several codes does not buy more guesses. At most 3 codes are
  live at once and at most 5 may be asked for per hour.
- *Mail bombing an address from many chats*: at most 5 codes per hour go to
  one customer; beyond that nothing is sent (and the answer is the same).
- *Stealing the code from the database*: only a salted SHA-256 of it is
  stored; the mail recorded in the history has the code masked.
- *Double taps and replays*: the code is consumed with a conditional update
  in the same transaction as the merge, so two confirmations cannot both
  merge; the second one finds the consumed code and is told "already linked".
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import Row, func, insert, select, update
from sqlalchemy.orm import Session

from rapport.crm.clock import utcnow
from rapport.crm.customers.identity import EMAIL, normalise_email
from rapport.crm.customers.merge import merge_in, merged_into
from rapport.crm.database import Database, rowcount
from rapport.crm.errors import InvalidInput, NotFound
from rapport.crm.models import Customer, Identity, LinkCode
from rapport.crm.staff.audit import Actor

log = logging.getLogger(__name__)

CODE_DIGITS = 6
CODE_LIFETIME = timedelta(minutes=15)
MAX_ATTEMPTS = 5
MAX_LIVE_CODES = 3
MAX_REQUESTS_PER_HOUR = 5
MAX_MAILS_PER_ADDRESS_PER_HOUR = 5
REPLAY_WINDOW = timedelta(days=1)
"""How long a used code is still recognised, so a late double tap says "already linked"."""

CODE_PATTERN = re.compile(r"^\s*([0-9]{6})\s*$")


class TooManyRequests(InvalidInput):
    """The chat asked for too many codes lately; nothing was stored."""


@dataclass(frozen=True, slots=True)
class LinkRequest:
    """What to send: a code and the address, or nothing (unknown address, limit reached)."""

    code: str | None
    address: str | None
    expires_at: datetime
    already_linked: bool = False


class LinkStatus(StrEnum):
    LINKED = "linked"
    ALREADY_LINKED = "already linked"
    WRONG = "wrong"
    EXPIRED = "expired"
    NO_CODE = "no code"


@dataclass(frozen=True, slots=True)
class LinkOutcome:
    status: LinkStatus
    customer_id: int
    """The chat's customer afterwards (the email customer once linked)."""
    tries_left: int = 0


def is_code(text: str) -> bool:
    return CODE_PATTERN.match(text) is not None


def _hash(salt: str, code: str) -> str:
    return hashlib.sha256(f"{salt}:{code}".encode()).hexdigest()


def request_link(
    db: Database, customer_id: int, email: str, *, now: datetime | None = None
) -> LinkRequest:
    """Make a code for linking this (chat's) customer to the customer with this address.

    Raises InvalidMessage for an address that is not one, TooManyRequests
    past the hourly limit; otherwise stores a code whether or not the
    address is known and returns it only when it should be mailed.
    """
    address = normalise_email(email)
    now = now or utcnow()
    expires_at = now + CODE_LIFETIME
    with db.transaction() as session:
        requester = _live_customer(session, customer_id)
        recent = session.scalar(
            select(func.count()).where(
                LinkCode.customer_id == requester, LinkCode.created_at > now - timedelta(hours=1)
            )
        )
        if (recent or 0) >= MAX_REQUESTS_PER_HOUR:
            raise TooManyRequests(
                "you have asked for several codes in the last hour; please try again later"
            )
        target = session.scalar(
            select(Identity.customer_id)
            .join(Customer, Customer.id == Identity.customer_id)
            .where(
                Identity.channel == EMAIL,
                Identity.external_id == address,
                Customer.erased_at.is_(None),
            )
        )
        if target == requester:
            return LinkRequest(None, None, expires_at, already_linked=True)
        if target is not None:
            mailed = session.scalar(
                select(func.count()).where(
                    LinkCode.target_customer_id == target,
                    LinkCode.created_at > now - timedelta(hours=1),
                )
            )
            if (mailed or 0) >= MAX_MAILS_PER_ADDRESS_PER_HOUR:
                log.info("link code for customer %d not mailed: address limit reached", requester)
                target = None
        _retire_oldest(session, requester, now)
        code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
        salt = secrets.token_hex(16)
        session.execute(
            insert(LinkCode).values(
                customer_id=requester,
                target_customer_id=target,
                code_hash=_hash(salt, code),
                salt=salt,
                attempts=0,
                created_at=now,
                expires_at=expires_at,
            )
        )
    log.info(
        "link code made for customer %d (%s)", requester, "to mail" if target else "not mailed"
    )
    if target is None:
        return LinkRequest(None, None, expires_at)
    return LinkRequest(code, address, expires_at)


def confirm_link(
    db: Database, customer_id: int, code: str, *, now: datetime | None = None
) -> LinkOutcome:
    """Check a code the chat sent back; on a match merge the chat's customer into the email one.

    Outcomes, not exceptions, for wrong and expired codes: a wrong try must
    be counted (committed) even though the link fails.
    """
    match = CODE_PATTERN.match(code)
    if match is None:
        raise InvalidInput(f"a link code is {CODE_DIGITS} digits")
    code = match[1]
    now = now or utcnow()
    with db.transaction() as session:
        # a replay naming the chat's customer from before the link finds it in the kept one
        requester = _live_customer(session, merged_into(session, customer_id) or customer_id)
        rows = session.execute(
            # Columns, not entities: rows stay the snapshot read here when
            # `attempts` is bumped below (an entity would be synchronised).
            select(*_CODE_COLUMNS)
            .where(
                LinkCode.customer_id == requester,
                LinkCode.created_at > now - REPLAY_WINDOW,
            )
            .order_by(LinkCode.id.desc())
        ).all()
        live = [r for r in rows if _is_live(r, now)]
        live_ids = {r.id for r in live}
        found = next(
            (r for r in rows if hmac.compare_digest(r.code_hash, _hash(r.salt, code))), None
        )
        if found is not None and found.consumed_at is not None:
            return LinkOutcome(LinkStatus.ALREADY_LINKED, requester)
        if found is not None and found.id in live_ids and found.target_customer_id is not None:
            return _link(session, found, requester, now)
        if found is not None and found.expires_at <= now and found.attempts < MAX_ATTEMPTS:
            return LinkOutcome(LinkStatus.EXPIRED, requester)
        if not live:
            return LinkOutcome(LinkStatus.NO_CODE, requester)
        session.execute(
            update(LinkCode)
            .where(LinkCode.id.in_([r.id for r in live]))
            .values(attempts=LinkCode.attempts + 1)
        )
        left = max(MAX_ATTEMPTS - (r.attempts + 1) for r in live)
    log.info("wrong link code from customer %d (%d tries left)", requester, left)
    return LinkOutcome(LinkStatus.WRONG, requester, tries_left=left)


_CodeRow = Row[int, str, str, int | None, datetime | None, datetime, int]
"""A link code as `_CODE_COLUMNS` read it."""

_CODE_COLUMNS = (
    LinkCode.id,
    LinkCode.code_hash,
    LinkCode.salt,
    LinkCode.target_customer_id,
    LinkCode.consumed_at,
    LinkCode.expires_at,
    LinkCode.attempts,
)


def _link(session: Session, found: _CodeRow, requester: int, now: datetime) -> LinkOutcome:
    """Consume the code (exactly once) and merge, in the caller's transaction."""
    code_id: int = found.id
    target: int = found.target_customer_id
    consumed = rowcount(
        session.execute(
            update(LinkCode)
            .where(LinkCode.id == code_id, LinkCode.consumed_at.is_(None))
            .values(consumed_at=now)
        )
    )
    if consumed != 1:  # another confirmation got there first
        return LinkOutcome(LinkStatus.ALREADY_LINKED, target)
    merge_in(session, target, requester, Actor(f"customer:{requester}:link-code"), now=now)
    log.info("customer %d linked to customer %d by a code", requester, target)
    return LinkOutcome(LinkStatus.LINKED, target)


def _is_live(row: _CodeRow, now: datetime) -> bool:
    return bool(row.consumed_at is None and row.expires_at > now and row.attempts < MAX_ATTEMPTS)


def _live_customer(session: Session, customer_id: int) -> int:
    row = session.execute(select(Customer.erased_at).where(Customer.id == customer_id)).first()
    if row is None:
        raise NotFound(f"no customer with id {customer_id}")
    if row.erased_at is not None:
        raise InvalidInput("this customer's data was erased; it cannot be linked")
    return customer_id


def _retire_oldest(session: Session, customer_id: int, now: datetime) -> None:
    """Keep at most MAX_LIVE_CODES live: the oldest beyond that expire now."""
    live = session.scalars(
        select(LinkCode.id)
        .where(
            LinkCode.customer_id == customer_id,
            LinkCode.consumed_at.is_(None),
            LinkCode.expires_at > now,
            LinkCode.attempts < MAX_ATTEMPTS,
        )
        .order_by(LinkCode.id.desc())
    ).all()
    stale = live[MAX_LIVE_CODES - 1 :]
    if stale:
        session.execute(update(LinkCode).where(LinkCode.id.in_(stale)).values(expires_at=now))
