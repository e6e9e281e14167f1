"""Bounces, complaints and auto-replies: what the mail system says back, never a customer.

A bounce (a delivery-status report) names the recipient that failed and, in
its copy of the original, the Message-ID of our mail. A permanent failure
(5.x.x) marks that email identity unreachable, so no campaign picks it again,
and the delivery it reports on failed (it was handed over, then returned):
the campaign report counts it as bounced. A temporary one (4.x.x) is
counted on the identity; `soft_bounce_limit` of them in a row (reset when the
customer writes to us from the address, or a report says delivered) make it
unreachable too. A complaint (a feedback-loop report: the customer pressed
"spam") withdraws email marketing consent at once. An auto-reply from an
address nobody has is kept here too.

None of them ever creates a customer. A report about a known address or
delivery attaches to that customer (`mail_reports.customer_id`); otherwise
it is stored as unmatched and listed by `rapport mail reports --unmatched`.
Each report's Message-ID is unique, so one delivered twice counts once.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, insert, select, update

from rapport.crm.clock import utcnow
from rapport.crm.customers.identity import EMAIL, normalise_email
from rapport.crm.database import Database
from rapport.crm.errors import InvalidMessage
from rapport.crm.models import (
    Delivery,
    DeliveryStatus,
    Identity,
    Interaction,
)
from rapport.crm.models import (
    MailReport as MailReportRow,
)
from rapport.crm.privacy.consent import record_consent
from rapport.crm.staff.audit import Actor, record

log = logging.getLogger(__name__)

BOUNCE = "bounce"
COMPLAINT = "complaint"
AUTO_REPLY = "auto_reply"
UNMATCHED = "unmatched"
DEFAULT_SOFT_BOUNCE_LIMIT = 3


@dataclass(frozen=True, slots=True)
class Failure:
    """One recipient of a report: who, what happened (`Action`), and the status code."""

    recipient: str | None
    action: str | None
    status: str | None
    diagnostic: str | None = None


@dataclass(frozen=True, slots=True)
class MailReport:
    """What the email channel read from a bounce, a complaint or an auto-reply."""

    kind: str
    message_key: str
    received_at: datetime
    failures: tuple[Failure, ...] = ()
    original_message_id: str | None = None
    """The Message-ID of our mail it reports on (In-Reply-To for an auto-reply)."""


@dataclass(frozen=True, slots=True)
class Recorded:
    outcome: str
    customer_id: int | None


@dataclass(frozen=True, slots=True)
class ReportView:
    received_at: datetime
    kind: str
    recipient: str | None
    status: str | None
    customer_id: int | None
    outcome: str


def record_report(
    db: Database,
    report: MailReport,
    *,
    soft_bounce_limit: int = DEFAULT_SOFT_BOUNCE_LIMIT,
    now: datetime | None = None,
) -> list[Recorded]:
    """Act on a report and store it, one row per recipient; [] when it was stored before."""
    now = now or utcnow()
    failures = report.failures or (Failure(None, None, None),)
    with db.transaction() as session:
        conn = session.connection()
        keys = [_key(report.message_key, n) for n in range(len(failures))]
        seen = conn.scalar(select(MailReportRow.id).where(MailReportRow.message_key == keys[0]))
        if seen is not None:
            log.info("mail report was a replay of report %d", seen)
            return []
        done = [
            _one(conn, report, failure, key, soft_bounce_limit, now)
            for failure, key in zip(failures, keys, strict=True)
        ]
    for item in done:
        log.info("mail report (%s): %s, customer %s", report.kind, item.outcome, item.customer_id)
    return done


def _key(message_key: str, n: int) -> str:
    return message_key if n == 0 else f"{message_key}#{n + 1}"[:300]


def _one(
    conn: Connection,
    report: MailReport,
    failure: Failure,
    key: str,
    limit: int,
    now: datetime,
) -> Recorded:
    address = _normalised(failure.recipient)
    delivery = _delivery(conn, report.original_message_id, address)
    identity = _identity(conn, address) if delivery is None else (delivery[2], delivery[1])
    customer_id = identity[1] if identity is not None else None
    if report.kind == AUTO_REPLY and customer_id is None:
        customer_id = _replied_customer(conn, report.original_message_id)
    if customer_id is None:
        outcome = (
            UNMATCHED
            if failure.recipient or report.original_message_id
            else (f"{UNMATCHED}: no recipient in the report")
        )
    elif report.kind == COMPLAINT:
        record_consent(
            conn, customer_id, EMAIL, granted=False, source="email:complaint", at=now,
            evidence={"report": report.message_key, "feedback_type": failure.diagnostic},
        )  # fmt: skip
        outcome = "consent withdrawn"
    elif report.kind == BOUNCE and identity is not None:
        outcome = _bounce(conn, failure, identity[0], delivery[0] if delivery else None, limit, now)
    else:
        outcome = "attached"
    conn.execute(
        insert(MailReportRow).values(
            kind=report.kind,
            message_key=key,
            received_at=report.received_at,
            recipient=(address or failure.recipient or None),
            action=(failure.action or "")[:20] or None,
            status=failure.status,
            customer_id=customer_id,
            delivery_id=delivery[0] if delivery else None,
            outcome=outcome[:60],
        )
    )
    return Recorded(outcome, customer_id)


def _bounce(
    conn: Connection,
    failure: Failure,
    identity_id: int,
    delivery_id: int | None,
    limit: int,
    now: datetime,
) -> str:
    status = failure.status or ""
    action = failure.action or ""
    if action in ("delivered", "relayed", "expanded") or status.startswith("2."):
        conn.execute(update(Identity).where(Identity.id == identity_id).values(soft_bounces=0))
        return "delivered"
    permanent = status.startswith("5.") or (not status and action == "failed")
    if action == "failed" and delivery_id is not None:
        _fail_delivery(conn, delivery_id, failure, now)
    if permanent:
        _unreachable(conn, identity_id, f"bounced {status or 'permanently'}", now)
        return f"unreachable ({status or 'failed'})"
    soft = (
        conn.scalar(
            update(Identity)
            .where(Identity.id == identity_id)
            .values(soft_bounces=Identity.soft_bounces + 1)
            .returning(Identity.soft_bounces)
        )
        or 0
    )
    if soft >= limit:
        _unreachable(conn, identity_id, f"{soft} temporary bounces in a row (last {status})", now)
        return f"unreachable ({soft} temporary bounces)"
    return f"temporary bounce {soft} of {limit} ({status or action or '?'})"


def _fail_delivery(conn: Connection, delivery_id: int, failure: Failure, now: datetime) -> None:
    detail = " ".join(f"bounced: {failure.status or ''} {failure.diagnostic or ''}".split())
    conn.execute(
        update(Delivery)
        .where(
            Delivery.id == delivery_id,
            Delivery.status == DeliveryStatus.SENT.value,
            Delivery.bounced_at.is_(None),
        )
        .values(status=DeliveryStatus.FAILED.value, bounced_at=now, last_error=detail[:300])
    )


def _unreachable(conn: Connection, identity_id: int, reason: str, now: datetime) -> None:
    conn.execute(
        update(Identity)
        .where(Identity.id == identity_id, Identity.unreachable_at.is_(None))
        .values(unreachable_at=now, unreachable_reason=reason[:200])
    )


def _normalised(address: str | None) -> str | None:
    if not address:
        return None
    try:
        return normalise_email(address)
    except InvalidMessage:
        return None


def _delivery(
    conn: Connection, message_id: str | None, address: str | None
) -> tuple[int, int, int] | None:
    """(delivery, customer, identity) of the mail reported on: by Message-ID, else the latest
    mail sent to the address."""
    query = select(Delivery.id, Delivery.customer_id, Delivery.identity_id).join(
        Identity, Identity.id == Delivery.identity_id
    )
    if message_id:
        row = conn.execute(
            query.where(Delivery.message_key == message_id, Identity.channel == EMAIL)
        ).first()
        if row is not None:
            return row.id, row.customer_id, row.identity_id
    if address:
        row = conn.execute(
            query.where(
                Identity.channel == EMAIL,
                Identity.external_id == address,
                Delivery.status == DeliveryStatus.SENT.value,
            )
            .order_by(Delivery.sent_at.desc(), Delivery.id.desc())
            .limit(1)
        ).first()
        if row is not None:
            return row.id, row.customer_id, row.identity_id
    return None


def _identity(conn: Connection, address: str | None) -> tuple[int, int] | None:
    """(identity, customer) of an email address we know."""
    if not address:
        return None
    row = conn.execute(
        select(Identity.id, Identity.customer_id).where(
            Identity.channel == EMAIL, Identity.external_id == address
        )
    ).first()
    return None if row is None else (row.id, row.customer_id)


def _replied_customer(conn: Connection, message_id: str | None) -> int | None:
    """Whose mail of ours an auto-reply answers (a campaign mail or any message we sent)."""
    if not message_id:
        return None
    found = _delivery(conn, message_id, None)
    if found is not None:
        return found[1]
    return conn.scalar(
        select(Interaction.customer_id)
        .where(Interaction.channel == EMAIL, Interaction.message_key == message_id)
        .limit(1)
    )


def note_customer_wrote(db: Database, address: str) -> None:
    """The customer wrote from this address: it works, so temporary bounces start over."""
    with db.transaction() as session:
        session.execute(
            update(Identity)
            .where(
                Identity.channel == EMAIL,
                Identity.external_id == address,
                Identity.soft_bounces > 0,
            )
            .values(soft_bounces=0)
        )


def sender_known(db: Database, address: str) -> bool:
    """Does a customer have this email address? (An auto-reply from a stranger is no customer.)"""
    return _identity_of(db, address) is not None


def _identity_of(db: Database, address: str) -> int | None:
    normalised = _normalised(address)
    if normalised is None:
        return None
    with db.session() as session:
        return session.scalar(
            select(Identity.customer_id).where(
                Identity.channel == EMAIL, Identity.external_id == normalised
            )
        )


def list_reports(
    db: Database, actor: Actor, *, unmatched_only: bool = False, limit: int = 50
) -> Sequence[ReportView]:
    """The newest reports, for staff; audited (recipients are personal data)."""
    query = select(MailReportRow).order_by(
        MailReportRow.received_at.desc(), MailReportRow.id.desc()
    )
    query = query.limit(limit)
    if unmatched_only:
        query = query.where(MailReportRow.customer_id.is_(None))
    with db.transaction() as session:
        rows = [
            ReportView(r.received_at, r.kind, r.recipient, r.status, r.customer_id, r.outcome)
            for r in session.scalars(query)
        ]
        record(session, actor, "mail_reports.list", detail=f"{len(rows)} shown")
    return rows
