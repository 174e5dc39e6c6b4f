"""The substring indexes the searches run on (see `search`), for both databases.

SQLite: an FTS5 table with the trigram tokenizer per searched table
(`address_fts`, …), holding no copy of the text (external content) and kept
current by triggers, so bulk writes of the sync engine are indexed too.
PostgreSQL: a GIN index with pg_trgm's `gin_trgm_ops`, which serves
`LIKE '%…%'` for terms of three characters and more. A number column is indexed
by its digits (`digits`), not as itself: pg_trgm also serves `=`, and
PostgreSQL's estimate for that is far off for numbers (their few trigrams are in
almost every row). It took such an index for the journal's
`remote_e164 = ANY(…)` instead of the B-tree: 1.4 s at 10,000 calls.

GIN gathers new entries in a pending list, which every search reads in full
until a VACUUM merges it: after a 100,000-entry sync a phonebook search took
150 ms instead of 6. Tables written row by row take new rows at once
(`fastupdate = off`); the phonebook, which the sync engine writes in bulk, keeps
the list (without it a 100,000-entry sync took twice as long) and the sync
merges it when it is done (`merge_pending`).

The schema of tests (`db.create_all`) gets them through `after_create` events,
databases through the migration `search_index`. Alembic does not know these
objects; `include_name` keeps `db check` from taking them for strays. A SQLite
migration that rebuilds one of these tables (batch mode) drops its triggers:
it must call `create(bind, table)` again afterwards.
"""
from __future__ import annotations

from sqlalchemy import event, func, literal_column, text

from .models import Address, Call, ContactPerson, PhonebookEntry

# Table → its searched columns (the FTS5 columns; PostgreSQL indexes each).
SEARCHED = {
    Address.__tablename__: ("search_text",),
    ContactPerson.__tablename__: ("search_text",),
    PhonebookEntry.__tablename__: ("search_text",),
    Call.__tablename__: ("remote_e164",),
}
# Written in bulk by the sync engine: its PostgreSQL index keeps GIN's pending list (`merge_pending`)
BULK_WRITTEN = {PhonebookEntry.__tablename__}
# Columns of numbers (E.164): PostgreSQL indexes their digits, see `digits`
NUMBER_COLUMNS = {(Call.__tablename__, "remote_e164")}


def digits(column):
    """SQL: the digits of an E.164 number column, the expression its PostgreSQL index holds (a search
    of numbers must ask this expression, `LIKE` on the column itself finds no index)."""
    return func.ltrim(column, literal_column("'+'"))


def _indexed(table: str, column: str) -> tuple[str, str]:
    """The name and the indexed expression of `table.column`'s pg_trgm index."""
    if (table, column) in NUMBER_COLUMNS:
        expression = digits(literal_column(column)).compile(compile_kwargs={"literal_binds": True})
        return f"ix_{table}_{column}_digits_trgm", str(expression)
    return f"ix_{table}_{column}_trgm", column


def _sqlite_statements(table: str, columns: tuple[str, ...]) -> list[str]:
    names = ", ".join(columns)
    new = ", ".join(f"new.{column}" for column in columns)
    old = ", ".join(f"old.{column}" for column in columns)
    fts = f"{table}_fts"
    remove = f"INSERT INTO {fts}({fts}, rowid, {names}) VALUES ('delete', old.id, {old});"
    add = f"INSERT INTO {fts}(rowid, {names}) VALUES (new.id, {new});"
    return [
        f"CREATE VIRTUAL TABLE IF NOT EXISTS {fts} USING fts5({names}, content='{table}', content_rowid='id', "
        f"tokenize='trigram')",
        f"CREATE TRIGGER IF NOT EXISTS {fts}_insert AFTER INSERT ON \"{table}\" BEGIN {add} END",
        f"CREATE TRIGGER IF NOT EXISTS {fts}_delete AFTER DELETE ON \"{table}\" BEGIN {remove} END",
        f"CREATE TRIGGER IF NOT EXISTS {fts}_update AFTER UPDATE OF {names} ON \"{table}\" BEGIN {remove} {add} END",
        f"INSERT INTO {fts}({fts}) VALUES ('rebuild')",
    ]


def _postgresql_statements(table: str, columns: tuple[str, ...]) -> list[str]:
    storage = "" if table in BULK_WRITTEN else " WITH (fastupdate = off)"
    return ["CREATE EXTENSION IF NOT EXISTS pg_trgm"] + [
        f"CREATE INDEX IF NOT EXISTS {name} ON \"{table}\" USING gin (({expression}) gin_trgm_ops){storage}"
        for name, expression in (_indexed(table, column) for column in columns)
    ]


def merge_pending(connection, table: str) -> None:
    """PostgreSQL: merge the pending lists of `table`'s search indexes into them (after bulk writes)."""
    if connection.dialect.name == "postgresql":
        for column in SEARCHED[table]:
            connection.execute(text("SELECT gin_clean_pending_list(CAST(:index AS regclass))"),
                               {"index": _indexed(table, column)[0]})


def create(bind, table: str | None = None) -> None:
    """Create the index of `table` (default: every searched table) and fill it from the rows there."""
    dialect = bind.dialect.name
    for name, columns in SEARCHED.items():
        if table not in (None, name):
            continue
        if dialect == "sqlite":
            statements = _sqlite_statements(name, columns)
        elif dialect == "postgresql":
            statements = _postgresql_statements(name, columns)
        else:
            statements = []
        for statement in statements:
            bind.execute(text(statement))


def drop(bind) -> None:
    """Remove every search index (for the migration's downgrade)."""
    for name, columns in SEARCHED.items():
        if bind.dialect.name == "sqlite":
            for suffix in ("insert", "delete", "update"):
                bind.execute(text(f"DROP TRIGGER IF EXISTS {name}_fts_{suffix}"))
            bind.execute(text(f"DROP TABLE IF EXISTS {name}_fts"))
        elif bind.dialect.name == "postgresql":
            for column in columns:
                bind.execute(text(f"DROP INDEX IF EXISTS {_indexed(name, column)[0]}"))


def include_name(name, type_, _parent_names) -> bool:
    """Alembic's filter: the search index objects are not part of the models' metadata."""
    if type_ == "table" and name and "_fts" in name:
        return False
    if type_ == "index" and name and name.endswith("_trgm"):
        return False
    return True


def _after_create(table, connection, **_kw) -> None:
    create(connection, table.name)


for _model in (Address, ContactPerson, PhonebookEntry, Call):
    event.listen(_model.__table__, "after_create", _after_create)
