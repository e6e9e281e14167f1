"""IMAP polling against a real Dovecot on loopback, started by the tests.

Dovecot comes from Debian's `dovecot-imapd` (CI installs it in `.ci/run`);
without the binary these tests skip and say so. The server runs from its own
configuration in a temporary directory: plaintext login on 127.0.0.1 only,
a passwd-file with one user, Maildir storage.
"""

from __future__ import annotations

import asyncio
import contextlib
import imaplib
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from rapport.channels.email.imap import REFUSED_KEYWORD, ImapAccount, ImapPoller
from rapport.channels.email.parsing import parse_email
from rapport.crm.database import Database
from rapport.crm.interactions.ingest import ingest
from rapport.crm.models import Interaction
from tests.support.dovecot_server import DOVECOT, USER

pytestmark = pytest.mark.skipif(
    DOVECOT is None,
    reason="IMAP tests need Dovecot (apt-get install dovecot-imapd); the binary is absent",
)

CORPUS = Path(__file__).parent / "email_corpus"


@contextlib.contextmanager
def mailbox(account: ImapAccount) -> Iterator[imaplib.IMAP4]:
    with imaplib.IMAP4(account.host, account.port, timeout=10) as imap:
        imap.login(account.username, account.password)
        imap.select("INBOX")
        yield imap


@pytest.fixture
def account(dovecot: ImapAccount) -> ImapAccount:
    """The Dovecot account with an empty INBOX."""
    with mailbox(dovecot) as imap:
        _, count = imap.select("INBOX")
        if count[0] != b"0":
            imap.store("1:*", "+FLAGS.SILENT", "(\\Deleted)")
            imap.expunge()
    return dovecot


def append(account: ImapAccount, raw: bytes) -> None:
    with mailbox(account) as imap:
        status, _ = imap.append("INBOX", None, None, raw.replace(b"\n", b"\r\n"))
        assert status == "OK"


def flags(account: ImapAccount) -> dict[str, set[str]]:
    """Message-ID header of each mail → its flags."""
    found: dict[str, set[str]] = {}
    with mailbox(account) as imap:
        _, data = imap.fetch("1:*", "(FLAGS BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")
        for item in data:
            if not isinstance(item, tuple):
                continue
            meta, header = item
            message_id = header.decode().split(":", 1)[1].strip()
            found[message_id] = {f.decode() for f in imaplib.ParseFlags(meta)}
    return found


def interactions(db: Database) -> list[Interaction]:
    with db.session() as session:
        return list(session.scalars(select(Interaction).order_by(Interaction.id)))


def test_poll_ingests_then_marks_seen_and_flags_refused_mail(
    db: Database, account: ImapAccount
) -> None:
    for name in ("latin1_quoted_printable.eml", "dsn_bounce.eml", "no_from.eml"):
        append(account, (CORPUS / name).read_bytes())
    poller = ImapPoller(db, account)

    result = poller.poll_once()

    assert (result.ingested, result.duplicates, result.refused) == (2, 0, 1)
    rows = interactions(db)  # the bounce is a mail report, not a message
    assert {r.message_key: r.automated for r in rows} == {
        "<20261117091500.1234@mail.example.de>": False,
    }
    state = flags(account)
    assert "\\Seen" in state["<20261117091500.1234@mail.example.de>"]
    assert "\\Seen" in state["<bounce-1@mx.example.net>"]
    # The refused mail stays unread for a person, marked so we skip it next time.
    assert "\\Seen" not in state["<nofrom@example.org>"]
    assert REFUSED_KEYWORD in state["<nofrom@example.org>"]

    again = poller.poll_once()
    assert (again.ingested, again.duplicates, again.refused) == (0, 0, 0)
    assert len(interactions(db)) == 1


def test_mail_stays_unseen_when_the_database_fails(
    db: Database, account: ImapAccount, tmp_path: Path
) -> None:
    append(account, (CORPUS / "outlook_reply.eml").read_bytes())
    broken = Database(f"sqlite:///{tmp_path / 'unmigrated.db'}")
    try:
        with pytest.raises(Exception, match="no such table"):
            ImapPoller(broken, account).poll_once()
    finally:
        broken.dispose()
    assert "\\Seen" not in flags(account)["<outlook-1@example.org>"]

    result = ImapPoller(db, account).poll_once()  # the next poll, database back
    assert result.ingested == 1
    assert "\\Seen" in flags(account)["<outlook-1@example.org>"]


def test_already_ingested_mail_is_a_duplicate_and_marked_seen(
    db: Database, account: ImapAccount
) -> None:
    raw = (CORPUS / "gmail_reply_with_signature.eml").read_bytes()
    append(account, raw)
    ingest(db, parse_email(raw))  # as if we crashed after commit, before \Seen
    result = ImapPoller(db, account).poll_once()
    assert (result.ingested, result.duplicates) == (0, 1)
    assert len(interactions(db)) == 1
    assert "\\Seen" in flags(account)["<CAreply@mail.gmail.com>"]


async def test_service_polls_until_stopped(db: Database, account: ImapAccount) -> None:
    poller = ImapPoller(db, account, interval=0.2)
    await poller.start()
    try:
        append(account, (CORPUS / "iso2022jp.eml").read_bytes())
        for _ in range(100):
            if interactions(db):
                break
            await asyncio.sleep(0.05)
    finally:
        await poller.stop()
    (row,) = interactions(db)
    assert row.body == "ご注文ありがとうございます。とても満足しています。"


async def test_wrong_password_is_logged_not_fatal(
    account: ImapAccount, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    bad = ImapAccount(account.host, account.port, USER, "hunter2-pw", timeout=5)
    unused = Database(f"sqlite:///{tmp_path / 'unused.db'}")
    poller = ImapPoller(unused, bad, interval=0.05)
    await poller.start()
    for _ in range(100):
        if "IMAP poll failed" in caplog.text:
            break
        await asyncio.sleep(0.05)
    assert poller._task is not None and not poller._task.done()
    await poller.stop()
    unused.dispose()
    assert "IMAP poll failed" in caplog.text
    assert "hunter2-pw" not in caplog.text
