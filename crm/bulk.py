"""Writing many rows at once: the driver's executemany, values converted once per column.

A 100,000-row customer import spends more time in SQLAlchemy turning each
row's dict into parameters (and each timestamp into SQLite's text, one by
one) than in the database. Here the statement is built once, constant values
(the import's timestamp) are converted once, and the rows go to the driver
as plain tuples: SQLite's executemany, PostgreSQL's COPY (into the table, or
into a temporary table an INSERT … ON CONFLICT or UPDATE … FROM then reads).
Ids for new rows are taken in advance, so no per-row RETURNING is needed
(SQLite would run one statement per row for it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, Table, func, select, text
from sqlalchemy.orm import DeclarativeBase

Target = Table | type[DeclarativeBase]
"""A model (`Customer`) or its table: the statements here need only its name and column types."""

CHUNK = 5_000
_MARKS = {"qmark": "?", "format": "%s", "pyformat": "%s"}


def table_of(target: Target) -> Table:
    """The table a model maps (every model maps one table), or the table itself."""
    if isinstance(target, Table):
        return target
    return target.metadata.tables[target.__tablename__]


def converter(conn: Connection, target: Target, column: str) -> Callable[[Any], Any]:
    """What turns a value into the driver's form for this column (a UTC timestamp into
    SQLite's text, a boolean into 0/1), as SQLAlchemy would for each row."""
    column_type = table_of(target).c[column].type
    processor = column_type.dialect_impl(conn.dialect).bind_processor(conn.dialect)
    return processor if processor is not None else _same


def _same(value: Any) -> Any:
    return value


def stored(conn: Connection, target: Target, column: str, value: Any) -> Any:
    """`value` as the driver is given it for this column (a UTC timestamp, a boolean)."""
    return converter(conn, target, column)(value)


def insert_rows(
    conn: Connection,
    target: Target,
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    upsert: tuple[Sequence[str], Sequence[str]] | None = None,
) -> int:
    """INSERT the rows (tuples in `columns` order, values as `stored` gives them).

    `upsert` = (key columns, columns to update): a row whose key exists updates
    those columns instead (ON CONFLICT, on both databases).
    """
    table = table_of(target)
    mark = _MARKS[conn.dialect.paramstyle]
    names = ", ".join(f'"{c}"' for c in columns)
    sql = f'INSERT INTO "{table.name}" ({names}) VALUES ({", ".join([mark] * len(columns))})'
    if upsert is not None:
        keys, changed = upsert
        sets = ", ".join(f'"{c}" = excluded."{c}"' for c in changed)
        sql += f" ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {sets}"
    return _many(conn, sql, rows)


def update_rows(
    conn: Connection,
    target: Target,
    columns: Sequence[str],
    key: str,
    rows: Iterable[Sequence[Any]],
) -> int:
    """UPDATE `columns` of the row with each key: tuples of (*values, key)."""
    table = table_of(target)
    if conn.dialect.name == "postgresql":
        staged = _stage(conn, table, (*columns, key), rows)
        sets = ", ".join(f'"{c}" = s."{c}"' for c in columns)
        conn.exec_driver_sql(
            f'UPDATE "{table.name}" AS t SET {sets} FROM {staged} AS s WHERE t."{key}" = s."{key}"'
        )
        return _drop(conn, staged)
    mark = _MARKS[conn.dialect.paramstyle]
    sets = ", ".join(f'"{c}" = {mark}' for c in columns)
    return _many(conn, f'UPDATE "{table.name}" SET {sets} WHERE "{key}" = {mark}', rows)


def _many(conn: Connection, sql: str, rows: Iterable[Sequence[Any]]) -> int:
    batch: list[Sequence[Any]] = []
    count = 0
    for row in rows:
        batch.append(row)
        if len(batch) == CHUNK:
            conn.exec_driver_sql(sql, batch)
            count += len(batch)
            batch = []
    if batch:
        conn.exec_driver_sql(sql, batch)
        count += len(batch)
    return count


def _copy(
    conn: Connection, name: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]
) -> int:
    """PostgreSQL's COPY, in the caller's transaction: tens of times faster than INSERTs."""
    names = ", ".join(f'"{c}"' for c in columns)
    count = 0
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    with cursor, cursor.copy(f'COPY "{name}" ({names}) FROM STDIN') as copy:
        for row in rows:
            copy.write_row(row)
            count += 1
    return count


_staged = iter(range(1, 1 << 62))


def _stage(conn: Connection, table: Table, columns: Sequence[str], rows: Iterable[Any]) -> str:
    """A temporary table with these columns of `table` (types only), filled by COPY."""
    name = f"_bulk_{table.name}_{next(_staged)}"
    names = ", ".join(f'"{c}"' for c in columns)
    conn.exec_driver_sql(
        f'CREATE TEMPORARY TABLE "{name}" ON COMMIT DROP AS '
        f'SELECT {names} FROM "{table.name}" WITH NO DATA'
    )
    _copy(conn, name, columns, rows)
    return f'"{name}"'


def _drop(conn: Connection, staged: str) -> int:
    count = int(conn.exec_driver_sql(f"SELECT count(*) FROM {staged}").scalar() or 0)
    conn.exec_driver_sql(f"DROP TABLE {staged}")
    return count


def take_ids(conn: Connection, target: Target, n: int) -> list[int]:
    """`n` fresh ids for `table`'s integer key, reserved in the caller's transaction.

    PostgreSQL hands them out from the key's sequence; on SQLite a write
    statement first takes the database's write lock, so the largest id read
    next stays the largest until the caller commits.
    """
    if n <= 0:
        return []
    table = table_of(target)
    key = table.c.id
    if conn.dialect.name == "postgresql":
        query = text(
            f"SELECT nextval(pg_get_serial_sequence('{table.name}', 'id')) "
            "FROM generate_series(1, :n)"
        )
        return sorted(int(v) for v in conn.execute(query, {"n": n}).scalars())
    conn.exec_driver_sql(f'UPDATE "{table.name}" SET id = id WHERE 0')
    start = int(conn.scalar(select(func.coalesce(func.max(key), 0))) or 0) + 1
    return list(range(start, start + n))
