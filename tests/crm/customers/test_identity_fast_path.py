"""The fast path of email normalisation agrees with full validation on every address."""

from __future__ import annotations

import pytest
from email_validator import EmailNotValidError, validate_email
from hypothesis import given, settings
from hypothesis import strategies as st

from rapport.crm.customers.identity import normalise_email
from rapport.crm.errors import InvalidMessage

ATOM = st.text("abcXYZ019_+-", min_size=1, max_size=20)
LABEL = st.text("abz09-", min_size=1, max_size=12)
TLD = st.sampled_from(["com", "hk", "Test", "local", "c0m", "x", "onion", "example", "COM"])


def _slow(address: str) -> str | None:
    try:
        return validate_email(address.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError:
        return None


def _fast(address: str) -> str | None:
    try:
        return normalise_email(address)
    except InvalidMessage:
        return None


@settings(max_examples=600, deadline=None)
@given(
    local=st.lists(ATOM, min_size=1, max_size=4).map(".".join),
    labels=st.lists(LABEL, min_size=1, max_size=3),
    tld=TLD,
    pad=st.sampled_from(["", " ", "\t"]),
)
def test_fast_path_agrees_with_full_validation(
    local: str, labels: list[str], tld: str, pad: str
) -> None:
    address = f"{pad}{local}@{'.'.join([*labels, tld])}{pad}"
    assert _fast(address) == _slow(address)


@pytest.mark.parametrize(
    "address",
    ["a" * 65 + "@example.com", "ann@x.test", "a..b@x.com", ".a@x.com", "ann@-x.com", "a@b.c",
     "0@00--0.com", "ann@x.onion", "Ann.Lee@Example.COM"],
)  # fmt: skip
def test_edge_addresses_agree(address: str) -> None:
    assert _fast(address) == _slow(address)
