"""The sync engine: validation, limits, the difference, locking, schedule and CLI."""
import threading

import pytest
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import event, func, select

from telephone import numbers, site_settings
from telephone.extensions import db
from telephone.models import PhonebookEntry, PhoneNumber, SyncRun, SyncSource
from telephone.phonebook.entries import ManualEntryData, save_manual
from telephone.sync import engine, schedule

from .phonebook_helpers import FIXTURE, HEADER, add_source, csv_rows, entries, sync


def count_entries(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count(PhonebookEntry.id)))


def snapshot(app) -> tuple:
    """Everything a failed sync must leave unchanged."""
    with app.app_context():
        rows = db.session.execute(select(PhonebookEntry.id, PhonebookEntry.internal_id, PhonebookEntry.display_name,
                                         PhonebookEntry.content_hash).order_by(PhonebookEntry.id)).all()
        index = db.session.execute(select(PhoneNumber.phonebook_entry_id, PhoneNumber.e164)
                                   .order_by(PhoneNumber.id)).all()
        return tuple(rows), tuple(index)


def last_run(app, source_id):
    with app.app_context():
        run = db.session.scalars(select(SyncRun).where(SyncRun.source_id == source_id).order_by(SyncRun.id.desc())).first()
        return {"status": run.status, "trigger": run.trigger, "created": run.created, "updated": run.updated,
                "deleted": run.deleted, "unchanged": run.unchanged, "messages": run.messages, "total": run.total}


def test_first_sync_imports_the_sample_file(app):
    source_id = add_source(app)
    outcome = sync(app, source_id, FIXTURE.read_bytes())
    assert outcome.ok and (outcome.created, outcome.total) == (3, 3)
    rows = entries(app, source_id)
    assert rows["1"]["display_name"] == "Schmidt, Anna"
    assert rows["1"]["phones"] == [{"type": "WORK", "number": "+496131123456"},
                                   {"type": "MOBILE", "number": "+4917012345678"},
                                   {"type": "WORK_FAX", "number": "+496131123499"}]
    assert rows["3"]["display_name"] == 'Weber & Söhne "Zentrale"'
    run = last_run(app, source_id)
    assert (run["status"], run["trigger"], run["created"]) == ("success", "upload", 3)


def test_phonebook_numbers_are_found_by_caller_lookup(app):
    source_id = add_source(app)
    sync(app, source_id, FIXTURE.read_bytes())
    with app.test_request_context():
        result = numbers.lookup_caller("06131 123499")
        assert [m.name for m in result.matches] == ["Schmidt, Anna"]
        assert result.matches[0].kind == "phonebook"
        assert result.matches[0].url == f"/phonebook/{entries(app, source_id)['1']['id']}"
        assert [m.name for m in numbers.lookup_caller("+49 1511 2345678").matches] == ['Weber & Söhne "Zentrale"']


def test_bulk_index_equals_index_numbers(app):
    """The bulk insert writes the same index rows as numbers.index_numbers would."""
    source_id = add_source(app)
    sync(app, source_id, FIXTURE.read_bytes())
    with app.app_context():
        entry = db.session.scalars(select(PhonebookEntry).where(PhonebookEntry.internal_id == "1")).one()
        bulk = sorted((n.raw, n.e164, n.kind, n.main_prefix) for n in entry.numbers)
        kinds = {"WORK": "phone", "MOBILE": "mobile", "WORK_FAX": "fax"}
        numbers.index_numbers(entry, [(kinds[p["type"]], p["number"]) for p in entry.phones])
        assert sorted((n.raw, n.e164, n.kind, n.main_prefix) for n in entry.numbers) == bulk
        db.session.rollback()


