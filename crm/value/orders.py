"""Orders from the business's own systems: one call for integrations, a CSV import for staff.

An order is identified by the business's own order id (`order_key`), so
sending or importing the same order again changes nothing. Recording an
order also earns its loyalty points, in the same transaction and tied to the
order by a unique key, so an order can never earn twice.

Customer keys: an email address, ``telegram:<chat id>`` or a bare chat id.
An unknown email address becomes a new customer (identity by email, no
marketing consent, "customer since" the order's date): orders usually arrive
before the customer has ever written to us. An unknown Telegram chat id is
refused, because nobody can be reached or recognised by a chat id that never
wrote to the bot.
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from rapport.crm.clock import utcnow
from rapport.crm.customers.identity import EMAIL, TELEGRAM, normalise_external_id
from rapport.crm.database import Database
from rapport.crm.errors import InvalidInput, InvalidMessage
from rapport.crm.models import Customer, Identity, Order, PointsEntry
from rapport.crm.value.loyalty import points_for

log = logging.getLogger(__name__)

MAX_KEY = 120
MAX_AMOUNT = Decimal("100000000")
FUTURE_SLACK = timedelta(days=1)
"""Orders dated further ahead than this are refused as typos."""
BATCH_ROWS = 500
"""CSV rows committed per transaction; a bad row only loses itself (savepoints)."""

COLUMNS = {
    "customer": ("customer", "email", "customer_key", "external_id"),
    "amount": ("amount", "total"),
    "currency": ("currency",),
    "date": ("date", "ordered_at", "order_date"),
    "order_id": ("order_id", "order", "id", "order_key"),
    "name": ("name", "customer_name"),
}
REQUIRED = ("customer", "amount", "date", "order_id")


@dataclass(frozen=True, slots=True)
class OrderLine:
    """A validated order, ready to store."""

    order_key: str
    channel: str
    external_id: str
    amount_minor: int
    currency: str
    ordered_at: datetime
    name: str | None = None


@dataclass(frozen=True, slots=True)
class RecordedOrder:
    order_id: int
    customer_id: int
    duplicate: bool
    new_customer: bool
    points: int


@dataclass(frozen=True, slots=True)
class RowError:
    row: int
    """Line number in the file (the header is line 1)."""
    reason: str


@dataclass(slots=True)
class ImportReport:
    imported: int = 0
    duplicates: int = 0
    new_customers: int = 0
    points: int = 0
    errors: list[RowError] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return self.imported + self.duplicates + len(self.errors)


def parse_customer_key(key: str) -> tuple[str, str]:
    """(channel, normalised external id) of a customer key; InvalidInput if unusable."""
    value = (key or "").strip()
    if not value:
        raise InvalidInput("customer key is empty")
    if value.lower().startswith("telegram:"):
        channel, external = TELEGRAM, value.split(":", 1)[1]
    elif "@" in value:
        channel, external = EMAIL, value
    else:
        channel, external = TELEGRAM, value
    try:
        return channel, normalise_external_id(channel, external)
    except InvalidMessage as exc:
        raise InvalidInput(str(exc)) from None


def parse_amount(text: str | Decimal | int) -> int:
    """Minor units (cents) of a positive amount with at most two decimals."""
    try:
        amount = Decimal(str(text).strip().replace(",", "."))
    except InvalidOperation:
        raise InvalidInput(f"amount {text!r} is not a number") from None
    if not amount.is_finite() or amount <= 0:
        raise InvalidInput(f"amount {text!r} must be above 0 (refunds are not imported)")
    if amount >= MAX_AMOUNT:
        raise InvalidInput(f"amount {text!r} is implausibly large")
    minor = amount * 100
    if minor != minor.to_integral_value():
        raise InvalidInput(f"amount {text!r} has more than two decimals")
    return int(minor)


def parse_when(text: str | datetime | date, zone: ZoneInfo) -> datetime:
    """An ISO date or date-time; without an offset it is in the business's time zone."""
    if isinstance(text, datetime):
        value = text
    elif isinstance(text, date):
        value = datetime.combine(text, time())
    else:
        try:
            value = datetime.fromisoformat(str(text).strip())
        except ValueError:
            raise InvalidInput(
                f"date {text!r} is not ISO (2026-11-23 or 2026-11-23T14:05)"
            ) from None
    return (value if value.tzinfo else value.replace(tzinfo=zone)).astimezone(ZoneInfo("UTC"))


