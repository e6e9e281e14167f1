"""Marketing consent: what a customer agreed to receive, on which channel, when and how.

Service messages (answers to what the customer wrote, a survey about a
conversation they opened) need no marketing consent; every campaign kind
(loyalty, announcement, and scheduled feedback surveys) does, and checks it
in SQL for the channel it would use, both when a run picks its recipients
and again just before each send. An opt-out is honoured at once.

The current choice per (customer, channel, purpose) lives in `consents`;
every change is appended to `consent_events`; `customers.marketing_consent`
is kept as a summary (granted on at least one channel).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, Connection, and_, exists, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from rapport.crm.bulk import converter, insert_rows, stored, update_rows
from rapport.crm.clock import utcnow
from rapport.crm.customers.identity import normalise_external_id
from rapport.crm.database import Database
from rapport.crm.errors import InvalidInput, NotFound
from rapport.crm.integrations.events import EventType, emit
from rapport.crm.integrations.payloads import consent_changed
from rapport.crm.models import (
    Consent,
    ConsentEvent,
    ConsentPurpose,
    Customer,
    Identity,
)
from rapport.crm.staff.audit import Actor, record

log = logging.getLogger(__name__)

MARKETING = ConsentPurpose.MARKETING.value
MAX_SOURCE = 40


def set_marketing_consent(
    db: Database, channel: str, external_id: str, *, granted: bool, source: str
) -> int:
    """Record the customer's choice for this channel; returns the customer id.

    `source` says how it was given ("telegram:/stop", "email:unsubscribe-link",
    "cli:ann") so the business can show where a consent came from.
    """
    address = normalise_external_id(channel, external_id)
    with db.transaction() as session:
        customer_id = session.scalar(
            select(Identity.customer_id).where(
                Identity.channel == channel, Identity.external_id == address
            )
        )
        if customer_id is None:
            raise NotFound(f"no customer with that {channel} identity")
        record_consent(session.connection(), customer_id, channel, granted=granted, source=source)
        return customer_id


def marketing_consent(db: Database, channel: str, external_id: str) -> bool | None:
    """The customer's current choice on this channel; None when no customer has that identity.

    A dialog asks this before offering an opt-in, so a customer who already
    agreed is not asked again.
    """
    address = normalise_external_id(channel, external_id)
    with db.session() as session:
        row = session.execute(
            select(Identity.customer_id, Consent.granted)
            .outerjoin(
                Consent,
                (Consent.customer_id == Identity.customer_id)
                & (Consent.channel == Identity.channel)
                & (Consent.purpose == MARKETING),
            )
            .where(Identity.channel == channel, Identity.external_id == address)
        ).first()
    if row is None:
        return None
    return bool(row.granted)


def record_consent(
    conn: Connection,
    customer_id: int,
    channel: str,
    *,
    granted: bool,
    source: str,
    at: datetime | None = None,
    evidence: Mapping[str, object] | None = None,
) -> None:
    """Set the current marketing choice, append it to the history, refresh the summary.

    Runs inside the caller's transaction (ingest's reply words, an unsubscribe
    link, a dialog), so the choice and its proof are stored together or not at all.
    `evidence` is the detail behind `source` (the confirming request's address
    and browser, the import file and line, the staff member's note), kept as
    JSON with the event.
    """
    at = at or utcnow()
    source = source[:MAX_SOURCE]
    values = {
        "customer_id": customer_id,
        "channel": channel,
        "purpose": MARKETING,
        "granted": granted,
        "source": source,
        "updated_at": at,
    }
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    upsert = dialect.insert(Consent).values(**values)
    conn.execute(
        upsert.on_conflict_do_update(
            index_elements=["customer_id", "channel", "purpose"],
            set_={"granted": granted, "source": source, "updated_at": upsert.excluded.updated_at},
        )
    )
    conn.execute(
        insert(ConsentEvent).values(
            customer_id=customer_id,
            channel=channel,
            purpose=MARKETING,
            granted=granted,
            source=source,
            at=at,
            evidence=None if evidence is None else json.dumps(evidence, default=str),
        )
    )
    any_granted = exists().where(
        Consent.customer_id == customer_id, Consent.purpose == MARKETING, Consent.granted.is_(True)
    )
    conn.execute(
        update(Customer)
        .where(Customer.id == customer_id)
        .values(marketing_consent=any_granted, consent_updated_at=at, consent_source=source)
    )
    emit(conn, EventType.CONSENT_CHANGED, [
        consent_changed(customer_id, channel, granted, source, at)
    ])  # fmt: skip
    log.info(
        "customer %d marketing consent %s on %s",
        customer_id,
        "granted" if granted else "withdrawn",
        channel,
    )


@dataclass(frozen=True, slots=True)
class Grant:
    """One consent given, for `grant_many`."""

    customer_id: int
    channel: str
    source: str
    at: datetime
    evidence: str
    """JSON, as `record_consent` stores its `evidence` (serialised early: imports hold many)."""


def grant_many(conn: Connection, grants: Sequence[Grant]) -> None:
    """`record_consent(granted=True)` for many customers in a few statements (an import).

    The same rows as one call per grant would write: the current choice, its
    event with the evidence, and the customer's summary (a grant makes it true).
    """
    if not grants:
        return
    # Plain rows on purpose: an import grants thousands at once through rapport.crm.bulk.
    yes = stored(conn, Consent, "granted", True)
    when = converter(conn, Consent, "updated_at")
    rows = [(g.customer_id, g.channel, g.source[:MAX_SOURCE], when(g.at)) for g in grants]
    insert_rows(
        conn, Consent, ("customer_id", "channel", "purpose", "granted", "source", "updated_at"),
        ((cid, channel, MARKETING, yes, source, at) for cid, channel, source, at in rows),
        upsert=(("customer_id", "channel", "purpose"), ("granted", "source", "updated_at")),
    )  # fmt: skip
    insert_rows(
        conn, ConsentEvent,
        ("customer_id", "channel", "purpose", "granted", "source", "at", "evidence"),
        (
            (cid, channel, MARKETING, yes, source, at, g.evidence)
            for (cid, channel, source, at), g in zip(rows, grants, strict=True)
        ),
    )  # fmt: skip
    update_rows(
        conn, Customer, ("marketing_consent", "consent_updated_at", "consent_source"), "id",
        ((yes, at, source, cid) for cid, _channel, source, at in rows),
    )  # fmt: skip
    emit(conn, EventType.CONSENT_CHANGED, [
        consent_changed(g.customer_id, g.channel, True, g.source[:MAX_SOURCE], g.at) for g in grants
    ])  # fmt: skip
    log.info("marketing consent granted for %d customer(s)", len(grants))


def staff_consent(
    db: Database,
    actor: Actor,
    customer_id: int,
    channel: str,
    *,
    granted: bool,
    source: str,
    at: datetime | None = None,
) -> None:
    """Consent staff collected elsewhere (on paper, at the till), or a withdrawal they took.

    The caller checked the role (Permission.MANAGE_CONSENT). `source` says
    where it was given and is required: consent without its origin proves
    nothing. Audited; the customer needs an address on the channel.
    """
    note = " ".join(source.split())
    if len(note) < 3:
        raise InvalidInput('say where the consent was given: --source "signed form, 2026-11-20"')
    with db.transaction() as session:
        customer = session.get(Customer, customer_id)
        if customer is None or customer.erased_at is not None:
            raise NotFound(f"no customer with id {customer_id}")
        has_address = session.scalar(
            select(Identity.id).where(
                Identity.customer_id == customer_id, Identity.channel == channel
            )
        )
        if has_address is None:
            raise InvalidInput(f"customer {customer_id} has no {channel} address to consent on")
        record_consent(
            session.connection(),
            customer_id,
            channel,
            granted=granted,
            source=f"staff:{note}",
            at=at,
            evidence={"recorded_by": actor.label, "source": note},
        )
        record(
            session,
            actor,
            "consent.grant" if granted else "consent.withdraw",
            customer_id=customer_id,
            detail=f"{channel}: {note}"[:500],
        )


def marketing_granted(
    customer_id: ColumnElement[int], channel: ColumnElement[str]
) -> ColumnElement[bool]:
    """SQL: this customer has granted marketing on this channel (correlated EXISTS).

    The one definition campaigns use when materialising a run and the
    dispatcher uses just before each send.
    """
    return exists().where(marketing_grant_on(customer_id, channel)).correlate_except(Consent)


def marketing_grant_on(
    customer_id: ColumnElement[int], channel: ColumnElement[str]
) -> ColumnElement[bool]:
    """SQL: the join condition to this customer's marketing grant on this channel.

    What `marketing_granted` tests, as an outer join's ON clause for set-based
    work (a run's materialisation): `consents`' key is (customer, channel,
    purpose), so the join adds at most one row per identity.
    """
    return and_(
        Consent.customer_id == customer_id,
        Consent.channel == channel,
        Consent.purpose == MARKETING,
        Consent.granted.is_(True),
    )


STOP_WORDS = frozenset(
    {
        # English, and the carrier keywords customers know from SMS
        "stop",
        "stop all",
        "stopall",
        "unsubscribe",
        "opt out",
        "optout",
        # Chinese (Hong Kong and mainland), German, French, Spanish, Italian, Portuguese
        "退訂",
        "退订",
        "取消訂閱",
        "取消订阅",
        "abmelden",
        "abbestellen",
        "désabonner",
        "se désabonner",
        "désinscrire",
        "baja",
        "darse de baja",
        "cancelar suscripción",
        "disiscriviti",
        "cancelar inscrição",
        "descadastrar",
    }
)
_TRIM = " \t\r\n.!。！"


def is_stop_request(text: str) -> bool:
    """A whole message that is only a stop word ("STOP", "Unsubscribe!", "退訂").

    Only the whole message counts: "please don't stop the offers" is not an opt-out.
    """
    words = " ".join(text.strip(_TRIM).split()).casefold()
    return len(words) <= 40 and words in STOP_WORDS


def withdraw_on_request(
    conn: Connection, requests: set[tuple[int, str]], at: datetime | None = None
) -> None:
    """Ingest's post-step: (customer, channel) pairs who replied a stop word withdraw there."""
    for customer_id, channel in sorted(requests):
        record_consent(conn, customer_id, channel, granted=False, source="reply:stop", at=at)
