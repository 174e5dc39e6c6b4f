"""The sync's bulk writes: on PostgreSQL with COPY, elsewhere with executemany.

Both must store exactly the same rows, and a failure in the middle of the
writes must leave the phonebook as it was. On SQLite both sources take the
executemany path; on PostgreSQL (TEST_DATABASE_URL) one takes COPY.
"""
import pytest
from sqlalchemy import JSON, Text, cast, select

from telephone.extensions import db
from telephone.models import PhonebookEntry, PhoneNumber
from telephone.sync import engine, pg_copy

from .phonebook_helpers import HEADER, add_source, sync

FIRST = "\n".join([
    HEADER,
    '1,"Müller, Jörg",Müller,Jörg,Dr.,male,WORK:+496131123456,MOBILE:0170 1234567,WORK:jörg@example.com',
    '2,"Back\\slash ""Zitat""",Back\\slash,Zitat,,female,WORK_FAX:+4930123456,,',
    "3,Tab\tim Namen,Namen,Tab,,,WORK:12,,",
    "4,Ohne Nummer,Nummer,Ohne,,,,,",
    "5,Émile Zoë,Zoë,Émile,,,MOBILE:+33612345678,,WORK:e@exemple.fr",
]) + "\n"
# 1 and 5 unchanged, 2 and 4 changed, 3 deleted, 6 new
SECOND = "\n".join([
    HEADER,
    '1,"Müller, Jörg",Müller,Jörg,Dr.,male,WORK:+496131123456,MOBILE:0170 1234567,WORK:jörg@example.com',
    '2,"Back\\slash ""Zitat""",Back\\slash,Zitat,,female,WORK:+4930999999,WORK_FAX:+4930123456,WORK:z@example.com',
    "4,Jetzt mit Nummer,Nummer,Jetzt,,,MOBILE:+4915112345678,,",
    "5,Émile Zoë,Zoë,Émile,,,MOBILE:+33612345678,,WORK:e@exemple.fr",
    "6,Neu Übernommen,Übernommen,Neu,Prof.,female,WORK:06131 98765,,",
]) + "\n"


def stored(app, source_id: int) -> dict[str, dict]:
    """Every column of the source's entries (JSON as its stored text) with their index rows, by internal_id."""
    with app.app_context():
        entries, index = PhonebookEntry.__table__, PhoneNumber.__table__
        columns = [cast(column, Text).label(column.name) if isinstance(column.type, JSON) else column
                   for column in entries.c]
        rows = {row.internal_id: {**row._asdict(), "numbers": []} for row in db.session.execute(
            select(*columns).where(entries.c.source_id == source_id))}
        for internal_id, *number in db.session.execute(
                select(entries.c.internal_id,
                       *(column for column in index.c if column.name not in ("id", "phonebook_entry_id")))
                .join(index, index.c.phonebook_entry_id == entries.c.id).where(entries.c.source_id == source_id)
                .order_by(index.c.id)):
            rows[internal_id]["numbers"].append(tuple(number))
        return rows


def without_ids_and_times(rows: dict[str, dict]) -> dict[str, dict]:
    """What must not depend on the write path: ids, the source and the time of the run left out."""
    return {internal_id: {name: value for name, value in row.items()
                          if name not in ("id", "source_id", "created_at", "updated_at")}
            for internal_id, row in rows.items()}


@pytest.fixture
def copy_calls(monkeypatch):
    """The tables written with COPY."""
    calls = []
    insert, update = pg_copy.insert, pg_copy.update

    def counted(write):
        def wrapper(connection, table, rows, *args):
            calls.append(table.name)
            return write(connection, table, rows, *args)
        return wrapper

    monkeypatch.setattr(pg_copy, "insert", counted(insert))
    monkeypatch.setattr(pg_copy, "update", counted(update))
    return calls


def test_copy_stores_the_same_rows_as_executemany(app, monkeypatch, copy_calls):
    copied, executed = add_source(app, "Kopiert"), add_source(app, "Einzeln")
    for data in (FIRST, SECOND):
        assert sync(app, copied, data, allow_mass_delete=True).ok
        with monkeypatch.context() as patch:
            patch.setattr(pg_copy, "available", lambda connection: False)
            assert sync(app, executed, data, allow_mass_delete=True).ok
        assert without_ids_and_times(stored(app, copied)) == without_ids_and_times(stored(app, executed))
    with app.app_context():
        on_postgresql = db.engine.dialect.name == "postgresql"
    assert bool(copy_calls) == on_postgresql

    rows = stored(app, copied)
    assert sorted(rows) == ["1", "2", "4", "5", "6"]
    assert rows["2"]["display_name"] == 'Back\\slash "Zitat"'
    # raw, e164, kind, main_prefix, address_id, contact_person_id, owner_sort (the entry's sort_name), in_journal
    assert rows["6"]["numbers"] == [("+49613198765", "+49613198765", "phone", None, None, None, rows["6"]["sort_name"],
                                     False)]
    assert all(number[-2] == row["sort_name"] for row in rows.values() for number in row["numbers"])
    assert [number[1] for number in rows["2"]["numbers"]] == ["+4930999999", "+4930123456"]
    assert rows["4"]["numbers"][0][1] == "+4915112345678"


