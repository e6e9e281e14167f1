"""Engine, sessions and schema upgrades for SQLite and PostgreSQL alike.

The schema belongs to Alembic (`rapport.migrations.schema.upgrade` runs the
migrations to head); nothing here calls `create_all`, and the core does not
import the migrations.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, cast

from sqlalchemy import (
    ARRAY,
    BigInteger,
    ColumnElement,
    CursorResult,
    Engine,
    Result,
    Select,
    SQLColumnExpression,
    Update,
    any_,
    bindparam,
    create_engine,
    event,
    exc,
)
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from rapport.crm.errors import ConfigurationError

log = logging.getLogger(__name__)


def normalise_url(url: str) -> str:
    """Use psycopg 3 for PostgreSQL whichever spelling the user wrote."""
    if url.startswith("postgresql://"):
        return "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return url


def rowcount(result: Result[Any]) -> int:
    """How many rows an UPDATE or DELETE run through `Session.execute` matched.

    The session types every result as a plain `Result`; for DML it is the
    driver's `CursorResult`, which has the count.
    """
    return cast(CursorResult[Any], result).rowcount


def among(dialect: str, key: SQLColumnExpression[int], ids: Sequence[int]) -> ColumnElement[bool]:
    """`key IN ids`; on PostgreSQL `key = ANY(array)`: one parameter, not one per id.

    A claim names hundreds of ids. As an IN list each one is a parameter
    that SQLAlchemy expands and the driver parses on every call, which cost
    more than the database's own work; SQLite has no arrays, and its IN
    list is cheap.
    """
    if dialect == "postgresql":
        return key == any_(bindparam("among_ids", list(ids), type_=ARRAY(BigInteger), unique=True))
    return key.in_(ids)


def one_of(column: ColumnElement[Any], name: str, as_array: bool) -> ColumnElement[bool]:
    """`among` for a statement built once: `column IN (:name)` as an expanding list, or
    (`as_array`, PostgreSQL) `column = ANY(:name)`, one array parameter.

    An IN list's SQL text changes with its length, so a statement run with lists
    of varying length (a batch's senders, a step's deliveries) was planned afresh
    nearly every time; one text whatever the length is prepared once on
    PostgreSQL (ingest's batches of 100: 4,200 -> 4,940-5,080 msg/s, 2026-12-04).
    """
    if as_array:
        return column == any_(bindparam(name, type_=ARRAY(column.type)))
    return column.in_(bindparam(name, expanding=True))


def claim_rows(
    session: Session, due: Select[int], claim: Update, key: SQLColumnExpression[int]
) -> list[int]:
    """Run `claim` (an UPDATE) on the rows `due` selects by `key`; the keys it claimed, sorted.

    The one way a queue (deliveries, webhook deliveries) hands rows to one of
    several workers. PostgreSQL: the due rows are selected `FOR UPDATE SKIP
    LOCKED`, so workers claiming at once take disjoint batches without
    waiting on each other, and the UPDATE runs on those. SQLite has one
    writer at a time: one `UPDATE … WHERE key IN (due) … RETURNING` claims
    atomically. `claim` may carry its own WHERE (a status re-checked): only
    the rows it matched are returned. No ORM state is synchronised (the
    claimed rows are read afterwards, not through loaded objects).
    """
    if session.get_bind().dialect.name == "postgresql":
        ids = list(session.scalars(due.with_for_update(skip_locked=True)))
        if not ids:
            return []
        statement = claim.where(among("postgresql", key, ids))
    else:
        statement = claim.where(key.in_(due.scalar_subquery()))
    claimed = session.scalars(
        statement.returning(key), execution_options={"synchronize_session": False}
    )
    return sorted(claimed)


WAL_AUTOCHECKPOINT_PAGES = 10_000


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers (reports, the CLI) run while the bot writes; NORMAL
    # sync is durable across application crashes in WAL mode; foreign keys
    # are off by default in SQLite and we rely on them.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    # Checkpoint the log into the file every ~40 MB, not SQLite's default ~4 MB:
    # ingest rewrites the same index pages batch after batch, and a rarer
    # checkpoint writes each of them once (batches of 100: +7-11 %).
    cursor.execute(f"PRAGMA wal_autocheckpoint={WAL_AUTOCHECKPOINT_PAGES}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    # Deleted and overwritten content is zeroed, not left in free pages (erasure).
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.close()


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine with the pragmas and pool settings Rapport expects."""
    url = normalise_url(url)
    try:
        parsed = make_url(url)
    except Exception as exc:  # sqlalchemy raises ArgumentError with a terse text
        raise ConfigurationError(f"cannot parse database URL {url!r}: {exc}") from None
    # A statement's parameters are customers' messages and addresses: keep them out of
    # the text of database errors, which end up in logs (log.exception) and tracebacks.
    kwargs.setdefault("hide_parameters", True)
    if parsed.get_backend_name() == "sqlite":
        engine = create_engine(url, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    engine = create_engine(url, **kwargs)
    if not kwargs.get("pool_pre_ping"):
        _ping_when_idle(engine)
    return engine


IDLE_PING_SECONDS = 1.0
"""A pooled connection idle this long is pinged before use; a busier one is not."""


def _ping_when_idle(engine: Engine) -> None:
    """Ping a connection before use only if it sat idle: a server restart or an idle
    timeout can have cut it meanwhile.

    SQLAlchemy's `pool_pre_ping` pings at every checkout: one more round trip
    for each message stored, about a tenth of a single message's time on
    PostgreSQL. A connection handed back within the last second was working
    then; if the server went down since, the statement fails as an outage,
    which every caller already survives (it retries, or answers "try later").
    A failed ping makes the pool connect afresh (`DisconnectionError`).
    """

    def stamp(_dbapi_connection: Any, record: Any, *_: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    def ping(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.get("idle_since")
        if idle_since is not None and time.monotonic() - idle_since < IDLE_PING_SECONDS:
            return
        try:
            alive = engine.dialect.do_ping(dbapi_connection)
        except Exception as error:
            raise exc.DisconnectionError("the pooled connection is gone") from error
        if not alive:
            raise exc.DisconnectionError("the pooled connection is gone")

    event.listen(engine, "connect", stamp)
    event.listen(engine, "checkin", stamp)
    event.listen(engine, "checkout", ping)


def is_outage(error: BaseException) -> bool:
    """The database is away (restarting, unreachable, locked): the same work may pass later.

    Not for constraint violations or bad SQL, which fail the same way every time.
    """
    if isinstance(error, exc.DBAPIError) and error.connection_invalidated:
        return True
    return isinstance(error, exc.OperationalError | exc.InterfaceError | exc.TimeoutError)


class Database:
    """One database: its engine and a factory of transactional sessions."""

    def __init__(self, url: str, **engine_kwargs: Any) -> None:
        self.url = normalise_url(url)
        self.engine = make_engine(self.url, **engine_kwargs)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session whose work commits on normal exit and rolls back on error."""
        with self._sessions.begin() as session:
            yield session

    def session(self) -> Session:
        """A plain session for read-only use; the caller closes it."""
        return self._sessions()

    def scrub(self, tables: Sequence[str] = ()) -> bool:
        """After an erase: leave no old copy of rewritten rows where the database can reach.

        SQLite: `secure_delete` (always on) zeroed the freed content; the
        write-ahead log still holds the old pages, so it is checkpointed into
        the file and truncated, and VACUUM rebuilds the file so no free page
        keeps a byte of them. Another process reading at that moment (a
        running `rapport run` between two statements) can hold the checkpoint
        back; the next erase or SQLite's own checkpoint finishes it.

        PostgreSQL: VACUUM of `tables` removes the dead row versions from the
        tables' pages, so the text is gone from live tables; what VACUUM does
        not reach (the server's WAL archive, base backups, replicas' lag) is
        described in docs/privacy.md.

        Returns False (and logs why) when it could not run now, e.g. another
        process held the SQLite file for longer than the busy timeout.
        """
        try:
            with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                if self.dialect == "sqlite":
                    conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
                    conn.exec_driver_sql("VACUUM")
                    conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
                elif self.dialect == "postgresql":
                    for name in tables:
                        conn.exec_driver_sql(f'VACUUM "{name}"')  # names from the code, not users
        except exc.OperationalError as error:
            log.warning("database not scrubbed after an erase: %s", type(error.orig).__name__)
            return False
        return True

    def dispose(self) -> None:
        self.engine.dispose()