class StatementCounter:
    def __init__(self, engine_):
        self.statements = []
        self.engine = engine_

    def __enter__(self):
        event.listen(self.engine, "before_cursor_execute", self._record)
        return self

    def __exit__(self, *exc):
        event.remove(self.engine, "before_cursor_execute", self._record)

    def _record(self, conn, cursor, statement, parameters, context, executemany):
        self.statements.append(statement.strip().split()[0].upper() + " " + statement)

    def writes(self, *tables):
        return [s for s in self.statements if s.split()[0] in ("INSERT", "UPDATE", "DELETE")
                and any(t in s for t in tables)]


def test_unchanged_resync_writes_nothing(app):
    source_id = add_source(app)
    sync(app, source_id, FIXTURE.read_bytes())
    with app.app_context():
        db_engine = db.engine
    with StatementCounter(db_engine) as counter:
        outcome = sync(app, source_id, FIXTURE.read_bytes())
    assert outcome.ok and (outcome.unchanged, outcome.created, outcome.updated, outcome.deleted) == (3, 0, 0, 0)
    assert counter.writes("phonebook_entry", "phone_number") == []
    assert counter.statements  # the listener did see the run


def test_changes_updates_and_deletes_only_what_differs(app):
    source_id = add_source(app)
    sync(app, source_id, FIXTURE.read_bytes())
    before = entries(app, source_id)
    changed = FIXTURE.read_text("utf-8").splitlines()
    changed[2] = changed[2].replace("WORK:+4922198765432", "WORK:+4922199999999")
    del changed[3]  # Weber goes
    changed.append("4,Neu Person,Person,Neu,,,WORK:+4940123456,,,")
    # 1 of 3 entries is more than the default share of 20 %: confirmed as an admin would
    outcome = sync(app, source_id, "\n".join(changed) + "\n", allow_mass_delete=True)
    assert (outcome.created, outcome.updated, outcome.deleted, outcome.unchanged) == (1, 1, 1, 1)
    after = entries(app, source_id)
    assert set(after) == {"1", "2", "4"}
    assert after["2"]["id"] == before["2"]["id"]  # updated in place
    assert after["2"]["phones"] == [{"type": "WORK", "number": "+4922199999999"}]
    with app.test_request_context():
        assert numbers.lookup_caller("+4922198765432").matches == []
        assert [m.name for m in numbers.lookup_caller("+4922199999999").matches] == ["Jörg Müller"]
        assert numbers.lookup_caller("+49301234560").matches == []


def test_non_e164_numbers_are_normalised_with_a_warning(app):
    source_id = add_source(app)
    outcome = sync(app, source_id, "internal_id;display_name;family_name;given_name;phone;phone\n"
                                   "1;A;A;A;WORK:06131 1234-56;MOBILE:4.91701E+12\n")
    assert outcome.ok
    assert entries(app, source_id)["1"]["phones"][0] == {"type": "WORK", "number": "+4961311234 56".replace(" ", "")}
    texts = [(p.level, p.text) for p in outcome.problems]
    assert any(level == "warning" and "06131 1234-56 → +49613112345" in text for level, text in texts)
    assert any(level == "warning" and "4.91701E+12" in text and "nicht erkannt" in text for level, text in texts)


@pytest.mark.parametrize("row, message", [
    (",Ohne Id,X,Y,,,,,", "ohne internal_id"),
    ("5,Doppelt,X,Y,,,,,", "kommt mehrfach vor"),
    ("6,Typ,X,Y,,,HOME:+4930111,,", "Unbekannter Telefontyp „HOME“"),
    ("7,Mail,X,Y,,,,,PRIVATE:a@example.com", "Unbekannter E-Mail-Typ „PRIVATE“"),
    ("8,Geschlecht,X,Y,,divers,,,", "Ungültiges Geschlecht „divers“"),
    ("9,,,,,,,,", "ohne Namen"),
])
def test_each_invalid_row_fails_the_sync_and_changes_nothing(app, row, message):
    source_id = add_source(app)
    sync(app, source_id, FIXTURE.read_bytes())
    before = snapshot(app)
    outcome = sync(app, source_id, f"{HEADER}\n5,Fünf,F,F,,,WORK:+4930555,,\n{row}\n")
    assert not outcome.ok
    assert any(message in p.text and p.line == 3 for p in outcome.errors), outcome.problems
    assert snapshot(app) == before
    run = last_run(app, source_id)
    assert run["status"] == "failed" and any(message in m["text"] for m in run["messages"])


