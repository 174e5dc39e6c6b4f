"""Administering phonebook sources: type switch, URL schemes, the list's last run, mass deletion, dead runs."""
from __future__ import annotations

import re
import subprocess
import sys

import pytest
from sqlalchemy import select

from telephone import site_settings
from telephone.extensions import db
from telephone.models import SyncRun, SyncSource, utcnow
from telephone.sync import engine, liveness, schedule

from .conftest import csrf_token_from
from .phonebook_helpers import add_source, csv_rows, entries, sync

TYPES_AND_FIELDS = {
    "csv": ["opt_url", "opt_login", "opt_password"],
    "m365": ["opt_tenant_id", "opt_client_id", "opt_client_secret", "opt_mode", "opt_mailbox"],
    "exchange": ["opt_url", "opt_login", "opt_password", "opt_mailbox", "opt_folder"],
    "sugarcrm": ["opt_url", "opt_login", "opt_password", "opt_platform"],
    "salesforce": ["opt_url", "opt_consumer_key", "opt_consumer_secret"],
}


def _names(html: str) -> set[str]:
    return set(re.findall(r'name="([^"]+)"', html))


def test_type_selector_carries_real_htmx_attributes(client, auth):
    auth.login("chef", admin=True)
    page = client.get("/phonebook/sources/new").text
    select_tag = re.search(r"<select[^>]*id=\"type\"[^>]*>", page).group()
    assert 'hx-post="/phonebook/sources/new"' in select_tag and 'hx-trigger="change"' in select_tag
    assert "hx_post" not in page and "hx_trigger" not in page


@pytest.mark.parametrize("type_name", sorted(TYPES_AND_FIELDS))
def test_switching_the_type_shows_its_fields_and_keeps_the_name(client, auth, type_name):
    auth.login("chef", admin=True)
    token = csrf_token_from(client.get("/phonebook/sources/new").text)
    response = client.post("/phonebook/sources/new", data={
        "csrf_token": token, "type": type_name, "switch": "1", "name": "Meine Quelle", "description": "Test"})
    assert response.status_code == 200
    names = _names(response.text)
    for field in TYPES_AND_FIELDS[type_name]:
        assert field in names
    others = {f for fields in TYPES_AND_FIELDS.values() for f in fields} - set(TYPES_AND_FIELDS[type_name])
    assert not names & others
    assert 'value="Meine Quelle"' in response.text


@pytest.mark.parametrize("url", ["file:///etc/passwd", "gopher://intranet.example.de/1", "ftp://files.example.de/x"])
def test_source_url_must_be_http_or_https(app, client, auth, url):
    auth.login("chef", admin=True)
    token = csrf_token_from(client.get("/phonebook/sources/new").text)
    response = client.post("/phonebook/sources/new", data={
        "csrf_token": token, "type": "csv", "name": "CSV", "interval": "daily", "run_at": "03:00", "weekday": "0",
        "enabled": "y", "opt_url": url})
    assert response.status_code == 422
    assert "Nur Adressen mit http:// oder https:// sind erlaubt." in response.text
    assert url in response.text  # what was typed stays
    with app.app_context():
        assert db.session.scalar(select(SyncSource.id)) is None


def test_source_url_http_is_accepted_also_for_private_hosts(app, client, auth):
    auth.login("chef", admin=True)
    token = csrf_token_from(client.get("/phonebook/sources/new").text)
    response = client.post("/phonebook/sources/new", data={
        "csrf_token": token, "type": "csv", "name": "CSV", "interval": "daily", "run_at": "03:00", "weekday": "0",
        "enabled": "y", "opt_url": "http://192.168.1.5:8080/tb.csv"})
    assert response.status_code == 302


@pytest.mark.parametrize("url", ["file:///etc/passwd", "gopher://intranet.example.de/1"])
def test_cli_refuses_other_url_schemes(app, runner, url):
    result = runner.invoke(args=["phonebook", "sources", "add", "--type", "csv", "--name", "X", "--url", url])
    assert result.exit_code != 0 and "http:// oder https://" in result.output
    with app.app_context():
        assert db.session.scalar(select(SyncSource.id)) is None


def test_sources_list_shows_the_last_real_run_not_a_later_preview(app, client, auth, requests_mock):
    source_id = add_source(app, url="https://files.example.de/tb.csv")
    requests_mock.get("https://files.example.de/tb.csv", status_code=401)
    with app.app_context():
        assert not engine.sync_source(source_id, "schedule").ok
    sync(app, source_id, csv_rows(3), dry_run=True)  # a preview afterwards, which succeeds
    auth.login("chef", admin=True)
    page = client.get("/phonebook/sources").text
    assert "fehlgeschlagen" in page and "Anmeldung abgelehnt (HTTP 401)" in page
    assert "Vorschau" not in page


# --------------------------------------------------------------------------- mass deletion


def _hundred_then_sixty(app, requests_mock=None) -> int:
    """A source with 100 synced entries; its URL (faked when `requests_mock` is given) now serves 60."""
    url = "https://files.example.de/tb.csv"
    source_id = add_source(app, url=url)
    assert sync(app, source_id, csv_rows(100)).ok
    if requests_mock is not None:
        requests_mock.get(url, text=csv_rows(60))
    return source_id


def test_sync_deleting_more_than_the_share_stops_and_says_how_many(app):
    source_id = _hundred_then_sixty(app)
    outcome = sync(app, source_id, csv_rows(60))
    assert not outcome.ok
    assert outcome.problems[0].text.startswith("Die Synchronisation würde 40 von 100 Einträgen löschen")
    assert len(entries(app, source_id)) == 100
    assert sync(app, source_id, csv_rows(80)).ok  # exactly 20 % is allowed
    assert len(entries(app, source_id)) == 80


