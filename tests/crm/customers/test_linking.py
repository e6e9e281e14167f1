"""One-time link codes at the service layer: limits, guessing, expiry, exactly-once use."""

from __future__ import annotations

import hashlib
import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from rapport.crm.campaigns.runs import start_run
from rapport.crm.customers.linking import (
    MAX_ATTEMPTS,
    LinkStatus,
    TooManyRequests,
    confirm_link,
    request_link,
)
from rapport.crm.database import Database
from rapport.crm.errors import Conflict, InvalidInput, InvalidMessage
from rapport.crm.models import Customer, CustomerMerge, Delivery, DeliveryStatus, Identity, LinkCode
from rapport.crm.privacy.consent import set_marketing_consent
from tests.support.campaign_fixtures import T0, campaign, customer, everyone

NOW = T0 + timedelta(days=1)


def _count(db: Database, model: type) -> int:
    with db.session() as s:
        return s.scalar(select(func.count()).select_from(model)) or 0


def _pair(db: Database, chat_id: str = "5001") -> tuple[int, int]:
    known = customer(db, "ann@example.com", consent=False)
    chat = customer(db, chat_id, channel="telegram", consent=False)
    return known, chat


def test_a_known_address_gets_a_code_kept_only_as_a_salted_hash(db: Database) -> None:
    known, chat = _pair(db)
    request = request_link(db, chat, " Ann@Example.com ", now=NOW)
    assert request.address == "ann@example.com"
    assert request.code is not None and len(request.code) == 6 and request.code.isdigit()
    assert request.expires_at == NOW + timedelta(minutes=15)
    with db.session() as s:
        row = s.scalar(select(LinkCode))
    assert row is not None
    assert (row.customer_id, row.target_customer_id) == (chat, known)
    assert request.code not in (row.code_hash, row.salt)
    assert row.code_hash == hashlib.sha256(f"{row.salt}:{request.code}".encode()).hexdigest()


def test_unknown_and_known_addresses_count_alike_against_the_hourly_limit(db: Database) -> None:
    _known, chat = _pair(db)
    addresses = ["nobody@example.com", "ann@example.com"] * 3
    results = [
        request_link(db, chat, a, now=NOW + timedelta(minutes=i))
        for i, a in enumerate(addresses[:5])
    ]
    assert [r.code is not None for r in results] == [False, True, False, True, False]
    with pytest.raises(TooManyRequests, match="try again later"):
        request_link(db, chat, addresses[5], now=NOW + timedelta(minutes=6))
    assert _count(db, LinkCode) == 5
    later = request_link(db, chat, "ann@example.com", now=NOW + timedelta(minutes=61))
    assert later.code is not None


def test_bad_addresses_and_codes_are_refused_with_nothing_stored(db: Database) -> None:
    _known, chat = _pair(db)
    with pytest.raises(InvalidMessage):
        request_link(db, chat, "not an address", now=NOW)
    with pytest.raises(InvalidInput, match="6 digits"):
        confirm_link(db, chat, "12345", now=NOW)
    assert _count(db, LinkCode) == 0


def test_one_address_gets_at_most_five_mails_an_hour_whoever_asks(db: Database) -> None:
    customer(db, "ann@example.com", consent=False)
    chats = [customer(db, str(6000 + n), channel="telegram", consent=False) for n in range(6)]
    sent = [request_link(db, c, "ann@example.com", now=NOW).code is not None for c in chats]
    assert sent == [True] * 5 + [False]


def test_only_three_codes_live_and_a_wrong_try_counts_against_all(db: Database) -> None:
    _known, chat = _pair(db)
    codes = [request_link(db, chat, "ann@example.com", now=NOW).code for _ in range(4)]
    assert all(codes)
    assert confirm_link(db, chat, codes[0], now=NOW).status is LinkStatus.EXPIRED  # retired
    wrong = next(f"{n:06d}" for n in range(10**6) if f"{n:06d}" not in codes)
    outcomes = [confirm_link(db, chat, wrong, now=NOW) for _ in range(MAX_ATTEMPTS)]
    assert [o.tries_left for o in outcomes] == [4, 3, 2, 1, 0]
    for code in codes[1:]:  # three live codes, five guesses in all, not fifteen
        assert confirm_link(db, chat, code, now=NOW).status is LinkStatus.NO_CODE
    assert _count(db, Customer) == 2


def test_the_right_code_merges_once_and_a_replay_is_told_it_is_linked(db: Database) -> None:
    known, chat = _pair(db)
    code = request_link(db, chat, "ann@example.com", now=NOW).code
    assert code is not None
    linked = confirm_link(db, chat, code, now=NOW + timedelta(minutes=1))
    assert (linked.status, linked.customer_id) == (LinkStatus.LINKED, known)
    for asker in (known, chat):  # the chat's new customer, or its id from before the link
        again = confirm_link(db, asker, code, now=NOW + timedelta(minutes=2))
        assert (again.status, again.customer_id) == (LinkStatus.ALREADY_LINKED, known)
    assert _count(db, Customer) == 1 and _count(db, CustomerMerge) == 1
    assert request_link(db, known, "ann@example.com", now=NOW).already_linked


def test_a_merge_refused_for_a_message_in_flight_leaves_the_code_usable(db: Database) -> None:
    everyone(db)
    _known, chat = _pair(db)
    set_marketing_consent(db, "email", "ann@example.com", granted=True, source="test")
    start_run(db, campaign(db, channel="email").id, now=NOW)
    with db.transaction() as s:
        s.execute(update(Delivery).values(status=DeliveryStatus.SENDING.value, claimed_at=NOW))
    code = request_link(db, chat, "ann@example.com", now=NOW).code
    assert code is not None
    with pytest.raises(Conflict):
        confirm_link(db, chat, code, now=NOW)
    with db.session() as s:
        row = s.scalar(select(LinkCode))
        assert row is not None and (row.consumed_at, row.attempts) == (None, 0)
    with db.transaction() as s:
        s.execute(update(Delivery).values(status=DeliveryStatus.SENT.value))
    assert confirm_link(db, chat, code, now=NOW).status is LinkStatus.LINKED
    assert _count(db, Customer) == 1


def test_an_expired_code_is_refused_and_not_counted_as_a_guess(db: Database) -> None:
    _known, chat = _pair(db)
    code = request_link(db, chat, "ann@example.com", now=NOW).code
    assert code is not None
    late = NOW + timedelta(minutes=15)
    assert confirm_link(db, chat, code, now=late).status is LinkStatus.EXPIRED
    with db.session() as s:
        assert s.scalar(select(LinkCode.attempts)) == 0
    assert _count(db, Customer) == 2


def test_two_confirmations_at_once_merge_exactly_once(db: Database) -> None:
    if db.dialect == "sqlite":
        pytest.skip("SQLite runs one writer at a time; the race needs PostgreSQL's row locks")
    known, chat = _pair(db)
    code = request_link(db, chat, "ann@example.com", now=NOW).code
    assert code is not None
    start = threading.Barrier(2)
    outcomes: list[object] = []

    def tap() -> None:
        start.wait()
        outcomes.append(confirm_link(db, chat, code, now=NOW).status)

    threads = [threading.Thread(target=tap) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == [LinkStatus.ALREADY_LINKED, LinkStatus.LINKED]  # type: ignore[type-var]
    assert _count(db, CustomerMerge) == 1 and _count(db, Customer) == 1
    with db.session() as s:
        assert set(s.scalars(select(Identity.customer_id))) == {known}
