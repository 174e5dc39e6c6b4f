"""Pushing the company phonebook to Placetel's contacts (`/contacts` of the REST API v2)."""
from __future__ import annotations

import itertools

import pytest
from sqlalchemy import select

from telephone import placetel_contacts, site_settings
from telephone.extensions import db
from telephone.models import ContactPushRun, PhonebookEntry, PlacetelContact
from telephone.phonebook.entries import ManualEntryData, delete_manual, save_manual

from .phonebook_helpers import add_source

TOKEN = "pt-token-4711-abcdef-secret"


def api(app, path=""):
    return app.config["PLACETEL_API_URL"] + "/contacts" + path


@pytest.fixture
def placetel_contacts_api(app, requests_mock):
    """Placetel's /contacts, answering as documented: POST returns the created Contact with its id."""
    ids = itertools.count(501)

    def created(request, context):
        context.status_code = 201
        return {"id": next(ids), **request.json(), "created_at": "2026-12-01T10:00:00+01:00"}

    requests_mock.post(api(app), json=created)
    requests_mock.put(requests_mock_matcher(app), json=lambda request, context: {"id": 1, **request.json()})
    requests_mock.delete(requests_mock_matcher(app), status_code=204)
    with app.app_context():
        site_settings.set_value("placetel.api_token", TOKEN)
        db.session.commit()
    return requests_mock


def requests_mock_matcher(app):
    import re

    return re.compile(re.escape(api(app, "/")) + r"\d+$")


def add_entry(app, given, family, *phones, company="") -> int:
    with app.app_context():
        entry = save_manual(None, ManualEntryData(given_name=given, family_name=family, company=company,
                                                  phones=list(phones)))
        db.session.commit()
        return entry.id


def push(app, trigger="manual") -> ContactPushRun:
    with app.app_context():
        run = placetel_contacts.push_contacts(trigger)
        db.session.refresh(run)
        db.session.expunge(run)
        return run


def writes(mock):
    return [(request.method, request.path) for request in mock.request_history]


def test_first_push_creates_each_entry_and_a_second_push_sends_nothing(app, placetel_contacts_api):
    add_entry(app, "Jürgen", "Weiß", ("WORK", "0221 1234567"), ("MOBILE", "0171 2345678"), company="Müller GmbH")
    add_entry(app, "Anna", "Schmidt", ("WORK", "06131 9876543"))
    run = push(app)
    assert (run.status, run.created, run.updated, run.deleted) == ("success", 2, 0, 0)
    bodies = [request.json() for request in placetel_contacts_api.request_history]
    assert {"first_name": "Jürgen", "last_name": "Weiß", "company": "Müller GmbH",
            "phone_work": "+492211234567", "mobile_work": "+491712345678"} in bodies
    assert all(request.headers["Authorization"] == f"Bearer {TOKEN}"
               for request in placetel_contacts_api.request_history)
    with app.app_context():
        assert sorted(db.session.scalars(select(PlacetelContact.placetel_id))) == ["501", "502"]

    placetel_contacts_api.reset_mock()
    again = push(app)
    assert (again.status, again.created, again.updated, again.deleted, again.unchanged) == ("success", 0, 0, 0, 2)
    assert placetel_contacts_api.request_history == []


def test_changed_entry_is_updated_and_removed_entry_deleted(app, placetel_contacts_api):
    anna = add_entry(app, "Anna", "Schmidt", ("WORK", "06131 9876543"))
    ben = add_entry(app, "Ben", "Braun", ("WORK", "06131 1111111"))
    push(app)
    with app.app_context():
        links = {link.phonebook_entry_id: link.placetel_id for link in db.session.scalars(select(PlacetelContact))}
        save_manual(db.session.get(PhonebookEntry, anna),
                    ManualEntryData(given_name="Anna", family_name="Schmidt", phones=[("MOBILE", "0170 5555555")]))
        delete_manual(db.session.get(PhonebookEntry, ben))
        db.session.commit()
    placetel_contacts_api.reset_mock()
    run = push(app)
    assert (run.created, run.updated, run.deleted, run.unchanged) == (0, 1, 1, 0)
    assert sorted(writes(placetel_contacts_api)) == sorted([
        ("PUT", f"/v2/contacts/{links[anna]}"), ("DELETE", f"/v2/contacts/{links[ben]}")])
    put = next(r for r in placetel_contacts_api.request_history if r.method == "PUT")
    assert put.json()["mobile_work"] == "+491705555555"
    assert "phone_work" not in put.json()
    with app.app_context():
        assert db.session.scalar(select(PlacetelContact.placetel_id)) == links[anna]


