"""PostgreSQL bulk writes with COPY (psycopg 3), in the transaction of a SQLAlchemy connection.

Rows are dicts of column name → value, all with the same keys; the columns
written are the keys of the first row, so a column added where the rows are
built is written without a change here. Values are converted by the column
types' bind processors of the dialect, exactly as for an ORM or Core INSERT
(JSON columns become the same JSON text).
"""
from __future__ import annotations

from itertools import chain
from typing import Any, Callable, Iterable, Iterator

from sqlalchemy import ARRAY, Column, Connection, Table, any_, bindparam, delete, text


def available(connection: Connection) -> bool:
    """Whether this connection can COPY: PostgreSQL through psycopg 3."""
    return connection.dialect.name == "postgresql" and connection.dialect.driver == "psycopg"


def analyze(connection: Connection, *tables: Table) -> None:
    """Refresh the planner's statistics of `tables` (within the transaction: it sees the rows just written)."""
    connection.exec_driver_sql("ANALYZE " + ", ".join(connection.dialect.identifier_preparer.format_table(table)
                                                     for table in tables))


def reserve_ids(connection: Connection, table: Table, count: int) -> list[int]:
    """`count` new values of the sequence behind the table's primary key, ascending, in one query."""
    if count <= 0:
        return []
    (key,) = table.primary_key.columns
    return sorted(connection.execute(text(
        "SELECT nextval(sequence.name::regclass) FROM (SELECT pg_get_serial_sequence(:table, :key) AS name) "
        "AS sequence CROSS JOIN generate_series(1, :count)"),
        {"table": table.name, "key": key.name, "count": count}).scalars())


def insert(connection: Connection, table: Table, rows: Iterable[dict]) -> int:
    """COPY the rows into `table`; returns how many."""
    peeked = _peek(rows)
    if peeked is None:
        return 0
    columns, rows = peeked
    return _copy(connection, table, connection.dialect.identifier_preparer.quote(table.name), columns, rows)


def update(connection: Connection, table: Table, rows: Iterable[dict], key: str = "id") -> int:
    """Set the columns of the rows (found by `key`) to the rows' values: COPY into a temporary table,
    then one UPDATE … FROM. Returns how many rows were copied."""
    peeked = _peek(rows)
    if peeked is None:
        return 0
    columns, rows = peeked
    quote = connection.dialect.identifier_preparer.quote
    temporary, names = quote(f"copy_{table.name}"), ", ".join(map(quote, columns))
    # Dropped below; ON COMMIT DROP in case a failure leaves the transaction to the caller's rollback
    connection.exec_driver_sql(f"CREATE TEMPORARY TABLE {temporary} ON COMMIT DROP AS "
                               f"SELECT {names} FROM {quote(table.name)} WITH NO DATA")
    count = _copy(connection, table, temporary, columns, rows)
    assignments = ", ".join(f"{quote(name)} = source.{quote(name)}" for name in columns if name != key)
    connection.exec_driver_sql(f"UPDATE {quote(table.name)} AS target SET {assignments} FROM {temporary} AS source "
                               f"WHERE target.{quote(key)} = source.{quote(key)}")
    connection.exec_driver_sql(f"DROP TABLE {temporary}")
    return count


def delete_in(connection: Connection, column: Column, values: list) -> None:
    """Delete the rows whose `column` is one of `values`, in one statement (an array parameter)."""
    if values:
        connection.execute(delete(column.table).where(
            column == any_(bindparam("values", values, type_=ARRAY(column.type)))))


def _copy(connection: Connection, table: Table, target: str, columns: list[str], rows: Iterable[dict]) -> int:
    """COPY the rows' values of `columns` (converted as the types of `table` convert them) into `target` (quoted)."""
    dialect = connection.dialect
    converters = [(index, convert) for index, name in enumerate(columns)
                  if (convert := _converter(table.c[name], dialect)) is not None]
    statement = f"COPY {target} ({', '.join(map(dialect.identifier_preparer.quote, columns))}) FROM STDIN"
    count = 0
    driver = connection.connection.driver_connection
    with driver.cursor() as cursor, cursor.copy(statement) as copy:
        for row in rows:
            values = [row[name] for name in columns]
            for index, convert in converters:
                values[index] = convert(values[index])
            copy.write_row(values)
            count += 1
    return count


def _converter(column: Column, dialect) -> Callable[[Any], Any] | None:
    """The column type's bind processor for this dialect (None: the value is passed as it is)."""
    return column.type.dialect_impl(dialect).bind_processor(dialect)


def _peek(rows: Iterable[dict]) -> tuple[list[str], Iterator[dict]] | None:
    """The columns (keys of the first row) and all rows again; None without rows."""
    rows = iter(rows)
    first = next(rows, None)
    if first is None:
        return None
    return list(first), chain([first], rows)
