"""Core statements compiled once and run straight on the driver's cursor: the ingest hot path.

Core on the DBAPI cursor, not `Connection.execute`, on purpose: for the few
statements every single message runs (the sender lookup, the activity
UPDATEs) SQLAlchemy's execution context cost ten times the statement itself
(about 50 µs a statement on SQLite and 100 µs on PostgreSQL, against 5 and
17 µs on the cursor, measured with `time.process_time`). What SQLAlchemy
does there that matters is kept: the statement is compiled by SQLAlchemy
(once per database kind and per length of each IN list), parameters and
results go through the columns' own type processors (UTC timestamps,
booleans on SQLite), and a driver error is raised as SQLAlchemy's, with
the connection invalidated on a disconnect, so `is_outage` and the
IntegrityError retry of ingest see what they would have seen.

One set of parameters at a time (several go through SQLAlchemy's
executemany). A statement whose columns have Python-side defaults, which
only SQLAlchemy's execution applies, is run through SQLAlchemy instead
(`fallback`); the INSERTs of `Inserting` name every column, so theirs do not.
The statements run inside the caller's transaction, on its connection.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import Column, Connection, Insert, Select, Table, Update, bindparam, exc, insert
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.compiler import SQLCompiler

_Processor = Callable[[Any], Any] | None
Statement = Select[Any] | Update | Insert


class _Compiled:
    __slots__ = ("binds", "compiled", "fallback", "results")

    def __init__(self, statement: Statement, dialect: Dialect) -> None:
        compiled = statement.compile(dialect=dialect)
        assert isinstance(compiled, SQLCompiler)
        self.compiled = compiled
        self.fallback = bool(compiled.insert_prefetch or compiled.update_prefetch)
        self.binds: dict[str, _Processor] = {
            name: bind.type.dialect_impl(dialect).bind_processor(dialect)
            for name, bind in compiled.binds.items()
        }
        columns = statement.exported_columns
        self.results: list[_Processor] = [
            c.type.dialect_impl(dialect).result_processor(dialect, None) for c in columns
        ]


class Prepared:
    """One Core statement, compiled per database kind on first use, run on the raw cursor."""

    __slots__ = ("_by_dialect", "statement")

    def __init__(self, statement: Statement) -> None:
        self.statement = statement
        self._by_dialect: dict[str, _Compiled] = {}

    def fallback(self, dialect: Dialect) -> bool:
        """Whether this statement needs SQLAlchemy's execution (Python-side column defaults)."""
        return self._compiled(dialect).fallback

    def _compiled(self, dialect: Dialect) -> _Compiled:
        found = self._by_dialect.get(dialect.name)
        if found is None:
            found = self._by_dialect[dialect.name] = _Compiled(self.statement, dialect)
        return found

    def rows(self, conn: Connection, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        """Run with one set of parameters; the result rows (none for an UPDATE)."""
        dialect = conn.dialect
        compiled = self._compiled(dialect)
        if compiled.fallback:
            result = conn.execute(self.statement, dict(params))
            return [tuple(r) for r in result] if result.returns_rows else []
        state = compiled.compiled.construct_expanded_state(params)
        values = dict(state.parameters)
        expanded = state.parameter_expansion
        for name, process in compiled.binds.items():
            if process is None:
                continue
            for key in expanded.get(name, (name,)):
                if key in values and values[key] is not None:
                    values[key] = process(values[key])
        args: Any = (
            tuple(values[k] for k in state.positiontup or ())
            if compiled.compiled.positional
            else values
        )
        raw = conn.connection.dbapi_connection
        assert raw is not None
        cursor = raw.cursor()
        try:
            cursor.execute(state.statement, args)
            fetched = cursor.fetchall() if cursor.description else []
        except dialect.loaded_dbapi.Error as error:
            invalidated = dialect.is_disconnect(error, raw, cursor)
            if invalidated:
                conn.invalidate(error)
            raise exc.DBAPIError.instance(
                state.statement,
                None,
                error,
                dialect.loaded_dbapi.Error,
                hide_parameters=True,
                connection_invalidated=invalidated,
                dialect=dialect,
            ) from error
        finally:
            cursor.close()
        results = compiled.results
        if not fetched or not any(results):
            return [tuple(row) for row in fetched]
        return [
            tuple(v if p is None or v is None else p(v) for p, v in zip(results, row, strict=True))
            for row in fetched
        ]

    def execute(self, conn: Connection, params: Mapping[str, Any]) -> None:
        """Run an UPDATE with one set of parameters."""
        self.rows(conn, params)


class Inserting:
    """INSERT … RETURNING into `table`: one row on the cursor, several as executemany.

    The one-row form names every column in `columns` as a parameter, so no
    Python-side default is left for SQLAlchemy to fill in; the caller gives
    them all (a defaulted one, like `recorded_at`, too).
    """

    __slots__ = ("many", "one")

    def __init__(self, table: Table, columns: list[str], returning: Column[Any]) -> None:
        self.many = insert(table).returning(returning, sort_by_parameter_order=True)
        self.one = Prepared(
            insert(table)
            .values({name: bindparam(name, type_=table.c[name].type) for name in columns})
            .returning(returning)
        )

    def ids(self, conn: Connection, rows: list[dict[str, Any]]) -> list[Any]:
        """The returned column of each row, in the rows' order."""
        if len(rows) == 1:
            return [row[0] for row in self.one.rows(conn, rows[0])]
        return list(conn.execute(self.many, rows).scalars())
