"""Hostile input at the two doors anyone can knock on: the CLI and inbound SMTP (issue 20).

Hypothesis drives `rapport` commands (in process, through `main`, as the
console script runs them) with arbitrary words, and raw SMTP sessions with
arbitrary commands and payloads. Whatever comes in: never a traceback to the
user, never a malformed SMTP reply, never a half-written row (a refused
command changes nothing; a session stores at most what it was told was
accepted, and every stored message has its customer and identity).
Examples are bounded so each test takes a few seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import socket
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select, text

from rapport.bot.cli import main
from rapport.channels.email.inbound_smtp import InboundSmtpService
from rapport.crm.database import Database
from rapport.crm.models import Base
from rapport.migrations.schema import open_database
from tests.support.smtp_raw import REPLY_LINE

FAST = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

# --- the CLI -----------------------------------------------------------------------------

words = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["", "-1", "0", "1", "99999999999999999999", "--yes", "{",
                     '{"all": []}', '{"field": "tag", "op": "=", "value": "x"}', "a@b",
                     "telegram:", "tg:12", "ann@example.com", "x" * 500, "\x00", "\u202e"]),
)  # fmt: skip
commands = st.one_of(
    st.tuples(st.just("ingest"), st.just("--channel"), words, st.just("--from"), words,
              st.just("--text"), words),
    st.tuples(st.just("customers"), st.just("show"), words),
    st.tuples(st.just("customers"), st.just("tag"), words, words),
    st.tuples(st.just("segments"), st.just("create"), words, st.just("--rule"), words),
    st.tuples(st.just("privacy"), st.just("export"), words),
    st.tuples(st.just("staff"), st.just("add"), st.just("--name"), words, st.just("--role"),
              words),
    st.tuples(st.just("campaigns"), st.just("preview"), words),
    st.lists(words, max_size=4).map(tuple),
)  # fmt: skip


@contextlib.contextmanager
def _environment(**values: str) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _run_main(args: tuple[str, ...]) -> tuple[int, str]:
    """`rapport <args>` as the console script runs it: exit code and stderr."""
    err, out = io.StringIO(), io.StringIO()
    argv = sys.argv
    sys.argv = ["rapport", *args]
    code = 0
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
            main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        sys.argv = argv
    return code, err.getvalue()


def _row_counts(db: Database) -> dict[str, int]:
    with db.engine.connect() as conn:
        return {
            t.name: conn.execute(select(func.count()).select_from(t)).scalar_one()
            for t in Base.metadata.sorted_tables
            if t.name != "audit_events"  # reads are audited: a refused read may leave one
        }


@pytest.fixture(scope="module")
def cli_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    path = tmp_path_factory.mktemp("fuzz") / "r.db"
    db = open_database(f"sqlite:///{path}")
    yield db
    db.dispose()


@FAST
@given(args=commands)
def test_cli_never_shows_a_traceback_and_a_refusal_changes_nothing(
    cli_db: Database, args: tuple[str, ...]
) -> None:
    if any("\x00" in a for a in args):
        args = tuple(a.replace("\x00", "") for a in args)  # the OS cannot pass NUL in argv
    before = _row_counts(cli_db)
    with _environment(RAPPORT_DATABASE_URL=cli_db.url, COLUMNS="120", RAPPORT_LOG_LEVEL="WARNING"):
        code, err = _run_main(args)
    assert "Traceback" not in err, (args, err)
    assert code in (0, 1, 2), (args, code, err)
    if code != 0:
        assert _row_counts(cli_db) == before, args
        if err.startswith("rapport: "):
            assert len(err.strip().splitlines()) == 1, (args, err)


# --- raw SMTP sessions ---------------------------------------------------------------------

verbs = st.sampled_from([b"HELO", b"EHLO", b"MAIL FROM:", b"RCPT TO:", b"DATA", b"RSET",
                         b"NOOP", b"VRFY", b"HELP", b"STARTTLS", b"AUTH PLAIN", b"BDAT 5",
                         b"XYZZY", b""])  # fmt: skip
arguments = st.one_of(
    st.binary(max_size=60).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b"")),
    st.sampled_from([b"<a@b.example>", b"<>", b"<zo\xc3\xab@b\xc3\xbccher.example>",
                     b"client.test", b"<x@y> SIZE=999999999999", b"<\xe2\x80\x93@x>"]),
)  # fmt: skip
lines = st.lists(st.tuples(verbs, arguments), max_size=6)
payloads = st.one_of(
    st.binary(max_size=300),
    st.builds(
        lambda sender, body, date: (
            b"From: " + sender + b"\r\nDate: " + date + b"\r\nMessage-ID: <m@x>\r\n\r\n" + body
        ),
        st.sampled_from([b"ann@example.org", b"zo\xc3\xab@b\xc3\xbc\xe2\x80\x93cher", b"<>",
                         b"=?utf-8?q?=E2=80=93?= <x@y.example>", b""]),
        st.binary(max_size=200),
        st.sampled_from([b"Mon, 1 Jan 1 00:00:00 +0000", b"garbage", b"",
                         b"Fri, 31 Dec 9999 23:59:59 +1400"]),
    ),
)  # fmt: skip


class _Server:
    """The inbound SMTP server on its own event loop thread, for synchronous clients."""

    def __init__(self, db: Database) -> None:
        self.loop = asyncio.new_event_loop()
        self.service = InboundSmtpService(db, "127.0.0.1", 0, max_bytes=100_000, timeout=5)
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def __enter__(self) -> int:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self.service.start(), self.loop).result(30)
        return self.service.bound_port

    def __exit__(self, *_exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self.service.stop(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


def _reply(stream: io.BufferedReader) -> int:
    """One reply; asserts every line is well formed; 0 when the connection closed."""
    code = None
    while True:
        line = stream.readline(1024)
        if not line:
            assert code is None, "connection closed inside a reply"
            return 0
        assert REPLY_LINE.fullmatch(line), line
        assert code is None or int(line[:3]) == code, line
        code = int(line[:3])
        if line[3:4] != b"-":
            return code


def _session(port: int, commands: list[tuple[bytes, bytes]], payload: bytes) -> int:
    """Returns how many messages the server said it accepted (250 after DATA)."""
    accepted = 0
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        stream = sock.makefile("rb")
        if _reply(stream) == 0:
            return 0
        for verb, argument in [*commands, (b"MAIL FROM:", b"<x@y.example>"),
                               (b"RCPT TO:", b"<shop@example.com>"), (b"DATA", b"")]:  # fmt: skip
            sock.sendall(verb + (b" " if verb and argument and not verb.endswith(b":") else b"")
                          + argument + b"\r\n")  # fmt: skip
            code = _reply(stream)
            if code == 0:
                return accepted
            if verb == b"DATA" and code == 354:
                body = payload.replace(b"\r\n.", b"\r\n..")
                sock.sendall(body + b"\r\n.\r\n")
                code = _reply(stream)
                if code == 250:
                    accepted += 1
        with contextlib.suppress(OSError):
            sock.sendall(b"QUIT\r\n")
            _reply(stream)
    return accepted


def _stored(db: Database) -> int:
    with db.engine.connect() as conn:
        return int(
            conn.execute(
                text(
                    "SELECT (SELECT count(*) FROM interactions)"
                    " + (SELECT count(*) FROM mail_reports)"
                )
            ).scalar_one()
        )


def _orphans(db: Database) -> int:
    with db.engine.connect() as conn:
        return int(
            conn.execute(
                text(
                    "SELECT count(*) FROM interactions i WHERE NOT EXISTS "
                    "(SELECT 1 FROM identities d WHERE d.customer_id = i.customer_id) "
                    "OR i.message_key IS NULL OR i.sent_at IS NULL"
                )
            ).scalar_one()
        )


@pytest.fixture(scope="module")
def smtp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Database, int]]:
    path: Path = tmp_path_factory.mktemp("smtp-fuzz") / "r.db"
    db = open_database(f"sqlite:///{path}")
    with _Server(db) as port:
        yield db, port
    db.dispose()


@FAST
@given(commands=lines, payload=payloads)
def test_smtp_sessions_get_valid_replies_and_store_only_what_they_were_told(
    smtp: tuple[Database, int], commands: list[tuple[bytes, bytes]], payload: bytes
) -> None:
    db, port = smtp
    before = _stored(db)
    accepted = _session(port, commands, payload)
    assert _stored(db) - before <= accepted
    assert _orphans(db) == 0