def test_every_problem_is_listed_with_its_line(app):
    source_id = add_source(app)
    data = (f"{HEADER}\n1,Eins,E,E,,,,,\n,Ohne,X,Y,,,,,\n1,Nochmal,E,E,,,,,\n4,Vier,V,V,,neutral,FOO:+4930,,\n")
    outcome = sync(app, source_id, data)
    assert not outcome.ok
    assert sorted((p.line, p.text.split()[0]) for p in outcome.errors) == [
        (3, "Datensatz"), (4, "internal_id"), (5, "Unbekannter"), (5, "Ungültiges")]
    assert "zuerst in Zeile 2" in next(p.text for p in outcome.errors if p.line == 4)
    assert count_entries(app) == 0


def test_missing_required_column_fails_and_changes_nothing(app):
    source_id = add_source(app)
    sync(app, source_id, FIXTURE.read_bytes())
    before = snapshot(app)
    outcome = sync(app, source_id, "internal_id,display_name,given_name\n1,A,A\n")
    assert not outcome.ok and "family_name" in outcome.errors[0].text
    assert snapshot(app) == before


def test_limit_per_upload_at_and_over_the_boundary(app):
    source_id = add_source(app)
    with app.app_context():
        site_settings.set_value("phonebook.max_per_upload", "3")
        db.session.commit()
    assert sync(app, source_id, csv_rows(3)).ok
    before = snapshot(app)
    outcome = sync(app, source_id, csv_rows(4))
    assert not outcome.ok and "höchstens 3" in outcome.errors[0].text
    assert snapshot(app) == before


def test_total_limit_counts_all_sources_but_not_manual_entries(app):
    first, second = add_source(app, "Erste"), add_source(app, "Zweite")
    with app.app_context():
        site_settings.set_value("phonebook.max_total", "5")
        save_manual(None, ManualEntryData(display_name="Manuell"))
        db.session.commit()
    assert sync(app, first, csv_rows(3)).ok
    assert sync(app, second, csv_rows(2, start=100)).ok  # exactly 5
    before = snapshot(app)
    outcome = sync(app, second, csv_rows(3, start=100))  # 6 > 5
    assert not outcome.ok and "höchstens 5" in outcome.errors[0].text
    assert snapshot(app) == before


def test_zero_record_guard(app):
    source_id = add_source(app)
    sync(app, source_id, FIXTURE.read_bytes())
    before = snapshot(app)
    header_only = FIXTURE.read_text("utf-8").splitlines()[0] + "\n"
    outcome = sync(app, source_id, header_only)
    assert not outcome.ok and "keine Datensätze" in outcome.errors[0].text
    assert snapshot(app) == before
    outcome = sync(app, source_id, header_only, allow_empty=True)
    assert outcome.ok and outcome.deleted == 3
    assert entries(app, source_id) == {}


def test_empty_source_without_entries_is_fine(app):
    source_id = add_source(app)
    assert sync(app, source_id, HEADER + "\n").ok


def test_sources_own_only_their_entries_and_manual_entries_survive(app):
    first, second = add_source(app, "Erste"), add_source(app, "Zweite")
    with app.app_context():
        save_manual(None, ManualEntryData(display_name="Hausmeister", phones=[("WORK", "+49301112223")]))
        db.session.commit()
    sync(app, first, FIXTURE.read_bytes())
    sync(app, second, FIXTURE.read_bytes())  # same internal ids in another source
    assert len(entries(app, first)) == len(entries(app, second)) == 3
    assert sync(app, first, HEADER + "\n", allow_empty=True).deleted == 3
    assert len(entries(app, second)) == 3
    assert set(entries(app, None)) == {"Hausmeister"}
    with app.test_request_context():
        assert [m.name for m in numbers.lookup_caller("030 1112223").matches] == ["Hausmeister"]


