"""A customer's details page data: consent, value, points and deliveries, as views."""

from __future__ import annotations

import dataclasses

import pytest

from rapport.crm.customers.details import ValueLine, customer_details
from rapport.crm.database import Database
from rapport.crm.value.scores import recompute_values
from tests.support.campaign_fixtures import customer
from tests.support.value_fixtures import NOW, seed_shop


def test_value_is_a_snapshot_of_the_last_recompute(db: Database) -> None:
    ids = seed_shop(db)
    quiet = customer(db, "quiet@example.com")
    recompute_values(db, NOW)
    value = customer_details(db, ids["c1"]).value
    assert isinstance(value, ValueLine)
    assert value.orders > 0 and value.historical_value > 0 and value.computed_at == NOW
    with pytest.raises(dataclasses.FrozenInstanceError):
        value.orders = 0  # type: ignore[misc]
    assert customer_details(db, ids["c1"]).value == value
    unbought = customer_details(db, quiet).value
    assert unbought is not None and (unbought.orders, unbought.historical_value) == (0, 0)
    assert customer_details(db, quiet + 100).value is None