def test_customers_own_placetel_contacts_are_never_touched(app, placetel_contacts_api):
    """Placetel holds contacts 1–3 of the customer's own; the push only ever writes to what it created."""
    add_entry(app, "Anna", "Schmidt", ("WORK", "06131 9876543"))
    push(app)
    with app.app_context():
        for entry in db.session.scalars(select(PhonebookEntry)).all():
            delete_manual(entry)
        db.session.commit()
    push(app)
    touched = {path for method, path in writes(placetel_contacts_api) if method in ("PUT", "DELETE")}
    assert touched == {"/v2/contacts/501"}
    assert not any(method == "GET" for method, _path in writes(placetel_contacts_api))


def test_rate_limit_is_waited_out_as_placetel_says(app, placetel_contacts_api, monkeypatch):
    waits = []
    monkeypatch.setattr(placetel_contacts, "_sleep", waits.append)
    add_entry(app, "Anna", "Schmidt", ("WORK", "06131 9876543"))
    placetel_contacts_api.post(api(app), [
        {"status_code": 429, "headers": {"Retry-After": "7"}, "json": {"error": "Too many requests"}},
        {"status_code": 201, "json": {"id": 777}},
    ])
    run = push(app)
    assert (run.status, run.created) == ("success", 1)
    assert waits == [7]
    with app.app_context():
        assert db.session.scalar(select(PlacetelContact.placetel_id)) == "777"


def test_failed_push_keeps_what_placetel_already_has_and_says_why(app, placetel_contacts_api):
    for number in range(3):
        add_entry(app, f"Person{number}", "Test", ("WORK", f"06131 98765{number:02d}"))
    placetel_contacts_api.post(api(app), [{"status_code": 201, "json": {"id": 901}},
                                          {"status_code": 503, "text": "down"}])
    run = push(app)
    assert (run.status, run.created) == ("failed", 1)
    assert "Placetel" in run.error
    with app.app_context():
        assert list(db.session.scalars(select(PlacetelContact.placetel_id))) == ["901"]
    placetel_contacts_api.post(api(app), [{"status_code": 201, "json": {"id": 902}},
                                          {"status_code": 201, "json": {"id": 903}}])
    assert push(app).created == 2  # the next push completes it, without a duplicate of 901


def test_contact_deleted_in_placetel_is_created_again(app, placetel_contacts_api):
    anna = add_entry(app, "Anna", "Schmidt", ("WORK", "06131 9876543"))
    push(app)
    with app.app_context():
        save_manual(db.session.get(PhonebookEntry, anna),
                    ManualEntryData(given_name="Anna", family_name="Schmidt-Lang", phones=[("WORK", "06131 9876543")]))
        db.session.commit()
    placetel_contacts_api.put(requests_mock_matcher(app), status_code=404, json={"error": "Not found"})
    run = push(app)
    assert (run.status, run.updated) == ("success", 1)
    with app.app_context():
        assert db.session.scalar(select(PlacetelContact.placetel_id)) == "502"


def test_push_needs_an_api_token(app, requests_mock):
    add_entry(app, "Anna", "Schmidt", ("WORK", "06131 9876543"))
    with app.app_context(), pytest.raises(placetel_contacts.PushRefused, match="API-Token"):
        placetel_contacts.push_contacts()
    assert requests_mock.request_history == []