def test_update_keeps_id_and_creation_time(app):
    source_id = add_source(app)
    sync(app, source_id, FIRST)
    before = stored(app, source_id)
    assert before["3"]["display_name"] == "Tab\tim Namen"
    assert before["3"]["numbers"][0][:2] == ("12", None)  # not recognised: kept as typed
    sync(app, source_id, SECOND, allow_mass_delete=True)
    after = stored(app, source_id)
    for internal_id in ("1", "2", "4", "5"):
        assert (after[internal_id]["id"], after[internal_id]["created_at"]) == \
            (before[internal_id]["id"], before[internal_id]["created_at"])
    assert after["2"]["updated_at"] > before["2"]["updated_at"]
    assert after["1"]["updated_at"] == before["1"]["updated_at"]  # unchanged: not written
    assert after["6"]["id"] > max(row["id"] for row in before.values())


def _fail_at_last_index_row(monkeypatch):
    """Python fails while building the index rows of the last new entry (after every other write)."""
    index_params, calls = engine._index_params, []

    def failing(entry_id, numbers_):
        calls.append(entry_id)
        if len(calls) == 3:  # entries 2 and 4 changed, then 6 new
            raise RuntimeError("Absturz mitten im Schreiben")
        return index_params(entry_id, numbers_)

    monkeypatch.setattr(engine, "_index_params", failing)


def _duplicate_new_entry(monkeypatch):
    """The database refuses the new entry: it repeats the internal_id of an existing one."""
    entry_params = engine._entry_params

    def duplicate(source_id, row, now):
        params = entry_params(source_id, row, now)
        if params["internal_id"] == "6":
            params["internal_id"] = "1"
        return params

    monkeypatch.setattr(engine, "_entry_params", duplicate)


@pytest.mark.parametrize("failure", [_fail_at_last_index_row, _duplicate_new_entry])
def test_failure_in_the_middle_of_the_writes_changes_nothing(app, monkeypatch, failure):
    source_id = add_source(app)
    assert sync(app, source_id, FIRST).ok
    before = stored(app, source_id)
    failure(monkeypatch)
    outcome = sync(app, source_id, SECOND, allow_mass_delete=True)
    assert not outcome.ok
    assert "Unerwarteter Fehler" in str(outcome.summary())
    assert stored(app, source_id) == before
    monkeypatch.undo()
    assert sync(app, source_id, SECOND, allow_mass_delete=True).ok  # the connection is usable again
    assert sorted(stored(app, source_id)) == ["1", "2", "4", "5", "6"]


def test_a_large_sync_refreshes_postgresqls_statistics(app, monkeypatch):
    """Right after a big import PostgreSQL planned the caller lookup as a scan of every number until
    autovacuum analysed the tables; the sync analyses them itself (other databases need nothing)."""
    monkeypatch.setattr(engine, "ANALYZE_AFTER", 3)
    analysed = []
    monkeypatch.setattr(pg_copy, "analyze", lambda connection, *tables: analysed.append(
        sorted(table.name for table in tables)))
    source = add_source(app, "Groß")
    assert sync(app, source, FIRST).ok  # five new entries
    with app.app_context():
        on_postgresql = db.engine.dialect.name == "postgresql"
    assert analysed == ([["phone_number", "phonebook_entry"]] if on_postgresql else [])
    analysed.clear()
    assert sync(app, source, FIRST).ok  # nothing changed: nothing to analyse
    assert analysed == []


def test_analyze_runs_on_postgresql(app):
    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            pytest.skip("PostgreSQL only")
        pg_copy.analyze(db.session.connection(), PhonebookEntry.__table__, PhoneNumber.__table__)
        db.session.commit()
        assert db.session.scalar(db.text("SELECT count(*) FROM pg_stat_user_tables "
                                         "WHERE relname = 'phone_number' AND last_analyze IS NOT NULL")) == 1
