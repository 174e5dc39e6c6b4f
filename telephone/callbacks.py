"""Was a missed call called back? Kept on the call itself (`Call.called_back_at`) by the database.

A missed call needs a callback until somebody marks it done or an outgoing call
(or click-to-dial attempt) to the same number starts after it. Asked per page
(the navigation's badge, the journal's "Rückruf offen"), that rule needed a look
for a later outgoing call for every missed call ever stored: 85 ms per page at
100,000 calls when only a few are still open. So the database keeps the answer
on each incoming call: triggers set `called_back_at` to the start of the first
later outgoing call to its number, whichever way a row is written (the webhook's
one-statement write, the ORM, a test). Open missed calls are then the rows with
`called_back_at` and `done_at` NULL, found through the index `ix_call_open_missed`.

An outgoing call that changes (its number, direction or start) or is deleted makes
the incoming calls it had called back look for their first later outgoing call
again. The schema of tests (`db.create_all`) gets the triggers through an
`after_create` event, databases through the migration `call_called_back`.
Within a transaction, ORM objects of other calls do not see what a trigger
changed until they are loaded again (after the commit, as usual).
"""
from __future__ import annotations

from sqlalchemy import event, text

from .models import Call

# "call" is a keyword in PostgreSQL: always quoted
_SELF = '"call"'


def _first_callback(row: str) -> str:
    """SQL: the start of the first outgoing call to `row`'s number after `row` (NULL for none);
    `row` is `new` in a trigger, the updated table itself in an UPDATE."""
    return (f'SELECT min(o.started_at) FROM "call" AS o WHERE o.remote_e164 = {row}.remote_e164 '
            f"AND o.direction = 'out' AND o.started_at > {row}.started_at")


_LATER_CALLBACK = _first_callback("new")
# The incoming calls from the number of a new or changed outgoing call that it calls back
_CALLED_BACK = ('UPDATE "call" SET called_back_at = new.started_at WHERE remote_e164 = new.remote_e164 '
                "AND direction = 'in' AND started_at < new.started_at "
                "AND (called_back_at IS NULL OR called_back_at > new.started_at)")
_WATCHED = "direction, remote_e164, started_at"
# An outgoing call that changed (number, direction, start) or was deleted: the incoming calls from its
# old number that it had called back look for their first later outgoing call again
_RECHECKED = (f'UPDATE "call" SET called_back_at = ({_first_callback(_SELF)}) '
              "WHERE remote_e164 = old.remote_e164 AND direction = 'in' AND called_back_at = old.started_at")

_SQLITE = [
    # An outgoing call calls back the earlier incoming calls from its number
    "CREATE TRIGGER IF NOT EXISTS call_callback_out_insert AFTER INSERT ON \"call\" "
    f"WHEN new.direction = 'out' AND new.remote_e164 IS NOT NULL BEGIN {_CALLED_BACK}; END",
    f"CREATE TRIGGER IF NOT EXISTS call_callback_out_update AFTER UPDATE OF {_WATCHED} ON \"call\" "
    f"WHEN new.direction = 'out' AND new.remote_e164 IS NOT NULL BEGIN {_CALLED_BACK}; END",
    f"CREATE TRIGGER IF NOT EXISTS call_callback_out_moved AFTER UPDATE OF {_WATCHED} ON \"call\" "
    f"WHEN old.direction = 'out' AND old.remote_e164 IS NOT NULL BEGIN {_RECHECKED}; END",
    "CREATE TRIGGER IF NOT EXISTS call_callback_out_delete AFTER DELETE ON \"call\" "
    f"WHEN old.direction = 'out' AND old.remote_e164 IS NOT NULL BEGIN {_RECHECKED}; END",
    # An incoming call stored after its callback (events out of order, an import) finds it
    "CREATE TRIGGER IF NOT EXISTS call_callback_in_insert AFTER INSERT ON \"call\" "
    f"WHEN new.direction = 'in' AND new.remote_e164 IS NOT NULL AND ({_LATER_CALLBACK}) IS NOT NULL "
    f"BEGIN UPDATE \"call\" SET called_back_at = ({_LATER_CALLBACK}) WHERE id = new.id; END",
    f"CREATE TRIGGER IF NOT EXISTS call_callback_in_update AFTER UPDATE OF {_WATCHED} ON \"call\" "
    "WHEN new.direction = 'in' "
    f"BEGIN UPDATE \"call\" SET called_back_at = ({_LATER_CALLBACK}) WHERE id = new.id; END",
]
_SQLITE_TRIGGERS = ("call_callback_out_insert", "call_callback_out_update", "call_callback_out_moved",
                    "call_callback_out_delete", "call_callback_in_insert", "call_callback_in_update")

_POSTGRESQL = [
    f"""CREATE OR REPLACE FUNCTION call_callback_in() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF new.direction = 'in' THEN
        new.called_back_at := ({_LATER_CALLBACK});
    END IF;
    RETURN new;
END $$""",
    f"""CREATE OR REPLACE FUNCTION call_callback_out() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        IF old.direction = 'out' AND old.remote_e164 IS NOT NULL THEN
            {_RECHECKED};
        END IF;
    END IF;
    IF TG_OP <> 'DELETE' THEN
        IF new.direction = 'out' AND new.remote_e164 IS NOT NULL THEN
            {_CALLED_BACK};
        END IF;
    END IF;
    RETURN NULL;
END $$""",
    'DROP TRIGGER IF EXISTS call_callback_in ON "call"',
    f'CREATE TRIGGER call_callback_in BEFORE INSERT OR UPDATE OF {_WATCHED} ON "call" '
    "FOR EACH ROW EXECUTE FUNCTION call_callback_in()",
    'DROP TRIGGER IF EXISTS call_callback_out ON "call"',
    f'CREATE TRIGGER call_callback_out AFTER INSERT OR DELETE OR UPDATE OF {_WATCHED} ON "call" '
    "FOR EACH ROW EXECUTE FUNCTION call_callback_out()",
]

# Existing calls (the migration): every incoming call gets its first later callback
FILL = (f'UPDATE "call" SET called_back_at = ({_first_callback(_SELF)}) '
        "WHERE direction = 'in' AND remote_e164 IS NOT NULL")


def create(bind) -> None:
    """Create the triggers that keep `call.called_back_at` current."""
    statements = {"sqlite": _SQLITE, "postgresql": _POSTGRESQL}.get(bind.dialect.name, [])
    for statement in statements:
        bind.execute(text(statement))


def drop(bind) -> None:
    """Remove the triggers (the migration's downgrade)."""
    if bind.dialect.name == "sqlite":
        for name in _SQLITE_TRIGGERS:
            bind.execute(text(f"DROP TRIGGER IF EXISTS {name}"))
    elif bind.dialect.name == "postgresql":
        for name in ("call_callback_in", "call_callback_out"):
            bind.execute(text(f'DROP TRIGGER IF EXISTS {name} ON "call"'))
            bind.execute(text(f"DROP FUNCTION IF EXISTS {name}()"))


def _after_create(_table, connection, **_kw) -> None:
    create(connection)


event.listen(Call.__table__, "after_create", _after_create)
