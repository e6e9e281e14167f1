"""`rapport customers import`: all rows or none, merged by identity, consent with its evidence."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select
from typer.testing import CliRunner

from rapport.bot.cli import app
from rapport.crm.customers.importing import import_customers
from rapport.crm.database import Database
from rapport.crm.models import ConsentEvent, Customer, CustomerTag, Identity
from rapport.crm.privacy.consent import marketing_consent, set_marketing_consent
from rapport.crm.staff.audit import Actor
from rapport.crm.value.orders import orders_from_text
from tests.support.campaign_fixtures import customer

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
ME = Actor(label="cli:test")
GOOD = """email,name,telegram_id,tags,consent,consent_source,consent_at
ann@example.org,Ann Lee,,vip;corporate,yes,signed form at the till,2026-11-01
bob@example.org,Bob Wu,,,no,,
,Chen,7001,vip,,,
"""


def _import(db: Database, text: str, **kwargs: object):  # type: ignore[no-untyped-def]
    return import_customers(db, orders_from_text(text), ME, now=NOW, **kwargs)  # type: ignore[arg-type]


def _count(db: Database, model: type) -> int:
    with db.session() as s:
        return s.scalar(select(func.count()).select_from(model)) or 0


def test_a_file_imports_once_with_consent_and_its_evidence(db: Database) -> None:
    first = _import(db, GOOD, file_name="shop.csv")
    assert first.written and (first.rows, first.created, first.consents) == (3, 3, 1)
    assert marketing_consent(db, "email", "ann@example.org") is True
    assert marketing_consent(db, "email", "bob@example.org") is False  # no: nothing recorded
    with db.session() as s:
        [event] = s.scalars(select(ConsentEvent)).all()
        assert event.source == "import:signed form at the till"
        assert event.at == datetime(2026, 11, 1, tzinfo=UTC)
        evidence = json.loads(event.evidence or "{}")
        assert evidence == {
            "source": "signed form at the till",
            "consent_at": "2026-11-01T00:00:00+00:00",
            "file": "shop.csv",
            "line": 2,
            "imported_by": "cli:test",
        }
        chen = s.scalar(select(Customer).where(Customer.display_name == "Chen"))
        assert chen is not None and chen.first_seen_channel == "telegram"

    again = _import(db, GOOD)
    assert (again.created, again.updated, again.unchanged, again.consents) == (0, 0, 3, 0)
    assert (_count(db, Customer), _count(db, ConsentEvent), _count(db, CustomerTag)) == (3, 1, 3)


def test_rows_merge_with_the_customers_they_name(db: Database) -> None:
    known = customer(db, "dee@example.org", name="Dee", consent=False)
    report = _import(
        db,
        "Email,Telegram_ID,Name,Tags\nDEE@Example.org,8002,Deirdre,wholesale\n"
        "eve@example.org,,Eve,\n",
    )
    assert (report.created, report.updated) == (1, 1)
    with db.session() as s:
        dee = s.get(Customer, known)
        assert dee is not None and dee.display_name == "Dee"  # a known name is kept
        channels = s.scalars(
            select(Identity.channel).where(Identity.customer_id == known).order_by(Identity.id)
        ).all()
        assert channels == ["email", "telegram"]
        assert s.scalars(select(CustomerTag.tag).where(CustomerTag.customer_id == known)).all() == [
            "wholesale"
        ]


def test_a_later_withdrawal_is_never_overridden(db: Database) -> None:
    customer(db, "fay@example.org", consent=True)
    set_marketing_consent(db, "email", "fay@example.org", granted=False, source="reply:stop")
    report = _import(
        db, "email,consent,consent_source,consent_at\nfay@example.org,yes,old list,2020-01-01\n"
    )
    assert report.written and report.consents == 0 and report.kept_withdrawn == [2]
    assert marketing_consent(db, "email", "fay@example.org") is False


def test_bad_rows_are_listed_by_line_and_nothing_is_written(db: Database) -> None:
    customer(db, "gus@example.org", consent=False)
    customer(db, "9009", channel="telegram", consent=False)
    future = (NOW + timedelta(days=3)).date().isoformat()
    text = (
        "email,name,telegram_id,consent,consent_source,consent_at\n"
        "ok@example.org,Okay,,yes,web form,2026-10-01\n"  # good, but must not go in
        "not-an-address,Bad,,,,\n"  # 3
        "hal@example.org,Hal,,,,\n"
        "hal@example.org,Hank,,,,\n"  # 5: same address, another name
        "ivy@example.org,Ivy,,yes,,\n"  # 6: consent without a source
        f"jo@example.org,Jo,,yes,form,{future}\n"  # 7: consent in the future
        "gus@example.org,Gus,9009,,,\n"  # 8: two stored customers
        "kim@example.org,Kim,,maybe,,\n"  # 9
        ",,,,,\n"  # blank: skipped
        "lee@example.org,Lee,abc,,,\n"  # 11
    )
    before = (_count(db, Customer), _count(db, Identity), _count(db, ConsentEvent))
    report = _import(db, text)
    assert not report.written
    assert [(e.line, e.reason.split(":")[0]) for e in report.errors] == [
        (3, "invalid email address 'not-an-address'"),
        (5, "the same person as line 4"),
        (6, "consent without a consent_source"),
        (7, "consent_at '" + future + "' is in the future"),
        (8, "the email is customer 1's and the telegram_id customer 2's"),
        (9, "consent 'maybe' is not yes or no"),
        (11, "invalid Telegram chat id 'abc'"),
    ]
    assert "name 'Hank' conflicts with 'Hal'" in report.errors[1].reason
    assert (_count(db, Customer), _count(db, Identity), _count(db, ConsentEvent)) == before


def test_the_command_line_reports_rows_and_refuses_unknown_columns(tmp_path: Path) -> None:
    env = {"RAPPORT_DATABASE_URL": f"sqlite:///{tmp_path / 'r.db'}", "COLUMNS": "200"}
    runner = CliRunner()
    good = tmp_path / "customers.csv"
    good.write_text(GOOD, encoding="utf-8")
    result = runner.invoke(app, ["customers", "import", str(good)], env=env)
    assert result.exit_code == 0, result.output
    assert (
        "3 row(s): 3 new customer(s), 0 updated, 0 unchanged; 1 email consent(s)" in result.output
    )

    odd = tmp_path / "odd.csv"
    odd.write_text("email,phone\nzed@example.org,555\n", encoding="utf-8")
    result = runner.invoke(app, ["customers", "import", str(odd)], env=env)
    assert "unknown column 'phone' in the CSV header" in str(result.exception)

    bad = tmp_path / "bad.csv"
    bad.write_text("email,consent\nzed@example.org,yes\n", encoding="utf-8")
    result = runner.invoke(app, ["customers", "import", str(bad)], env=env)
    assert result.exit_code == 1
    assert "1 bad row(s) in bad.csv; nothing was imported" in result.output
    assert "consent without a consent_source" in result.output


def test_imported_rows_read_like_any_other(db: Database) -> None:
    """Rows written in bulk compare and segment like rows written one by one."""
    from rapport.crm.segments.saved import count_members, create_segment

    _import(db, GOOD)
    customer(db, "zed@example.org", at=NOW)  # one written through ingest
    create_segment(db, "new", {"field": "first_seen_days", "op": "<", "value": 1})
    create_segment(db, "consenting", {"field": "marketing_consent", "op": "==", "value": True})
    assert count_members(db, "new", NOW + timedelta(hours=1)) == 4
    assert count_members(db, "consenting", NOW) == 2  # Ann, and zed (consent=True fixture)
