"""Double opt-in for email: consent is given by confirming, never by being asked.

A request (`rapport customers invite`, the `/subscribe` page) stores the
address and sends a confirmation mail with a link: a token naming the
request, signed with the link-signing key (rapport.crm.privacy.keys),
refused when forged or altered, expired after `RAPPORT_OPT_IN_LINK_HOURS`
and usable once (`confirmed_at`). Opening the link shows a page with a
button; only the button's POST confirms (mail scanners follow links, and a
GET must never subscribe anyone). Replying "YES" to the confirmation mail,
from the address it went to, confirms as well.

Confirming makes the person a customer if they were not one (by their email
identity), records marketing consent on email with source
`email:double-opt-in` (or `email:reply-yes`) and, as evidence, the request
(who asked, when) and the confirming request's address and browser. Until
then nobody is a customer and nobody is sent marketing.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from rapport.crm.clock import utcnow
from rapport.crm.customers.identity import EMAIL, clean_display_name, normalise_email
from rapport.crm.database import Database
from rapport.crm.errors import InvalidInput, InvalidMessage, RapportError
from rapport.crm.models import Consent, Customer, Identity, OptInRequest
from rapport.crm.privacy.consent import MARKETING, record_consent
from rapport.crm.privacy.keys import public_base_url, signing_key
from rapport.crm.settings import Settings

log = logging.getLogger(__name__)

SALT = "rapport.opt-in.v1"
PATH = "/confirm/"
LINK_SOURCE = "email:double-opt-in"
REPLY_SOURCE = "email:reply-yes"
MAX_REQUESTS_PER_DAY = 3
"""Confirmation mails one address gets in 24 hours at most: the subscribe page is public."""
YES_WORDS = frozenset({"yes", "y", "yes please", "ja", "oui", "sí", "si", "是", "好"})
_TRIM = " \t\r\n.!。！"


class LinkRefused(RapportError):
    """The confirmation link is not one we issued, or no longer valid."""


class LinkExpired(LinkRefused):
    """The link was genuine but is older than its lifetime."""


@dataclass(frozen=True, slots=True)
class Ticket:
    """A stored request, ready for its confirmation mail; `None` id: nothing to send."""

    request_id: int | None
    email: str
    name: str | None
    reason: str = ""
    """Why nothing is to be sent: already consenting, or too many requests today."""


@dataclass(frozen=True, slots=True)
class Pending:
    """What a link stands for, for the confirmation page."""

    request_id: int
    email: str
    confirmed: bool


@dataclass(frozen=True, slots=True)
class Confirmed:
    request_id: int
    customer_id: int
    already: bool
    """The request had been confirmed before: nothing changed this time."""


class OptInLinks:
    """Makes and reads confirmation tokens; built from the key and the public base URL."""

    def __init__(self, secret: str, public_url: str, lifetime: timedelta) -> None:
        self._serializer = URLSafeTimedSerializer(secret, salt=SALT)
        self.base = public_url.rstrip("/")
        self.lifetime = lifetime

    def url(self, request_id: int) -> str:
        return f"{self.base}{PATH}{self._serializer.dumps([request_id])}"

    def read(self, token: str, now: datetime | None = None) -> int:
        try:
            payload, signed_at = self._serializer.loads(token, return_timestamp=True)
        except BadSignature:
            raise LinkRefused("this confirmation link is not valid") from None
        if (now or utcnow()) - signed_at > self.lifetime:
            raise LinkExpired("this confirmation link has expired; ask for a new one")
        if (
            not isinstance(payload, list)
            or len(payload) != 1
            or not isinstance(payload[0], int)
            or isinstance(payload[0], bool)
        ):
            raise LinkRefused("this confirmation link is not valid")
        return payload[0]

    def pending(self, db: Database, token: str, now: datetime | None = None) -> Pending:
        """The request behind a link, changing nothing (the page a GET shows)."""
        request_id = self.read(token, now)
        with db.session() as session:
            request = _request(session, request_id)
            return Pending(request.id, request.email, request.confirmed_at is not None)

    def confirm(
        self,
        db: Database,
        token: str,
        meta: Mapping[str, object],
        now: datetime | None = None,
    ) -> Confirmed:
        """The button's POST: consent on email, once, with the request's metadata."""
        now = now or utcnow()
        request_id = self.read(token, now)
        return _confirm(db, request_id, "link", LINK_SOURCE, meta, now)


def links_from_settings(settings: Settings, db: Database) -> OptInLinks | None:
    """Confirmation links for this installation (None: nowhere for them to point)."""
    base = public_base_url(settings)
    if base is None:
        return None
    return OptInLinks(signing_key(db, settings), base, timedelta(hours=settings.opt_in_link_hours))


def request_opt_in(
    db: Database,
    email: str,
    name: str | None,
    *,
    requested_by: str,
    lifetime: timedelta,
    meta: Mapping[str, object] | None = None,
    now: datetime | None = None,
) -> Ticket:
    """Store a request for this address, unless it consents already or was asked enough today.

    InvalidInput for an address that is not one.
    """
    now = now or utcnow()
    try:
        address = normalise_email(email)
    except InvalidMessage as exc:
        raise InvalidInput(str(exc)) from None
    clean_name = clean_display_name(name)
    with db.transaction() as session:
        if _consents(session, address):
            return Ticket(None, address, clean_name, "already agreed to email from us")
        recent = session.scalar(
            select(func.count()).where(
                OptInRequest.email == address,
                OptInRequest.requested_at > now - timedelta(days=1),
            )
        )
        if (recent or 0) >= MAX_REQUESTS_PER_DAY:
            return Ticket(None, address, clean_name, "asked too often today; try tomorrow")
        request_id = session.scalar(
            insert(OptInRequest)
            .values(
                email=address,
                name=clean_name,
                requested_by=requested_by[:200],
                requested_at=now,
                expires_at=now + lifetime,
                request_meta=json.dumps(dict(meta)) if meta else None,
            )
            .returning(OptInRequest.id)
        )
    assert request_id is not None
    log.info("opt-in request %d stored", request_id)
    return Ticket(request_id, address, clean_name)


def mark_sent(db: Database, request_id: int, message_key: str, at: datetime) -> None:
    """The confirmation mail went out: its Message-ID lets a reply "YES" find the request."""
    with db.transaction() as session:
        session.execute(
            update(OptInRequest)
            .where(OptInRequest.id == request_id)
            .values(message_key=message_key, sent_at=at)
        )


def is_yes(text: str) -> bool:
    """A whole reply that only says yes ("YES", "Yes please!", "是")."""
    words = " ".join(text.strip(_TRIM).split()).casefold()
    return len(words) <= 20 and words in YES_WORDS


def confirm_by_reply(
    db: Database,
    sender: str,
    in_reply_to: str | None,
    text: str,
    now: datetime | None = None,
) -> Confirmed | None:
    """A reply "YES" to a confirmation mail, from the address it was sent to; else None.

    Called by the email channel before the reply is ingested, so the reply is
    then stored as the (new) customer's message.
    """
    if not in_reply_to or not is_yes(text):
        return None
    try:
        address = normalise_email(sender)
    except InvalidMessage:
        return None
    now = now or utcnow()
    with db.session() as session:
        request_id = session.scalar(
            select(OptInRequest.id).where(
                OptInRequest.message_key == in_reply_to, OptInRequest.email == address
            )
        )
    if request_id is None:
        return None
    try:
        return _confirm(db, request_id, "reply", REPLY_SOURCE, {"reply_to": in_reply_to}, now)
    except LinkExpired:
        log.info("opt-in request %d: reply came after it expired; not confirmed", request_id)
        return None


def _request(session: Session, request_id: int) -> OptInRequest:
    request = session.get(OptInRequest, request_id)
    if request is None:
        raise LinkRefused("this confirmation link is not valid")
    return request


def _consents(session: Session, address: str) -> bool:
    return (
        session.scalar(
            select(Consent.customer_id)
            .join(Identity, Identity.customer_id == Consent.customer_id)
            .where(
                Identity.channel == EMAIL,
                Identity.external_id == address,
                Consent.channel == EMAIL,
                Consent.purpose == MARKETING,
                Consent.granted.is_(True),
            )
        )
        is not None
    )


def _confirm(
    db: Database,
    request_id: int,
    via: str,
    source: str,
    meta: Mapping[str, object],
    now: datetime,
) -> Confirmed:
    with db.transaction() as session:
        request = session.get(OptInRequest, request_id, with_for_update=True)
        if request is None:
            raise LinkRefused("this confirmation link is not valid")
        if request.confirmed_at is not None:
            assert request.customer_id is not None
            return Confirmed(request.id, request.customer_id, already=True)
        if request.expires_at < now:
            raise LinkExpired("this confirmation link has expired; ask for a new one")
        customer_id = _customer_for(session, request, now)
        record_consent(
            session.connection(),
            customer_id,
            EMAIL,
            granted=True,
            source=source,
            at=now,
            evidence={
                "request": request.id,
                "requested_by": request.requested_by,
                "requested_at": request.requested_at.isoformat(),
                "request_meta": json.loads(request.request_meta or "null"),
                "confirmed_via": via,
                "confirmation": dict(meta),
            },
        )
        request.confirmed_at = now
        request.confirmed_via = via
        request.customer_id = customer_id
    log.info("opt-in request %d confirmed by %s: customer %d", request_id, via, customer_id)
    return Confirmed(request_id, customer_id, already=False)


def _customer_for(session: Session, request: OptInRequest, now: datetime) -> int:
    """The customer with this email address, or a new one (this is how they came to us)."""
    found = session.scalar(
        select(Identity.customer_id).where(
            Identity.channel == EMAIL, Identity.external_id == request.email
        )
    )
    if found is not None:
        return found
    customer = Customer(
        display_name=request.name,
        first_seen_channel=EMAIL,
        created_at=now,
        marketing_consent=False,
    )
    session.add(customer)
    session.flush()
    session.add(
        Identity(
            customer_id=customer.id,
            channel=EMAIL,
            external_id=request.email,
            display_name=request.name,
            created_at=now,
        )
    )
    session.flush()
    return customer.id
