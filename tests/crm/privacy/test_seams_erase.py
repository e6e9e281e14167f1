"""Erasure leaves nothing (issue 20, defect 4): not in any table, not in any file.

A person wrote by Telegram and by email and was answered; `rapport privacy
erase` (by Telegram id, then by email address) must leave none of their
strings (email, name, chat id, message text) anywhere: on SQLite in the main
file, `-wal`, `-shm` and `-journal`; on PostgreSQL in any table.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from rapport.bot.cli import app as cli
from rapport.channels.email.inbound_smtp import InboundSmtpService
from rapport.channels.telegram.inbound import message_key
from rapport.crm.clock import utcnow
from rapport.crm.database import Database
from rapport.crm.interactions.ingest import ingest
from rapport.crm.interactions.outbound import record_outbound
from rapport.crm.messages import InboundMessage
from tests.support.smtp_raw import mail, session

CHAT = 7312984455
EMAIL = "quentin.zebulon@example.org"
NAME = "Quentin Zebulon"
TG_TEXT = "my parcel xylophone-4471 never arrived"
MAIL_TEXT = "please call me about the quasar-9913 invoice"
REPLY = "Sorry Quentin, the marmalade-5520 parcel is on its way"
STRINGS = (str(CHAT), EMAIL, NAME, "Zebulon", TG_TEXT, MAIL_TEXT, REPLY, "xylophone-4471",
           "quasar-9913", "marmalade-5520")  # fmt: skip


def _files(db: Database) -> list[Path]:
    main = Path(make_url(db.url).database or "")
    return [p for p in (main, *(Path(f"{main}{s}") for s in ("-wal", "-shm", "-journal")))
            if p.exists()]  # fmt: skip


def _found_in_files(db: Database) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for path in _files(db):
        data = path.read_bytes()
        for s in STRINGS:
            for form in (s.encode("utf-8"), s.encode("utf-16-le"), s.encode("utf-16-be")):
                if form in data:
                    found.setdefault(path.name, []).append(s)
    return found


def _found_in_tables(db: Database) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    with db.engine.connect() as conn:
        names = conn.execute(
            text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        ).scalars()
        for name in list(names):
            rows = conn.execute(text(f'SELECT row_to_json(t)::text FROM "{name}" t')).scalars()
            blob = "\n".join(rows)
            hits = [s for s in STRINGS if s.lower() in blob.lower()]
            if hits:
                found[name] = hits
    return found


def _found(db: Database) -> dict[str, list[str]]:
    return _found_in_files(db) if db.dialect == "sqlite" else _found_in_tables(db)


async def test_erase_leaves_no_string_of_the_person_anywhere(db: Database) -> None:
    now = utcnow()
    first = InboundMessage(channel="telegram", external_id=str(CHAT), sender=NAME,
                           text=TG_TEXT, sent_at=now,
                           message_key=message_key(CHAT, 17))  # fmt: skip
    ingest(db, first)
    record_outbound(db, "telegram", str(CHAT), REPLY, message_key=message_key(CHAT, 18),
                    sent_at=now, automated=False)  # fmt: skip
    server = InboundSmtpService(db, "127.0.0.1", 0, max_bytes=1_000_000, timeout=10)
    await server.start()
    try:
        data = mail(sender=f"{NAME} <{EMAIL}>", text=MAIL_TEXT,
                    message_id=f"<{EMAIL.replace('@', '.')}.1@example.org>")  # fmt: skip
        replies = await session(
            server.bound_port,
            [b"EHLO client.test", b"MAIL FROM:<" + EMAIL.encode() + b">",
             b"RCPT TO:<shop@example.com>", b"DATA", b"QUIT"],
            data=data,
        )  # fmt: skip
        assert replies[5][0] == 250
    finally:
        await server.stop()
    before = _found(db)
    assert before, "the test data is not where the search looks"

    env = {"RAPPORT_DATABASE_URL": db.url, "COLUMNS": "200"}
    runner = CliRunner()
    for who in (f"telegram:{CHAT}", EMAIL.upper()):
        result = runner.invoke(cli, ["privacy", "erase", who, "--yes"], env=env)
        assert result.exit_code == 0, (result.output, result.exception)
        assert "erased" in result.output
    db.dispose()  # our own pooled connections hold nothing back either way

    assert _found(db) == {}


async def test_export_and_erase_name_the_person_by_email_or_telegram_id(db: Database) -> None:
    ingest(db, InboundMessage(channel="telegram", external_id=str(CHAT), sender=NAME,
                              text=TG_TEXT, sent_at=utcnow(),
                              message_key=message_key(CHAT, 1)))  # fmt: skip
    env = {"RAPPORT_DATABASE_URL": db.url, "COLUMNS": "200"}
    runner = CliRunner()
    result = runner.invoke(cli, ["privacy", "export", f"tg:{CHAT}"], env=env)
    assert result.exit_code == 0, result.output
    assert TG_TEXT in result.output
    result = runner.invoke(cli, ["privacy", "export", "nobody@example.org"], env=env)
    assert result.exit_code == 2 or isinstance(result.exception, Exception)


@pytest.mark.parametrize("who", ["7312984455x", "telegram:", "@@"])
def test_a_bad_name_for_the_person_changes_nothing(db: Database, who: str) -> None:
    env = {"RAPPORT_DATABASE_URL": db.url, "COLUMNS": "200"}
    result = CliRunner().invoke(cli, ["privacy", "erase", who, "--yes"], env=env)
    assert result.exit_code != 0
