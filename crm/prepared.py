"""Core statements compiled once and run straight on the driver's cursor: the hot paths.

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

A batch goes the same way (issue #22): an UPDATE's parameter sets as one
executemany on the cursor, an INSERT … RETURNING one execution per row
(`Prepared.returning_many`), each parameter set processed as for one. A
statement whose columns have Python-side defaults, which
only SQLAlchemy's execution applies, is run through SQLAlchemy instead
(`fallback`); the INSERTs of `Inserting` name every column, so theirs do not.
The statements run inside the caller's transaction, on its connection.
The dispatcher records each step's sends the same way
(`rapport.crm.dispatch.outcomes`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import Column, Connection, Insert, Select, Table, Update, bindparam, exc, insert
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.compiler import SQLCompiler

_Processor = Callable[[Any], Any] | None
Statement = Select[Any] | Update | Insert


class _Compiled:
    __slots__ = ("binds", "compiled", "fallback", "fixed", "results", "slots")

    def __init__(self, statement: Statement, dialect: Dialect) -> None:
        compiled = statement.compile(dialect=dialect)
        assert isinstance(compiled, SQLCompiler)
        self.compiled = compiled
        self.fallback = bool(compiled.insert_prefetch or compiled.update_prefetch)
        self.binds: dict[str, _Processor] = {
            name: bind.type.dialect_impl(dialect).bind_processor(dialect)
            for name, bind in compiled.binds.items()
        }
        # No IN list to expand: the SQL text is fixed and each parameter set only
        # needs its values (`Prepared._args`), the path a batch's rows take.
        self.fixed = not (
            compiled.post_compile_params
            or compiled.literal_execute_params
            or compiled.escaped_bind_names
        )
        # What `construct_params` looks up for each bind on every call, looked up once:
        # its name, the key a caller passes, its type processor, the bind itself.
        self.slots = tuple(
            (name, bind.key, self.binds.get(name), bind)
            for bind, name in compiled.bind_names.items()
        )
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

    def _args(self, compiled: _Compiled, params: Mapping[str, Any]) -> tuple[str, Any]:
        """The SQL text and the driver's parameters, each through its column's type processor."""
        if compiled.fixed:
            values = _values(compiled, params)
            if compiled.compiled.positional:
                return compiled.compiled.string, tuple(
                    values[k] for k in compiled.compiled.positiontup or ()
                )
            return compiled.compiled.string, values
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
        return state.statement, args

    def rows(self, conn: Connection, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        """Run with one set of parameters; the result rows (none for an UPDATE)."""
        compiled = self._compiled(conn.dialect)
        if compiled.fallback:
            result = conn.execute(self.statement, dict(params))
            return [tuple(r) for r in result] if result.returns_rows else []
        sql, args = self._args(compiled, params)

        def run(cursor: Any) -> list[Any]:
            cursor.execute(sql, args)
            return cursor.fetchall() if cursor.description else []

        return self._processed(compiled, _on_cursor(conn, sql, run))

    def execute(self, conn: Connection, params: Mapping[str, Any]) -> None:
        """Run an UPDATE with one set of parameters."""
        self.rows(conn, params)

    def execute_many(self, conn: Connection, params: Sequence[Mapping[str, Any]]) -> None:
        """Run an UPDATE (no IN lists) once per set of parameters, as one executemany.

        For a batch this is what `Connection.execute(statement, list)` did, without
        SQLAlchemy's per-row execution context (about a third of a batch's storage).
        """
        if not params:
            return
        compiled = self._compiled(conn.dialect)
        if compiled.fallback:
            conn.execute(self.statement, [dict(p) for p in params])
            return
        prepared = [self._args(compiled, p) for p in params]
        sql = prepared[0][0]

        def run(cursor: Any) -> list[Any]:
            cursor.executemany(sql, [args for _, args in prepared])
            return []

        _on_cursor(conn, sql, run)

    def returning_many(
        self, conn: Connection, params: Sequence[Mapping[str, Any]]
    ) -> list[tuple[Any, ...]] | None:
        """Each parameter set's RETURNING row, in order; None where this driver cannot.

        One execution per row, so the order is the rows' order by construction (a
        multi-row VALUES … RETURNING promises no order): on SQLite a loop on the
        cursor, each row a few µs in the library; on psycopg 3 its executemany
        with `returning=True`, pipelined (one round trip, not one per row).
        """
        dialect = conn.dialect
        compiled = self._compiled(dialect)
        if compiled.fallback or dialect.driver not in ("pysqlite", "psycopg"):
            return None
        prepared = [self._args(compiled, p) for p in params]
        sql = prepared[0][0]

        def run(cursor: Any) -> list[Any]:
            if dialect.driver == "pysqlite":
                fetched = []
                for _, args in prepared:
                    cursor.execute(sql, args)
                    fetched.extend(cursor.fetchall())
                return fetched
            cursor.executemany(sql, [args for _, args in prepared], returning=True)
            fetched = list(cursor.fetchall())
            while cursor.nextset():
                fetched.extend(cursor.fetchall())
            return fetched

        rows = self._processed(compiled, _on_cursor(conn, sql, run))
        if len(rows) != len(params):  # never expected: refuse rather than mis-assign ids
            raise exc.InvalidRequestError(f"{len(params)} rows inserted, {len(rows)} returned")
        return rows

    @staticmethod
    def _processed(compiled: _Compiled, fetched: list[Any]) -> list[tuple[Any, ...]]:
        results = compiled.results
        if not fetched or not any(results):
            return [tuple(row) for row in fetched]
        return [
            tuple(v if p is None or v is None else p(v) for p, v in zip(results, row, strict=True))
            for row in fetched
        ]


def _values(compiled: _Compiled, params: Mapping[str, Any]) -> dict[str, Any]:
    """The driver's values by bind name, each through its type processor.

    `SQLCompiler.construct_params` as it behaves for a statement with no IN
    list to expand and no escaped names (`_Compiled.fixed`), without its
    per-call lookups: for a batch of rows that was a sixth of the storage.
    """
    values: dict[str, Any] = {}
    for name, key, process, bind in compiled.slots:
        if key in params:
            value = params[key]
        elif name in params:
            value = params[name]
        elif bind.required:
            raise exc.InvalidRequestError(f"A value is required for bind parameter {key!r}")
        else:
            value = bind.effective_value if bind.callable else bind.value
        values[name] = value if process is None or value is None else process(value)
    return values


def _on_cursor(conn: Connection, sql: str, run: Callable[[Any], list[Any]]) -> list[Any]:
    """`run` on a fresh cursor of the connection's driver, its errors raised as SQLAlchemy's."""
    dialect = conn.dialect
    raw = conn.connection.dbapi_connection
    assert raw is not None
    cursor = raw.cursor()
    try:
        return run(cursor)
    except dialect.loaded_dbapi.Error as error:
        invalidated = dialect.is_disconnect(error, raw, cursor)
        if invalidated:
            conn.invalidate(error)
        raise exc.DBAPIError.instance(
            sql,
            None,
            error,
            dialect.loaded_dbapi.Error,
            hide_parameters=True,
            connection_invalidated=invalidated,
            dialect=dialect,
        ) from error
    finally:
        cursor.close()


def naming(table: Table, columns: Sequence[str]) -> Insert:
    """An INSERT into `table` naming each of `columns` as a parameter of the same name.

    No Python-side default is left for SQLAlchemy's execution to fill in, so
    the statement runs on the cursor (not `fallback`); the caller gives every
    column, a defaulted one like `recorded_at` too.
    """
    return insert(table).values(
        {name: bindparam(name, type_=table.c[name].type) for name in columns}
    )


class Inserting:
    """INSERT … RETURNING into `table` on the cursor, the ids in the rows' order.

    The one-row form names every column in `columns` as a parameter, so no
    Python-side default is left for SQLAlchemy to fill in; the caller gives
    them all (a defaulted one, like `recorded_at`, too).
    """

    __slots__ = ("many", "one")

    def __init__(self, table: Table, columns: list[str], returning: Column[Any]) -> None:
        self.many = insert(table).returning(returning, sort_by_parameter_order=True)
        self.one = Prepared(naming(table, columns).returning(returning))

    def ids(self, conn: Connection, rows: list[dict[str, Any]]) -> list[Any]:
        """The returned column of each row, in the rows' order."""
        if len(rows) == 1:
            return [row[0] for row in self.one.rows(conn, rows[0])]
        if not rows:
            return []
        returned = self.one.returning_many(conn, rows)
        if returned is not None:
            return [row[0] for row in returned]
        return list(conn.execute(self.many, rows).scalars())