def check_order(
    *,
    order_key: str,
    customer: str,
    amount: str | Decimal | int,
    ordered_at: str | datetime | date,
    currency: str | None,
    shop_currency: str,
    zone: ZoneInfo,
    now: datetime,
    name: str | None = None,
) -> OrderLine:
    """Validate one order completely before anything is stored."""
    key = (order_key or "").strip()
    if not key or len(key) > MAX_KEY:
        raise InvalidInput(f"order id must be 1–{MAX_KEY} characters")
    channel, external_id = parse_customer_key(customer)
    minor = parse_amount(amount)
    money = (currency or "").strip().upper() or shop_currency
    if money != shop_currency:
        raise InvalidInput(
            f"currency {money} is not the shop's currency {shop_currency} "
            "(RAPPORT_CURRENCY); convert before importing"
        )
    when = parse_when(ordered_at, zone)
    if when > now + FUTURE_SLACK:
        raise InvalidInput(f"date {when:%Y-%m-%d} is in the future")
    clean_name = " ".join((name or "").split())[:200] or None
    return OrderLine(key, channel, external_id, minor, money, when, clean_name)


def _customer_for(session: Session, line: OrderLine) -> tuple[int, bool]:
    found = session.scalar(
        select(Identity.customer_id).where(
            Identity.channel == line.channel, Identity.external_id == line.external_id
        )
    )
    if found is not None:
        return found, False
    if line.channel != EMAIL:
        raise InvalidInput(
            f"no customer has Telegram chat id {line.external_id}; "
            "only email addresses create new customers"
        )
    customer_id = session.scalar(
        insert(Customer)
        .values(
            display_name=line.name,
            first_seen_channel=EMAIL,
            created_at=line.ordered_at,
            marketing_consent=False,
        )
        .returning(Customer.id)
    )
    assert customer_id is not None
    session.execute(
        insert(Identity).values(
            customer_id=customer_id,
            channel=EMAIL,
            external_id=line.external_id,
            display_name=line.name,
            created_at=line.ordered_at,
        )
    )
    return customer_id, True


def store_line(
    session: Session, line: OrderLine, source: str, per_unit: float, now: datetime
) -> RecordedOrder:
    """Insert one checked order and its points; the caller owns the transaction."""
    existing = session.execute(
        select(Order.id, Order.customer_id, Order.amount_minor, Order.ordered_at).where(
            Order.order_key == line.order_key
        )
    ).first()
    if existing is not None:
        same_customer = session.scalar(
            select(Identity.customer_id).where(
                Identity.channel == line.channel, Identity.external_id == line.external_id
            )
        )
        if (
            existing.amount_minor != line.amount_minor
            or same_customer != existing.customer_id
            or existing.ordered_at != line.ordered_at
        ):
            raise InvalidInput(
                f"order {line.order_key!r} was already recorded with other details; "
                "orders are never changed by a re-import"
            )
        return RecordedOrder(existing.id, existing.customer_id, True, False, 0)
    customer_id, new = _customer_for(session, line)
    order_id = session.scalar(
        insert(Order)
        .values(
            customer_id=customer_id,
            order_key=line.order_key,
            amount_minor=line.amount_minor,
            currency=line.currency,
            ordered_at=line.ordered_at,
            source=source,
            imported_at=now,
        )
        .returning(Order.id)
    )
    assert order_id is not None
    points = points_for(line.amount_minor, per_unit)
    if points:
        session.execute(
            insert(PointsEntry).values(
                customer_id=customer_id,
                delta=points,
                reason=f"order {line.order_key}"[:80],
                order_id=order_id,
                created_at=line.ordered_at,
            )
        )
    return RecordedOrder(order_id, customer_id, False, new, points)


def record_order(
    db: Database,
    *,
    order_key: str,
    customer: str,
    amount: str | Decimal | int,
    ordered_at: str | datetime | date,
    currency: str | None = None,
    name: str | None = None,
    source: str = "api",
    shop_currency: str = "EUR",
    points_per_currency_unit: float = 1.0,
    zone: ZoneInfo | None = None,
    now: datetime | None = None,
) -> RecordedOrder:
    """Record one order (and earn its points) for an integration; a repeat is a no-op.

    Raises InvalidInput, with nothing stored, if the order is not acceptable.
    """
    now = now or utcnow()
    line = check_order(
        order_key=order_key,
        customer=customer,
        amount=amount,
        ordered_at=ordered_at,
        currency=currency,
        shop_currency=shop_currency,
        zone=zone or ZoneInfo("UTC"),
        now=now,
        name=name,
    )
    for attempt in (1, 2):
        try:
            with db.transaction() as session:
                return store_line(session, line, source[:40], points_per_currency_unit, now)
        except IntegrityError:
            # A concurrent writer stored this order or created this customer first;
            # the second attempt sees its row.
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def _column_map(header: list[str]) -> dict[str, int]:
    lowered = [h.strip().lower() for h in header]
    found: dict[str, int] = {}
    for name, aliases in COLUMNS.items():
        for alias in aliases:
            if alias in lowered:
                found[name] = lowered.index(alias)
                break
    missing = [n for n in REQUIRED if n not in found]
    if missing:
        raise InvalidInput(
            f"CSV header lacks column(s) {', '.join(missing)}; "
            f"expected customer, amount, currency, date, order_id (got {', '.join(header)})"
        )
    return found