def test_preview_changes_nothing_and_names_the_differences(app):
    source_id = add_source(app)
    sync(app, source_id, FIXTURE.read_bytes())
    before = snapshot(app)
    lines = FIXTURE.read_text("utf-8").splitlines()
    data = "\n".join([lines[0], lines[1].replace("Dr.", "Prof."), lines[2], "9,Neue Frau,Frau,Neue,,female,,,,"]) + "\n"
    with app.app_context():
        outcome = engine.sync_source(source_id, "manual", dry_run=True, upload=data.encode())
    assert outcome.ok
    assert outcome.preview == {"created": ["Neue Frau"], "updated": ["Schmidt, Anna"],
                               "deleted": ['Weber & Söhne "Zentrale"']}
    assert snapshot(app) == before
    assert last_run(app, source_id)["trigger"] == "preview"


def test_second_sync_while_one_runs_is_refused(app):
    source_id = add_source(app)
    with app.app_context():
        with engine.source_lock(source_id):
            result = {}

            def other():
                with app.app_context():
                    try:
                        engine.sync_source(source_id, "manual", upload=FIXTURE.read_bytes())
                    except engine.SyncRefused as exc:
                        result["refused"] = str(exc)
                    finally:
                        db.session.remove()

            thread = threading.Thread(target=other)
            thread.start()
            thread.join(30)
    assert result == {"refused": "Synchronisation läuft bereits."}
    assert count_entries(app) == 0
    assert sync(app, source_id, FIXTURE.read_bytes()).ok  # lock released afterwards


def test_running_run_of_another_process_blocks_until_stale(app):
    source_id = add_source(app)
    from datetime import timedelta

    from telephone.models import utcnow

    with app.app_context():
        run = SyncRun(source_id=source_id, trigger="schedule", status="running", started_at=utcnow())
        db.session.add(run)
        db.session.commit()
        run_id = run.id
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        # SQLite runs in one process: a recent "running" run is another process (e.g. the CLI).
        with pytest.raises(engine.SyncRefused):
            sync(app, source_id, FIXTURE.read_bytes())
        with app.app_context():
            db.session.get(SyncRun, run_id).started_at = utcnow() - timedelta(hours=2)
            db.session.commit()
    # PostgreSQL: the advisory lock is free, so the "running" run belongs to a dead process.
    assert sync(app, source_id, FIXTURE.read_bytes()).ok
    with app.app_context():
        stale = db.session.get(SyncRun, run_id)
        assert stale.status == "failed" and "Prozess" in stale.messages[0]["text"]


def test_background_sync_runs_in_a_thread(app):
    source_id = add_source(app)
    with app.app_context():
        source = db.session.get(SyncSource, source_id)
        source.url = "https://files.example.de/tb.csv"
        db.session.commit()
    import requests_mock as rm

    with rm.Mocker() as mock:
        mock.get("https://files.example.de/tb.csv", content=FIXTURE.read_bytes())
        with app.app_context():
            thread = engine.start_background_sync(source_id)
        thread.join(30)
    assert len(entries(app, source_id)) == 3
    assert last_run(app, source_id)["trigger"] == "manual"


# --------------------------------------------------------------------------- schedule


