"""Which numbers the journal has: kept on each number (`PhoneNumber.in_journal`) by the database.

The journal's search by name looks for calls from the numbers of the matching
addresses, contact persons and phonebook entries. A common name matches thousands
of owners with 8,000 numbers in a 100,000-address book, of which a few dozen are
in the journal; checking each against the calls cost 40–55 ms at 100,000 calls.
So every number knows whether the journal has a call with it, and a partial
index per owner key holds only those (`ix_phone_number_journal_*`): the search
reads a few dozen index entries per owner instead of every number.

Triggers keep the flag whichever way a row is written (the webhook, the sync
engine's bulk writes, the ORM): a call with a new number marks its numbers, a
number written or changed looks for a call with it. A number stays marked when its
calls are deleted; the journal's query asks the calls themselves, so that only
costs a look. The schema of tests (`db.create_all`) gets the triggers through
`after_create` events, databases through the migration `journal_numbers`.
"""
from __future__ import annotations

from sqlalchemy import event, text

from .models import Call, PhoneNumber

# "call" is a keyword in PostgreSQL: always quoted
_HAS_CALL = 'EXISTS (SELECT 1 FROM "call" WHERE remote_e164 = new.e164)'
_CALL_MARKS = "UPDATE phone_number SET in_journal = {true} WHERE e164 = new.remote_e164 AND NOT in_journal"

_SQLITE = {
    Call.__tablename__: [
        # A call marks the numbers it was made with or from
        'CREATE TRIGGER IF NOT EXISTS journal_number_call_insert AFTER INSERT ON "call" '
        f"WHEN new.remote_e164 IS NOT NULL BEGIN {_CALL_MARKS.format(true=1)}; END",
        'CREATE TRIGGER IF NOT EXISTS journal_number_call_update AFTER UPDATE OF remote_e164 ON "call" '
        f"WHEN new.remote_e164 IS NOT NULL BEGIN {_CALL_MARKS.format(true=1)}; END",
    ],
    PhoneNumber.__tablename__: [
        # A number written or changed looks for a call with it
        "CREATE TRIGGER IF NOT EXISTS journal_number_insert AFTER INSERT ON phone_number "
        f"WHEN new.e164 IS NOT NULL AND {_HAS_CALL} "
        "BEGIN UPDATE phone_number SET in_journal = 1 WHERE id = new.id; END",
        "CREATE TRIGGER IF NOT EXISTS journal_number_update AFTER UPDATE OF e164 ON phone_number "
        f"BEGIN UPDATE phone_number SET in_journal = (new.e164 IS NOT NULL AND {_HAS_CALL}) WHERE id = new.id; END",
    ],
}
_SQLITE_TRIGGERS = ("journal_number_call_insert", "journal_number_call_update", "journal_number_insert",
                    "journal_number_update")

_POSTGRESQL = {
    Call.__tablename__: [
        f"""CREATE OR REPLACE FUNCTION journal_number_call() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    {_CALL_MARKS.format(true="true")};
    RETURN NULL;
END $$""",
        'DROP TRIGGER IF EXISTS journal_number_call ON "call"',
        'CREATE TRIGGER journal_number_call AFTER INSERT OR UPDATE OF remote_e164 ON "call" '
        "FOR EACH ROW WHEN (new.remote_e164 IS NOT NULL) EXECUTE FUNCTION journal_number_call()",
    ],
    PhoneNumber.__tablename__: [
        f"""CREATE OR REPLACE FUNCTION journal_number() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    new.in_journal := new.e164 IS NOT NULL AND {_HAS_CALL};
    RETURN new;
END $$""",
        "DROP TRIGGER IF EXISTS journal_number ON phone_number",
        "CREATE TRIGGER journal_number BEFORE INSERT OR UPDATE OF e164 ON phone_number "
        "FOR EACH ROW EXECUTE FUNCTION journal_number()",
    ],
}

# Existing numbers (the migration)
FILL = 'UPDATE phone_number SET in_journal = {true} WHERE e164 IN (SELECT remote_e164 FROM "call")'


def create(bind, table: str | None = None) -> None:
    """Create the triggers on `table` (default: both) that keep `PhoneNumber.in_journal` current."""
    statements = {"sqlite": _SQLITE, "postgresql": _POSTGRESQL}.get(bind.dialect.name, {})
    for name, table_statements in statements.items():
        if table in (None, name):
            for statement in table_statements:
                bind.execute(text(statement))


def fill(bind) -> None:
    """Mark the numbers the journal has already (the migration)."""
    bind.execute(text(FILL.format(true="true" if bind.dialect.name == "postgresql" else 1)))


def drop(bind) -> None:
    """Remove the triggers (the migration's downgrade)."""
    if bind.dialect.name == "sqlite":
        for name in _SQLITE_TRIGGERS:
            bind.execute(text(f"DROP TRIGGER IF EXISTS {name}"))
    elif bind.dialect.name == "postgresql":
        bind.execute(text('DROP TRIGGER IF EXISTS journal_number_call ON "call"'))
        bind.execute(text("DROP TRIGGER IF EXISTS journal_number ON phone_number"))
        for function in ("journal_number_call", "journal_number"):
            bind.execute(text(f"DROP FUNCTION IF EXISTS {function}()"))


def _after_create(table, connection, **_kw) -> None:
    create(connection, table.name)


for _model in (Call, PhoneNumber):
    event.listen(_model.__table__, "after_create", _after_create)
