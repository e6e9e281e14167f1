"""Tags: short labels staff put on customers ("vip", "corporate") for segments.

Names are normalised once, here, so "VIP " and "vip" are the same tag in
every rule and every listing.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from rapport.crm.database import Database
from rapport.crm.errors import InvalidInput, NotFound
from rapport.crm.models import Customer, CustomerTag

MAX_TAG = 60
_TAG = re.compile(r"[\w-]+")


def normalise_tag(tag: str) -> str:
    """The stored form of a tag (NFC, trimmed, lower-case), or InvalidInput."""
    if not isinstance(tag, str):
        raise InvalidInput(f"a tag must be text, not {type(tag).__name__}")
    value = unicodedata.normalize("NFC", tag).strip().lower()
    if not value or len(value) > MAX_TAG or not _TAG.fullmatch(value):
        raise InvalidInput(
            f"invalid tag {tag!r}: use 1–{MAX_TAG} letters, digits, '-' or '_' (no spaces)"
        )
    return value


def _normalise_all(tags: Iterable[str]) -> list[str]:
    # Validate every tag before touching the database, so a bad one changes nothing.
    names = sorted({normalise_tag(t) for t in tags})
    if not names:
        raise InvalidInput("give at least one tag")
    return names


def _live_customer(session: Session, customer_id: int) -> None:
    customer = session.get(Customer, customer_id)
    if customer is None or customer.erased_at is not None:
        raise NotFound(f"no customer with id {customer_id}")


def _tags(session: Session, customer_id: int) -> list[str]:
    return list(
        session.scalars(
            select(CustomerTag.tag)
            .where(CustomerTag.customer_id == customer_id)
            .order_by(CustomerTag.tag)
        )
    )


def add_tags(db: Database, customer_id: int, tags: Iterable[str]) -> list[str]:
    """Tag a customer (tags already there are left alone); returns all their tags."""
    names = _normalise_all(tags)
    with db.transaction() as session:
        _live_customer(session, customer_id)
        present = set(_tags(session, customer_id))
        session.add_all(
            CustomerTag(customer_id=customer_id, tag=name) for name in names if name not in present
        )
        session.flush()
        return _tags(session, customer_id)


def remove_tags(db: Database, customer_id: int, tags: Iterable[str]) -> list[str]:
    """Take tags off a customer (absent ones are ignored); returns the tags left."""
    names = _normalise_all(tags)
    with db.transaction() as session:
        _live_customer(session, customer_id)
        session.execute(
            delete(CustomerTag).where(
                CustomerTag.customer_id == customer_id, CustomerTag.tag.in_(names)
            )
        )
        return _tags(session, customer_id)


def customer_tags(db: Database, customer_id: int) -> list[str]:
    """A customer's tags, alphabetically."""
    with db.session() as session:
        _live_customer(session, customer_id)
        return _tags(session, customer_id)
