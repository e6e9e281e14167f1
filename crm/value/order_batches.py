"""Many orders in one call (the HTTP API's batch push), with `record_order`'s idempotency.

Each order is validated in full first, then stored in its own savepoint of
one transaction with the same code the CSV import uses
(`rapport.crm.value.orders.store_line`): a repeat of a recorded order is a
no-op reported as a duplicate, a conflicting repeat or a bad order is
reported with its reason and stores nothing, the others are stored. One
transaction for the batch is what makes a batched push fast.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy.exc import IntegrityError

from rapport.crm.clock import utcnow
from rapport.crm.database import Database
from rapport.crm.errors import InvalidInput
from rapport.crm.value.orders import OrderLine, check_order, store_line

log = logging.getLogger(__name__)

MAX_BATCH = 1000


@dataclass(frozen=True, slots=True)
class OrderInput:
    order_key: str
    customer: str
    amount: str | Decimal | int
    ordered_at: str | datetime | date
    currency: str | None = None
    name: str | None = None


@dataclass(frozen=True, slots=True)
class OrderOutcome:
    """What happened to one order of the batch, in the batch's order."""

    order_key: str
    order_id: int | None = None
    customer_id: int | None = None
    duplicate: bool = False
    new_customer: bool = False
    points: int = 0
    error: str | None = None


def record_orders(
    db: Database,
    orders: Sequence[OrderInput],
    *,
    source: str = "api",
    shop_currency: str = "EUR",
    points_per_currency_unit: float = 1.0,
    zone: ZoneInfo | None = None,
    now: datetime | None = None,
) -> list[OrderOutcome]:
    """Record a batch of orders; good ones are stored, bad ones say why, repeats change nothing."""
    if len(orders) > MAX_BATCH:
        raise InvalidInput(f"send at most {MAX_BATCH} orders per request")
    now = now or utcnow()
    zone = zone or ZoneInfo("UTC")
    checked: list[OrderLine | str] = []
    for order in orders:
        try:
            checked.append(
                check_order(
                    order_key=order.order_key,
                    customer=order.customer,
                    amount=order.amount,
                    ordered_at=order.ordered_at,
                    currency=order.currency,
                    shop_currency=shop_currency,
                    zone=zone,
                    now=now,
                    name=order.name,
                )
            )
        except InvalidInput as exc:
            checked.append(str(exc))
    outcomes: list[OrderOutcome] = []
    with db.transaction() as session:
        for order, line in zip(orders, checked, strict=True):
            if isinstance(line, str):
                outcomes.append(OrderOutcome(order.order_key, error=line))
                continue
            try:
                with session.begin_nested():
                    done = store_line(session, line, source[:40], points_per_currency_unit, now)
            except InvalidInput as exc:
                outcomes.append(OrderOutcome(line.order_key, error=str(exc)))
                continue
            except IntegrityError:
                outcomes.append(
                    OrderOutcome(line.order_key, error="conflicts with an order stored meanwhile")
                )
                continue
            outcomes.append(
                OrderOutcome(
                    line.order_key,
                    done.order_id,
                    done.customer_id,
                    done.duplicate,
                    done.new_customer,
                    done.points,
                )
            )
    log.info(
        "order batch: %d stored, %d duplicates, %d refused",
        sum(1 for o in outcomes if o.error is None and not o.duplicate),
        sum(1 for o in outcomes if o.duplicate),
        sum(1 for o in outcomes if o.error is not None),
    )
    return outcomes
