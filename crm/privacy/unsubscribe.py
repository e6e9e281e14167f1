"""One-click unsubscribe links: signed, bound to one delivery, usable once, expiring.

Every campaign message carries a link whose token is the delivery id and the
customer id, signed with `RAPPORT_SECRET_KEY` or the generated key
(rapport.crm.privacy.keys; itsdangerous, HMAC-SHA1 over a salted key, with
the signing time). The delivery fixes the channel — it was
sent to exactly one identity — so a token withdraws marketing consent for that
customer on that channel and nothing else. A token is refused when its
signature does not verify (forged or altered), when it is older than the
configured lifetime, or when its delivery belongs to someone else; a second
use changes nothing (the first is recorded in `unsubscribe_uses`), which makes
the endpoint idempotent for mail clients that POST twice.

Opening the link (GET) never changes anything, because mail scanners follow
links; the change happens on POST (RFC 8058 one-click, or the page's button).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from rapport.crm.clock import utcnow
from rapport.crm.customers.merge import merged_into
from rapport.crm.database import Database
from rapport.crm.errors import RapportError
from rapport.crm.models import Delivery, Identity, UnsubscribeUse
from rapport.crm.privacy.consent import record_consent
from rapport.crm.privacy.keys import public_base_url, signing_key
from rapport.crm.settings import Settings

log = logging.getLogger(__name__)

SALT = "rapport.unsubscribe.v1"
PATH = "/u/"
TEST_TOKEN = "test"
"""The token of a test send's link (`rapport campaigns test`): the page says it was a test."""


class TokenRefused(RapportError):
    """The link is not one we issued for this delivery, or no longer valid."""


class TokenExpired(TokenRefused):
    """The link was genuine but is older than its lifetime."""


@dataclass(frozen=True, slots=True)
class Grant:
    """What a valid token allows: withdrawing this customer's consent on this channel."""

    delivery_id: int
    customer_id: int
    channel: str
    already_used: bool


class UnsubscribeLinks:
    """Makes and checks unsubscribe tokens; one per process, built from the settings."""

    def __init__(self, secret: str, public_url: str, lifetime: timedelta) -> None:
        self._serializer = URLSafeTimedSerializer(secret, salt=SALT)
        self.base = public_url.rstrip("/")
        self.lifetime = lifetime

    def token(self, delivery_id: int, customer_id: int) -> str:
        return self._serializer.dumps([delivery_id, customer_id])

    def url(self, delivery_id: int, customer_id: int) -> str:
        return f"{self.base}{PATH}{self.token(delivery_id, customer_id)}"

    def headers(self, delivery_id: int, customer_id: int) -> dict[str, str]:
        """List-Unsubscribe for mail (RFC 2369/8058), for callers that set headers themselves."""
        return {"List-Unsubscribe": f"<{self.url(delivery_id, customer_id)}>"}

    def read(self, token: str, now: datetime | None = None) -> tuple[int, int]:
        """(delivery id, customer id) from a token whose signature and age are good."""
        try:
            payload, signed_at = self._serializer.loads(token, return_timestamp=True)
        except BadSignature:
            raise TokenRefused("this unsubscribe link is not valid") from None
        if (now or utcnow()) - signed_at > self.lifetime:
            raise TokenExpired("this unsubscribe link has expired")
        if (
            not isinstance(payload, list)
            or len(payload) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) for v in payload)
        ):
            raise TokenRefused("this unsubscribe link is not valid")
        return payload[0], payload[1]

    def check(self, db: Database, token: str, now: datetime | None = None) -> Grant:
        """What the token would do, without doing it (for the confirmation page)."""
        delivery_id, customer_id = self.read(token, now)
        with db.session() as session:
            channel, customer_id = _channel_of(session, delivery_id, customer_id)
            used = session.get(UnsubscribeUse, delivery_id) is not None
        return Grant(delivery_id, customer_id, channel, already_used=used)

    def redeem(self, db: Database, token: str, now: datetime | None = None) -> Grant:
        """Withdraw consent on the delivery's channel, once; recorded as a consent event."""
        now = now or utcnow()
        delivery_id, customer_id = self.read(token, now)
        try:
            with db.transaction() as session:
                channel, customer_id = _channel_of(session, delivery_id, customer_id)
                if session.get(UnsubscribeUse, delivery_id) is not None:
                    return Grant(delivery_id, customer_id, channel, already_used=True)
                conn = session.connection()
                conn.execute(insert(UnsubscribeUse).values(delivery_id=delivery_id, used_at=now))
                record_consent(
                    conn,
                    customer_id,
                    channel,
                    granted=False,
                    source=f"{channel}:unsubscribe-link",
                    at=now,
                )
        except IntegrityError:  # the same link used twice at the same moment
            return Grant(delivery_id, customer_id, channel, already_used=True)
        log.info("unsubscribe link of delivery %d used", delivery_id)
        return Grant(delivery_id, customer_id, channel, already_used=False)


def _channel_of(session: Session, delivery_id: int, customer_id: int) -> tuple[str, int]:
    """The channel the delivery went to and whose it is now; refuses a token naming another
    customer. A token issued before its customer was merged into the delivery's
    owner still works: an opt-out link must not die with a merge."""
    row = session.execute(
        select(Delivery.customer_id, Identity.channel)
        .join(Identity, Identity.id == Delivery.identity_id)
        .where(Delivery.id == delivery_id)
    ).first()
    if row is None:
        raise TokenRefused("this unsubscribe link is not valid")
    owner = int(row.customer_id)
    if owner != customer_id and merged_into(session, customer_id) != owner:
        raise TokenRefused("this unsubscribe link is not valid")
    return str(row.channel), owner


def links_from_settings(settings: Settings, db: Database) -> tuple[UnsubscribeLinks | None, str]:
    """The links this installation can make, or None and the reason in words.

    The key and the base URL have working defaults (rapport.crm.privacy.keys);
    only with the web server off and no RAPPORT_PUBLIC_URL is there nowhere
    for a link to point.
    """
    base = public_base_url(settings)
    if base is None:
        return None, "RAPPORT_PUBLIC_URL is not set and the web server is off (RAPPORT_WEB_PORT=0)"
    links = UnsubscribeLinks(
        signing_key(db, settings), base, timedelta(days=settings.unsubscribe_link_days)
    )
    return links, "on"