def _cell(row: list[str], columns: dict[str, int], name: str) -> str | None:
    index = columns.get(name)
    if index is None or index >= len(row):
        return None
    return row[index]


def import_orders(
    db: Database,
    lines: Iterable[str],
    *,
    shop_currency: str = "EUR",
    points_per_currency_unit: float = 1.0,
    zone: ZoneInfo | None = None,
    source: str = "csv",
    now: datetime | None = None,
    progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Import orders from CSV text lines; good rows go in, bad rows are reported and skipped.

    Each row is validated in full, then stored in its own savepoint, so a row
    that fails (even at the database) leaves nothing behind; rows are
    committed in batches of `BATCH_ROWS`. `progress(n)` is called with the
    number of rows handled since the last call.
    """
    now = now or utcnow()
    zone = zone or ZoneInfo("UTC")
    reader = csv.reader(lines)
    try:
        header = next(reader)
    except StopIteration:
        raise InvalidInput("the CSV file is empty") from None
    except csv.Error as exc:
        raise InvalidInput(f"the CSV header cannot be read: {exc}") from None
    columns = _column_map(header)
    report = ImportReport()
    rows = _numbered(reader, report)
    while True:
        batch = [r for _, r in zip(range(BATCH_ROWS), rows, strict=False)]
        if not batch:
            break
        with db.transaction() as session:
            for number, row in batch:
                _import_row(
                    session, number, row, columns, report, shop_currency,
                    points_per_currency_unit, zone, source, now,
                )  # fmt: skip
        if progress is not None:
            progress(len(batch))
    log.info(
        "order import: %d imported, %d duplicates, %d errors",
        report.imported,
        report.duplicates,
        len(report.errors),
    )
    return report


def _numbered(reader: Iterator[list[str]], report: ImportReport) -> Iterator[tuple[int, list[str]]]:
    number = 1
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            number += 1
            report.errors.append(RowError(number, f"unreadable CSV: {exc}"))
            continue
        number += 1
        if row and any(cell.strip() for cell in row):
            yield number, row


def _import_row(
    session: Session,
    number: int,
    row: list[str],
    columns: dict[str, int],
    report: ImportReport,
    shop_currency: str,
    per_unit: float,
    zone: ZoneInfo,
    source: str,
    now: datetime,
) -> None:
    try:
        line = check_order(
            order_key=_cell(row, columns, "order_id") or "",
            customer=_cell(row, columns, "customer") or "",
            amount=_cell(row, columns, "amount") or "",
            ordered_at=_cell(row, columns, "date") or "",
            currency=_cell(row, columns, "currency"),
            shop_currency=shop_currency,
            zone=zone,
            now=now,
            name=_cell(row, columns, "name"),
        )
        with session.begin_nested():
            result = store_line(session, line, source, per_unit, now)
    except InvalidInput as exc:
        report.errors.append(RowError(number, str(exc)))
        return
    except IntegrityError as exc:
        report.errors.append(RowError(number, f"conflicts with stored data: {exc.orig}"[:300]))
        return
    if result.duplicate:
        report.duplicates += 1
        return
    report.imported += 1
    report.points += result.points
    report.new_customers += int(result.new_customer)


def import_orders_file(db: Database, path: Path, **kwargs: Any) -> ImportReport:
    """`import_orders` over a UTF-8 (BOM allowed) CSV file."""
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return import_orders(db, handle, **kwargs)


def count_rows(path: Path) -> int:
    """Data rows in a CSV file, for a progress bar's total (approximate with quoted newlines)."""
    with path.open("rb") as handle:
        return max(0, sum(1 for _ in handle) - 1)


def orders_from_text(text: str) -> io.StringIO:
    """A CSV text as the line iterable `import_orders` reads (tests, the bot)."""
    return io.StringIO(text, newline="")