def test_cli_dry_run_previews_and_push_prints_its_result(app, runner, placetel_contacts_api):
    add_entry(app, "Anna", "Schmidt", ("WORK", "06131 9876543"))
    add_entry(app, "Ben", "Braun", ("MOBILE", "0170 1234567"))
    preview = runner.invoke(args=["placetel", "push-contacts", "--dry-run"])
    assert preview.exit_code == 0
    assert "Vorschau: 2 neu, 0 geändert, 0 gelöscht, 0 unverändert." in preview.output
    assert placetel_contacts_api.request_history == []
    result = runner.invoke(args=["placetel", "push-contacts"])
    assert result.exit_code == 0, result.output
    assert "Übertragen: 2 neu, 0 geändert, 0 gelöscht, 0 unverändert." in result.output
    placetel_contacts_api.post(api(app), status_code=401, json={"error": "Unauthorized"})
    add_entry(app, "Carla", "Christ", ("WORK", "06131 7777777"))
    failed = runner.invoke(args=["placetel", "push-contacts"])
    assert failed.exit_code != 0
    assert "Übertragung fehlgeschlagen" in failed.output


def test_phonebook_sync_pushes_when_switched_on(app, placetel_contacts_api):
    from telephone.sync import engine

    url = "https://files.example.com/telefonbuch.csv"
    placetel_contacts_api.get(url, text="internal_id,display_name,family_name,given_name,phone\n"
                                         "1,Anna Schmidt,Schmidt,Anna,WORK:+4961311234567\n")
    source_id = add_source(app, url=url)
    engine.run_in_app(app, source_id, "manual")  # switched off: the sync alone
    assert writes(placetel_contacts_api) == [("GET", "/telefonbuch.csv")]
    with app.app_context():
        site_settings.set_value("placetel.push_contacts", "1")
        db.session.commit()
    placetel_contacts_api.reset_mock()
    engine.run_in_app(app, source_id, "schedule")
    assert writes(placetel_contacts_api) == [("GET", "/telefonbuch.csv"), ("POST", "/v2/contacts")]
    placetel_contacts_api.get(url, status_code=500)
    placetel_contacts_api.reset_mock()
    engine.run_in_app(app, source_id, "schedule")  # a failed sync pushes nothing
    assert writes(placetel_contacts_api) == [("GET", "/telefonbuch.csv")]


def test_devices_page_previews_and_starts_a_push(client, auth, app, placetel_contacts_api):
    add_entry(app, "Anna", "Schmidt", ("WORK", "06131 9876543"))
    auth.login("admin", admin=True)
    assert "Noch nie übertragen." in client.get("/settings/devices").text
    preview = client.get("/settings/devices/push/preview", headers={"HX-Request": "true"})
    assert "Vorschau: 1 neu, 0 geändert, 0 gelöscht, 0 unverändert." in preview.text
    assert placetel_contacts_api.request_history == []
    response = client.post("/settings/devices/push")
    assert response.status_code == 302
    for thread in __import__("threading").enumerate():
        if thread.name == "placetel-contacts-push":
            thread.join(10)
    status = client.get("/settings/devices/push/status").text
    assert "erfolgreich" in status and "1 neu, 0 geändert, 0 gelöscht, 0 unverändert" in status


def test_the_page_after_jetzt_uebertragen_already_shows_the_push_running(client, auth, app, placetel_contacts_api,
                                                                         monkeypatch):
    """The run is recorded before the answer goes out: the next page polls it, even if the thread is slow."""
    started = []
    monkeypatch.setattr(placetel_contacts, "push_contacts", lambda trigger, run_id: started.append(run_id))
    add_entry(app, "Anna", "Schmidt", ("WORK", "06131 9876543"))
    auth.login("admin", admin=True)
    page = client.post("/settings/devices/push", follow_redirects=True).text
    assert "Übertragung läuft" in page and 'hx-trigger="every 2s"' in page
    assert "Noch nie übertragen." not in page
    again = client.post("/settings/devices/push", follow_redirects=True).text
    assert "Eine Übertragung läuft bereits." in again
