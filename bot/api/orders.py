"""/orders: push one order or a batch, with `rapport import orders`' idempotency.

The order id is the key: sending the same order again is a no-op reported
as a duplicate; the same id with other details is refused. The CSV import,
`record_order` and these routes share one storing function
(rapport.crm.value.orders.store_line).
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter, Depends, Response

from rapport.bot.api.deps import ApiDeps
from rapport.bot.api.models import OrderBatch, OrderBatchResult, OrderIn, OrderResult
from rapport.crm.errors import InvalidInput
from rapport.crm.integrations.api_keys import ApiPrincipal
from rapport.crm.staff.roles import Permission
from rapport.crm.value.order_batches import OrderInput, OrderOutcome, record_orders

Allow = Callable[[Permission], Callable[..., ApiPrincipal]]


def _result(o: OrderOutcome) -> OrderResult:
    return OrderResult(
        order_id=o.order_key, id=o.order_id, customer_id=o.customer_id, duplicate=o.duplicate,
        new_customer=o.new_customer, points=o.points, error=o.error,
    )  # fmt: skip


def add_order_routes(router: APIRouter, deps: ApiDeps, allow: Allow) -> None:
    settings = deps.settings

    def push(orders: list[OrderIn], key: ApiPrincipal) -> list[OrderOutcome]:
        return record_orders(
            deps.db,
            [
                OrderInput(o.order_id, o.customer, o.amount, o.ordered_at, o.currency, o.name)
                for o in orders
            ],
            source=f"api:{key.key_id}",
            shop_currency=settings.currency,
            points_per_currency_unit=settings.points_per_currency_unit,
            zone=settings.zone,
            now=deps.clock(),
        )

    @router.post(
        "/orders",
        response_model=OrderResult,
        tags=["orders"],
        responses={201: {"description": "Recorded"}, 200: {"description": "Already recorded"}},
    )
    def push_one(
        body: OrderIn,
        response: Response,
        key: ApiPrincipal = Depends(allow(Permission.IMPORT)),  # noqa: B008
    ) -> OrderResult:
        """Record one order and earn its points; a repeat is 200 with `duplicate: true`."""
        (outcome,) = push([body], key)
        if outcome.error is not None:
            raise InvalidInput(outcome.error)
        response.status_code = 200 if outcome.duplicate else 201
        return _result(outcome)

    @router.post("/orders/batch", response_model=OrderBatchResult, tags=["orders"])
    def push_many(
        body: OrderBatch,
        key: ApiPrincipal = Depends(allow(Permission.IMPORT)),  # noqa: B008
    ) -> OrderBatchResult:
        """Up to 1,000 orders in one transaction; each result says stored, duplicate or why not."""
        outcomes = push(body.orders, key)
        return OrderBatchResult(
            stored=sum(1 for o in outcomes if o.error is None and not o.duplicate),
            duplicates=sum(1 for o in outcomes if o.duplicate),
            refused=sum(1 for o in outcomes if o.error is not None),
            results=[_result(o) for o in outcomes],
        )
