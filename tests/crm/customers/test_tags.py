"""Tags: normalised names, idempotent add and remove, bad input changes nothing."""

from __future__ import annotations

import pytest

from rapport.crm.customers.tags import add_tags, customer_tags, normalise_tag, remove_tags
from rapport.crm.database import Database
from rapport.crm.errors import InvalidInput, NotFound
from tests.support.segment_data import Person, store


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        (" VIP ", "vip"),
        ("Early-Adopter", "early-adopter"),
        ("b2b_2026", "b2b_2026"),
        ("Café", "café"),
    ],
)
def test_tag_names_are_normalised(given: str, stored: str) -> None:
    assert normalise_tag(given) == stored


@pytest.mark.parametrize("bad", ["", "   ", "two words", "semi;colon", "x" * 61, "tab\there"])
def test_bad_tag_names_are_refused(bad: str) -> None:
    with pytest.raises(InvalidInput, match="invalid tag"):
        normalise_tag(bad)


def test_add_and_remove_tags(db: Database) -> None:
    (ann,) = store(db, [Person()])
    assert add_tags(db, ann.id, ["VIP", "corporate", "vip"]) == ["corporate", "vip"]
    assert add_tags(db, ann.id, ["vip", "new"]) == ["corporate", "new", "vip"]
    assert remove_tags(db, ann.id, ["Corporate", "absent"]) == ["new", "vip"]
    assert customer_tags(db, ann.id) == ["new", "vip"]


def test_one_bad_tag_changes_nothing(db: Database) -> None:
    (ann,) = store(db, [Person(tags=["vip"])])
    with pytest.raises(InvalidInput, match="invalid tag 'no good'"):
        add_tags(db, ann.id, ["fine", "no good"])
    with pytest.raises(InvalidInput, match="invalid tag"):
        remove_tags(db, ann.id, ["vip", ""])
    with pytest.raises(InvalidInput, match="at least one tag"):
        add_tags(db, ann.id, [])
    assert customer_tags(db, ann.id) == ["vip"]


def test_unknown_or_erased_customers_cannot_be_tagged(db: Database) -> None:
    (gone,) = store(db, [Person(erased=True)])
    with pytest.raises(NotFound, match="no customer with id 999"):
        add_tags(db, 999, ["vip"])
    with pytest.raises(NotFound, match=f"no customer with id {gone.id}"):
        add_tags(db, gone.id, ["vip"])