def test_preview_shows_the_mass_deletion_as_a_warning(app):
    source_id = _hundred_then_sixty(app)
    outcome = sync(app, source_id, csv_rows(60), dry_run=True)
    assert outcome.ok and outcome.deleted == 40
    assert any("40 von 100" in problem.text and problem.level == "warning" for problem in outcome.problems)


def test_share_is_a_setting_also_via_cli(app, runner):
    source_id = _hundred_then_sixty(app)
    result = runner.invoke(args=["settings", "set", "phonebook.max_delete_share", "50"])
    assert result.exit_code == 0, result.output
    assert runner.invoke(args=["settings", "set", "phonebook.max_delete_share", "150"]).exit_code != 0
    assert sync(app, source_id, csv_rows(60)).ok


def test_cli_sync_needs_allow_mass_delete(app, runner, requests_mock):
    source_id = _hundred_then_sixty(app, requests_mock)
    result = runner.invoke(args=["phonebook", "sync", "--source", str(source_id)])
    assert result.exit_code != 0 and "40 von 100" in result.output
    result = runner.invoke(args=["phonebook", "sync"])
    assert result.exit_code != 0 and "40 von 100" in result.output
    assert len(entries(app, source_id)) == 100
    result = runner.invoke(args=["phonebook", "sync", "--source", str(source_id), "--allow-mass-delete"])
    assert result.exit_code == 0, result.output
    assert len(entries(app, source_id)) == 60


def test_scheduled_sync_never_mass_deletes_and_records_why(app, requests_mock):
    source_id = _hundred_then_sixty(app, requests_mock)
    schedule.run_scheduled_sync(app, source_id)
    with app.app_context():
        run = db.session.scalars(select(SyncRun).order_by(SyncRun.id.desc())).first()
        assert (run.trigger, run.status) == ("schedule", "failed")
        assert "40 von 100" in run.messages[0]["text"] and run.messages[0]["code"] == engine.MASS_DELETE
    assert len(entries(app, source_id)) == 100


def test_admin_confirms_the_mass_deletion_on_the_source_page(app, client, auth, requests_mock):
    source_id = _hundred_then_sixty(app, requests_mock)
    schedule.run_scheduled_sync(app, source_id)
    auth.login("chef", admin=True)
    assert "prüfen und bestätigen" in client.get("/phonebook/sources").text
    page = client.get(f"/phonebook/sources/{source_id}").text
    assert "Löschen bestätigen und synchronisieren" in page and "40 von 100" in page
    response = client.post(f"/phonebook/sources/{source_id}/run", data={
        "csrf_token": csrf_token_from(page), "action": "sync", "allow_mass_delete": "y"})
    assert response.status_code == 302
    assert len(entries(app, source_id)) == 60
    page = client.get(response.location).text
    assert "Synchronisation erfolgreich" in page and "Löschen bestätigen" not in page


# --------------------------------------------------------------------------- dead runs


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def _running_run(app, source_id: int, pid: int, marker: str | None = None) -> int:
    with app.app_context():
        run = SyncRun(source_id=source_id, trigger="manual", status="running", started_at=utcnow(),
                      host=liveness.host_name(), pid=pid, process_marker=marker)
        db.session.add(run)
        db.session.commit()
        return run.id


def test_run_of_a_killed_process_does_not_block_and_is_reaped_at_start(app):
    source_id = add_source(app)
    run_id = _running_run(app, source_id, _dead_pid())
    with app.app_context():
        assert not engine.is_running(source_id)
    # start-up of a serving process (not tests, not other CLI commands) marks it aborted
    app.testing = False
    app.config["SCHEDULER_ENABLED"] = False
    try:
        assert schedule.init_app(app) is False
    finally:
        app.testing = True
    with app.app_context():
        run = db.session.get(SyncRun, run_id)
        assert run.status == "failed" and run.messages[0]["text"].startswith("Abgebrochen")
    assert sync(app, source_id, csv_rows(3)).ok


def test_reused_pid_counts_as_dead():
    host, pid, marker = liveness.this_process()
    assert liveness.process_alive(host, pid, marker) is True
    assert liveness.process_alive(host, pid, "another-boot:1") is False
    assert liveness.process_alive("another-host", pid, marker) is None


def test_run_of_a_living_other_process_blocks(app):
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        pytest.skip("PostgreSQL tells living runs by the advisory lock (tested in test_phonebook_sync)")
    source_id = add_source(app)
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        _running_run(app, source_id, process.pid, liveness.start_marker(process.pid))
        with app.app_context():
            assert engine.is_running(source_id)
            assert engine.reap_dead_runs() == 0
        with pytest.raises(engine.SyncRefused):
            sync(app, source_id, csv_rows(3))
    finally:
        process.kill()
        process.wait()
    with app.app_context():
        assert not engine.is_running(source_id)


def test_play_button_leads_to_a_list_that_follows_the_started_sync(app, client, auth, requests_mock, monkeypatch):
    source_id = add_source(app, url="https://files.example.de/tb.csv")
    requests_mock.get("https://files.example.de/tb.csv", status_code=401)
    claim = engine._claim_runs

    def slow_claim(source_id):  # the background thread records its run only after a moment
        import time
        time.sleep(0.3)
        claim(source_id)

    monkeypatch.setattr(engine, "_claim_runs", slow_claim)
    auth.login("chef", admin=True)
    response = client.post(f"/phonebook/sources/{source_id}/sync")
    assert response.status_code == 302
    page = client.get("/phonebook/sources").text
    engine.wait_for_background_syncs()
    assert "noch nie" not in page
    assert ("Synchronisation läuft" in page and 'hx-trigger="every 1s"' in page) or "Anmeldung abgelehnt" in page
