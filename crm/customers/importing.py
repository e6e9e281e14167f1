"""`rapport customers import FILE.csv`: customers from the shop's own lists, with their consent.

All or nothing: every row is checked and matched first; while any row is
bad the import lists each with its line number and writes nothing, so a
file is never half in. A good file is written in one transaction.

A row is merged with the customer who has its email address or Telegram id
(both, if they already belong to one customer; two different customers is
an error: merge them first). Known customers get what they lack: the other
address, a name where none is known, new tags. Re-running the same file
changes nothing.

Consent is recorded only where a row says `consent=yes`, with its
`consent_source` and `consent_at` (default: the import time) as evidence
(the file and line too). An import never overrides a later choice of the
customer's own: a customer who withdrew after the row's consent date stays
withdrawn, and is reported. `consent=no` records nothing (withdrawals are
the customer's, or `rapport consent withdraw`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, func, select
from sqlalchemy.exc import IntegrityError

from rapport.crm.bulk import insert_rows, stored, take_ids, update_rows
from rapport.crm.clock import utcnow
from rapport.crm.customers.identity import EMAIL, TELEGRAM
from rapport.crm.customers.import_rows import CustomerRow, RowError, read_rows
from rapport.crm.database import Database
from rapport.crm.errors import Conflict
from rapport.crm.models import Consent, ConsentEvent, Customer, CustomerTag, Identity
from rapport.crm.privacy.consent import MARKETING, Grant, grant_many
from rapport.crm.staff.audit import Actor, record

log = logging.getLogger(__name__)

LOOKUP_CHUNK = 2_000
WRITE_CHUNK = 5_000


@dataclass(slots=True)
class CustomerImport:
    """What an import did (or, with errors, would have needed fixing first)."""

    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    consents: int = 0
    kept_withdrawn: list[int] = field(default_factory=list)
    """Lines whose consent was not recorded: the customer withdrew after that date."""
    errors: list[RowError] = field(default_factory=list)

    @property
    def written(self) -> bool:
        return not self.errors


@dataclass(slots=True)
class _Known:
    """What is stored about the customers the file names."""

    by_email: dict[str, int] = field(default_factory=dict)
    by_telegram: dict[str, int] = field(default_factory=dict)
    named: set[int] = field(default_factory=set)
    tags: set[tuple[int, str]] = field(default_factory=set)
    granted: set[int] = field(default_factory=set)
    withdrawn_at: dict[int, datetime] = field(default_factory=dict)


def import_customers(
    db: Database,
    lines: Iterable[str],
    actor: Actor,
    *,
    file_name: str = "customers.csv",
    zone: ZoneInfo | None = None,
    now: datetime | None = None,
    checked: Callable[[int], None] | None = None,
    written: Callable[[int], None] | None = None,
) -> CustomerImport:
    """Import customers from CSV text lines (see the module docstring).

    `checked(n)` and `written(n)` report progress of the two passes.
    """
    now = now or utcnow()
    rows, errors = read_rows(lines, zone=zone or ZoneInfo("UTC"), now=now, progress=checked)
    report = CustomerImport(rows=len(rows) + len(errors))
    known = _look_up(db, rows)
    owners = _owners(rows, known, errors)
    if errors:
        report.errors = sorted(errors, key=lambda e: e.line)
        log.info("customer import refused: %d bad row(s), nothing written", len(errors))
        return report
    try:
        with db.transaction() as session:
            conn = session.connection()
            _write(conn, rows, owners, known, report, file_name, actor, now, written)
            record(
                session,
                actor,
                "customers.import",
                detail=f"{file_name}: {report.created} new, {report.updated} updated, "
                f"{report.consents} consent(s)"[:500],
            )
    except IntegrityError:
        raise Conflict(
            "customers changed while importing (a message or another import came in); "
            "nothing was written: run the import again"
        ) from None
    log.info(
        "customer import: %d new, %d updated, %d unchanged, %d consent(s)",
        report.created,
        report.updated,
        report.unchanged,
        report.consents,
    )
    return report


def import_customers_file(db: Database, path: Path, actor: Actor, **kwargs: Any) -> CustomerImport:
    """`import_customers` over a UTF-8 (BOM allowed) CSV file."""
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return import_customers(db, handle, actor, file_name=path.name, **kwargs)


def _chunks(values: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _look_up(db: Database, rows: list[CustomerRow]) -> _Known:
    # Columns, not entities (the bulk import's hot path): 100,000 rows are looked up
    # and written as plain tuples through rapport.crm.bulk, without ORM state.
    known = _Known()
    emails = [r.email for r in rows if r.email]
    chats = [r.telegram_id for r in rows if r.telegram_id]
    with db.session() as session:
        for channel, values, into in (
            (EMAIL, emails, known.by_email),
            (TELEGRAM, chats, known.by_telegram),
        ):
            for chunk in _chunks(values, LOOKUP_CHUNK):
                found = session.execute(
                    select(Identity.external_id, Identity.customer_id).where(
                        Identity.channel == channel, Identity.external_id.in_(chunk)
                    )
                )
                into.update({external: customer for external, customer in found})
        ids = sorted({*known.by_email.values(), *known.by_telegram.values()})
        for chunk in _chunks(ids, LOOKUP_CHUNK):
            known.named.update(
                session.scalars(
                    select(Customer.id).where(
                        Customer.id.in_(chunk), Customer.display_name.is_not(None)
                    )
                )
            )
            known.tags.update(
                (cid, name)
                for cid, name in session.execute(
                    select(CustomerTag.customer_id, CustomerTag.tag).where(
                        CustomerTag.customer_id.in_(chunk)
                    )
                )
            )
            known.granted.update(
                session.scalars(
                    select(Consent.customer_id).where(
                        Consent.customer_id.in_(chunk),
                        Consent.channel == EMAIL,
                        Consent.purpose == MARKETING,
                        Consent.granted.is_(True),
                    )
                )
            )
            known.withdrawn_at.update(
                {
                    cid: at
                    for cid, at in session.execute(
                        select(ConsentEvent.customer_id, func.max(ConsentEvent.at))
                        .where(
                            ConsentEvent.customer_id.in_(chunk),
                            ConsentEvent.channel == EMAIL,
                            ConsentEvent.purpose == MARKETING,
                            ConsentEvent.granted.is_(False),
                        )
                        .group_by(ConsentEvent.customer_id)
                    )
                }
            )
    return known


def _owners(rows: list[CustomerRow], known: _Known, errors: list[RowError]) -> list[int | None]:
    """The stored customer each row merges with (None: a new one); clashes become errors."""
    owners: list[int | None] = []
    for row in rows:
        by_email = known.by_email.get(row.email) if row.email else None
        by_chat = known.by_telegram.get(row.telegram_id) if row.telegram_id else None
        if by_email is not None and by_chat is not None and by_email != by_chat:
            errors.append(
                RowError(
                    row.line,
                    f"the email is customer {by_email}'s and the telegram_id customer "
                    f"{by_chat}'s: merge them first (rapport customers merge)",
                )
            )
        owners.append(by_email if by_email is not None else by_chat)
    return owners


def _write(
    conn: Connection,
    rows: list[CustomerRow],
    owners: list[int | None],
    known: _Known,
    report: CustomerImport,
    file_name: str,
    actor: Actor,
    now: datetime,
    written: Callable[[int], None] | None,
) -> None:
    fresh = [row for row, owner in zip(rows, owners, strict=True) if owner is None]
    new_ids = _insert_customers(conn, fresh, now, written)
    customer_of = dict(zip((r.line for r in fresh), new_ids, strict=True))
    stamp = stored(conn, Identity, "created_at", now)
    identities: list[tuple[Any, ...]] = []
    names: list[tuple[str, int]] = []
    tags: list[tuple[int, str]] = []
    grants: list[Grant] = []
    for row, owner in zip(rows, owners, strict=True):
        cid = owner if owner is not None else customer_of[row.line]
        changed = False
        for channel, address, index in (
            (EMAIL, row.email, known.by_email),
            (TELEGRAM, row.telegram_id, known.by_telegram),
        ):
            if address and address not in index:
                identities.append((cid, channel, address, row.name, stamp))
                changed = True
        if owner is not None and row.name and cid not in known.named:
            names.append((row.name, cid))
            known.named.add(cid)
            changed = True
        for name in row.tags:
            if (cid, name) not in known.tags:
                tags.append((cid, name))
                known.tags.add((cid, name))
                changed = changed or owner is not None
        if row.consent and cid not in known.granted:
            at = row.consent_at or now
            withdrawn = known.withdrawn_at.get(cid)
            if withdrawn is not None and (row.consent_at is None or withdrawn >= at):
                report.kept_withdrawn.append(row.line)
            else:
                grants.append(_grant(cid, row, at, file_name, actor))
                known.granted.add(cid)
                changed = True
        if owner is None:
            report.created += 1
        elif changed:
            report.updated += 1
        else:
            report.unchanged += 1
    insert_rows(
        conn, Identity,
        ("customer_id", "channel", "external_id", "display_name", "created_at"), identities,
    )  # fmt: skip
    update_rows(conn, Customer, ("display_name",), "id", names)
    insert_rows(conn, CustomerTag, ("customer_id", "tag"), tags)
    grant_many(conn, grants)
    report.consents = len(grants)
    if written is not None and len(rows) > len(fresh):
        written(len(rows) - len(fresh))


def _grant(cid: int, row: CustomerRow, at: datetime, file_name: str, actor: Actor) -> Grant:
    assert row.consent_source is not None
    return Grant(
        customer_id=cid,
        channel=EMAIL,
        source=f"import:{row.consent_source}",
        at=at,
        evidence=json.dumps(
            {
                "source": row.consent_source,
                "consent_at": row.consent_at.isoformat() if row.consent_at else None,
                "file": file_name,
                "line": row.line,
                "imported_by": actor.label,
            }
        ),
    )


def _insert_customers(
    conn: Connection,
    rows: list[CustomerRow],
    now: datetime,
    written: Callable[[int], None] | None,
) -> list[int]:
    ids = take_ids(conn, Customer, len(rows))
    stamp = stored(conn, Customer, "created_at", now)
    no = stored(conn, Customer, "marketing_consent", False)
    columns = ("id", "display_name", "first_seen_channel", "created_at", "marketing_consent")
    for start in range(0, len(rows), WRITE_CHUNK):
        chunk = rows[start : start + WRITE_CHUNK]
        insert_rows(
            conn, Customer, columns,
            ((cid, r.name, EMAIL if r.email else TELEGRAM, stamp, no)
             for cid, r in zip(ids[start:], chunk, strict=False)),
        )  # fmt: skip
        if written is not None:
            written(len(chunk))
    return ids
