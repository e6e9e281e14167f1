"""One customer from an integration: found by an address, created if new, updated if known.

The shop's system knows a customer by email address and maybe Telegram
chat id. `upsert_customer` finds the customer with either (both must belong
to the same one: merge first otherwise), adds the address they lack,
updates the name when one is given, and creates a customer for an unknown
email address, as an order would (no marketing consent: consent is recorded
with its own call and source). An unknown Telegram chat id alone is refused:
nobody can be reached by a chat that never wrote to the bot. Audited.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from rapport.crm.clock import utcnow
from rapport.crm.customers.identity import (
    EMAIL,
    TELEGRAM,
    clean_display_name,
    normalise_external_id,
)
from rapport.crm.database import Database
from rapport.crm.errors import Conflict, InvalidInput, InvalidMessage
from rapport.crm.models import Customer, Identity
from rapport.crm.staff.audit import Actor, record


@dataclass(frozen=True, slots=True)
class Upserted:
    customer_id: int
    created: bool
    changed: bool


def _address(channel: str, value: str | None) -> str | None:
    if value is None or not str(value).strip():
        return None
    try:
        return normalise_external_id(channel, str(value))
    except InvalidMessage as exc:
        raise InvalidInput(str(exc)) from None


def upsert_customer(
    db: Database,
    actor: Actor,
    *,
    email: str | None = None,
    telegram_id: str | int | None = None,
    name: str | None = None,
    now: datetime | None = None,
) -> Upserted:
    addresses = {
        channel: address
        for channel, address in (
            (EMAIL, _address(EMAIL, email)),
            (TELEGRAM, _address(TELEGRAM, None if telegram_id is None else str(telegram_id))),
        )
        if address is not None
    }
    if not addresses:
        raise InvalidInput("give the customer's email or telegram_id")
    clean_name = clean_display_name(name)
    now = now or utcnow()
    for attempt in (1, 2):
        try:
            with db.transaction() as session:
                return _upsert(session, actor, addresses, clean_name, now)
        except IntegrityError:
            if attempt == 2:  # a concurrent call created the same address first
                raise
    raise AssertionError("unreachable")


def _upsert(
    session: Session, actor: Actor, addresses: dict[str, str], name: str | None, now: datetime
) -> Upserted:
    owners = {
        channel: owner
        for channel, address in addresses.items()
        if (
            owner := session.scalar(
                select(Identity.customer_id).where(
                    Identity.channel == channel, Identity.external_id == address
                )
            )
        )
        is not None
    }
    if len(set(owners.values())) > 1:
        both = " and ".join(str(o) for o in sorted(set(owners.values())))
        raise Conflict(f"that email and Telegram id belong to two customers ({both}); merge first")
    created = False
    if owners:
        customer = session.get(Customer, next(iter(owners.values())))
        assert customer is not None
        if customer.erased_at is not None:
            raise Conflict(f"customer {customer.id} was erased")
    else:
        if EMAIL not in addresses:
            raise InvalidInput(
                "no customer has that Telegram chat id; only email addresses create new customers"
            )
        customer = Customer(
            display_name=name,
            first_seen_channel=EMAIL,
            created_at=now,
            marketing_consent=False,
        )
        session.add(customer)
        session.flush()
        created = True
    changed = created
    for channel, address in addresses.items():
        if channel not in owners:
            session.add(
                Identity(
                    customer_id=customer.id,
                    channel=channel,
                    external_id=address,
                    display_name=name,
                    created_at=now,
                )
            )
            changed = True
    if name is not None and customer.display_name != name:
        customer.display_name = name
        changed = True
    session.flush()
    record(
        session,
        actor,
        "customer.create" if created else "customer.update" if changed else "customer.match",
        customer_id=customer.id,
    )
    return Upserted(customer.id, created, changed)
