"""Engine, sessions and schema upgrades for SQLite and PostgreSQL alike.

The schema belongs to Alembic (`rapport.migrations.schema.upgrade` runs the
migrations to head); nothing here calls `create_all`, and the core does not
import the migrations.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, cast

from sqlalchemy import CursorResult, Engine, Result, create_engine, event, exc
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from rapport.crm.errors import ConfigurationError


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


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers (reports, the CLI) run while the bot writes; NORMAL
    # sync is durable across application crashes in WAL mode; foreign keys
    # are off by default in SQLite and we rely on them.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
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
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


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

    def dispose(self) -> None:
        self.engine.dispose()