def test_schedule_builds_one_job_per_enabled_source_and_the_job_syncs(app, requests_mock):
    url = "https://files.example.de/tb.csv"
    requests_mock.get(url, content=FIXTURE.read_bytes())
    daily = add_source(app, "Täglich", url=url, interval="daily", run_at="04:30")
    weekly = add_source(app, "Wöchentlich", url=url, interval="weekly", weekday=2, run_at="05:00")
    hourly = add_source(app, "Stündlich", url=url, interval="hourly")
    add_source(app, "Aus", url=url, interval="off")
    add_source(app, "Deaktiviert", url=url, enabled=False)
    scheduler = BackgroundScheduler(timezone="Europe/Berlin")
    with app.app_context():
        schedule.reload_jobs(scheduler, app)
    jobs = {job.id: job for job in scheduler.get_jobs()}
    assert set(jobs) == {f"phonebook-sync-{i}" for i in (daily, weekly, hourly)}
    assert "hour='4', minute='30'" in str(jobs[f"phonebook-sync-{daily}"].trigger)
    assert "day_of_week='wed'" in str(jobs[f"phonebook-sync-{weekly}"].trigger)
    assert "Europe/Berlin" in str(jobs[f"phonebook-sync-{daily}"].trigger.timezone)
    job = jobs[f"phonebook-sync-{daily}"]
    job.func(*job.args)  # what the scheduler runs at 04:30
    assert len(entries(app, daily)) == 3
    assert last_run(app, daily)["trigger"] == "schedule"


def test_scheduler_is_not_started_in_tests_or_when_disabled(app, monkeypatch):
    assert not schedule.should_start(app)
    app.testing = False
    app.config["SCHEDULER_ENABLED"] = False
    assert not schedule.should_start(app)
    app.config["SCHEDULER_ENABLED"] = True
    monkeypatch.setenv("FLASK_RUN_FROM_CLI", "true")
    monkeypatch.setattr("sys.argv", ["flask", "--app", "app", "phonebook", "sync"])
    assert not schedule.should_start(app)
    monkeypatch.setattr("sys.argv", ["flask", "--app", "app", "run", "--port", "5000"])
    assert schedule.should_start(app)
    app.debug = True
    monkeypatch.delenv("WERKZEUG_RUN_MAIN", raising=False)
    assert not schedule.should_start(app)  # the reloader's watcher process
    monkeypatch.setenv("WERKZEUG_RUN_MAIN", "true")
    assert schedule.should_start(app)


# --------------------------------------------------------------------------- CLI


def test_cli_add_source_and_sync(app, runner, requests_mock):
    url = "https://files.example.de/tb.csv"
    requests_mock.get(url, content=FIXTURE.read_bytes())
    result = runner.invoke(args=["phonebook", "sources", "add", "--type", "csv", "--name", "Intranet",
                                 "--url", url, "--login", "sync", "--password", "geheim"])
    assert result.exit_code == 0, result.output
    source_id = int(result.output.strip().splitlines()[-1])
    with app.app_context():
        source = db.session.get(SyncSource, source_id)
        assert (source.type, source.name, source.url, source.login) == ("csv", "Intranet", url, "sync")
        assert source.password_encrypted and "geheim" not in source.password_encrypted
    result = runner.invoke(args=["phonebook", "sync", "--source", str(source_id)])
    assert result.exit_code == 0, result.output
    assert "3 neu" in result.output
    assert requests_mock.last_request.headers["Authorization"].startswith("Basic ")
    result = runner.invoke(args=["phonebook", "sync"])
    assert result.exit_code == 0 and "3 unverändert" in result.output
    assert last_run(app, source_id)["trigger"] == "cli"


def test_cli_sync_failure_exits_non_zero_with_reason(app, runner, requests_mock):
    url = "https://files.example.de/tb.csv"
    requests_mock.get(url, status_code=401)
    source_id = add_source(app, url=url)
    result = runner.invoke(args=["phonebook", "sync", "--source", str(source_id)])
    assert result.exit_code != 0 and "Login und Passwort" in result.output
    result = runner.invoke(args=["phonebook", "sync"])
    assert result.exit_code != 0 and "Login und Passwort" in result.output
    assert runner.invoke(args=["phonebook", "sync", "--source", "999"]).exit_code != 0


def test_cli_add_source_refuses_unknown_type(runner):
    result = runner.invoke(args=["phonebook", "sources", "add", "--type", "fax", "--name", "X"])
    assert result.exit_code != 0 and "Unbekannter Typ" in result.output
