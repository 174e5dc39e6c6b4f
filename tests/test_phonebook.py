"""Phonebook pages: list, search, detail, manual entries, copy, and the admin's sources pages."""
import io

import pytest
from sqlalchemy import func, select

from telephone import crypto, site_settings
from telephone.extensions import db
from telephone.models import PhonebookEntry, SyncRun, SyncSource
from telephone.phonebook.entries import ManualEntryData, save_manual
from telephone.sync import engine, liveness

from .conftest import pager_link
from .phonebook_helpers import FIXTURE, add_source, entries, sync


def add_manual(app, name, **fields) -> int:
    with app.app_context():
        entry = save_manual(None, ManualEntryData(display_name=name, **fields))
        db.session.commit()
        return entry.id


def test_list_shows_synced_and_manual_sorted_together(app, client, auth):
    source_id = add_source(app, "Intranet-CSV")
    sync(app, source_id, FIXTURE.read_bytes())
    add_manual(app, "Ärztehaus Mitte", phones=[("WORK", "06131 555")])
    add_manual(app, "zentrale", gender="female")
    auth.login("anna")
    page = client.get("/phonebook/").text
    order = [page.index(name) for name in ("Ärztehaus Mitte", "Jörg Müller", "Schmidt, Anna",
                                           "Weber &amp; Söhne &#34;Zentrale&#34;", "zentrale")]
    assert order == sorted(order)
    assert 'title="Intranet-CSV">S</span>' in page
    assert ">M</span>" in page
    assert "Herr" in page and "Frau" in page and "Prof. Dr." in page
    assert 'href="tel:+496131123456"' in page and 'href="tel:+4917012345678"' in page
    assert "tel:+496131123499" not in page  # fax only in the details


@pytest.mark.parametrize("query, found", [
    ("schmidt", ["Schmidt, Anna"]),
    ("muller", ["Jörg Müller"]),
    ("MÜLLER jörg", ["Jörg Müller"]),
    ("06131 123456", ["Schmidt, Anna"]),
    ("+49 6131 123456", ["Schmidt, Anna"]),
    ("0170 12345678", ["Schmidt, Anna"]),
    ("123499", ["Schmidt, Anna"]),
    ("0221", ["Jörg Müller"]),
    ("niemand", []),
])
def test_search_over_names_and_numbers_in_any_notation(app, client, auth, query, found):
    sync(app, add_source(app), FIXTURE.read_bytes())
    auth.login("anna")
    response = client.get("/phonebook/", query_string={"q": query},
                          headers={"HX-Request": "true", "HX-Target": "phonebook-list"})
    assert response.status_code == 200
    assert "<html" not in response.text  # only the list fragment
    for name in ["Schmidt, Anna", "Jörg Müller"]:
        assert (name in response.text) == (name in found)


def test_list_is_paginated(app, client, auth):
    app.config["PAGE_SIZE"] = 2
    for name in ("Anton", "Berta", "Cäsar"):
        add_manual(app, name)
    auth.login("anna")
    first = client.get("/phonebook/").text
    assert "Anton" in first and "Berta" in first and "Cäsar" not in first
    assert "3 Treffer" in first
    second = client.get(pager_link(first, "next")).text
    assert "Cäsar" in second and "Berta" not in second and pager_link(second, "next") is None
    assert "Anton" in client.get(pager_link(second, "prev")).text
    last = client.get(pager_link(first, "last")).text
    assert "Berta" in last and "Cäsar" in last and "Anton" not in last


def test_detail_shows_all_numbers_and_emails(app, client, auth):
    sync(app, add_source(app, "CRM"), FIXTURE.read_bytes())
    with app.app_context():
        entry_id = db.session.scalar(select(PhonebookEntry.id).where(PhonebookEntry.internal_id == "1"))
    auth.login("anna")
    page = client.get(f"/phonebook/{entry_id}").text
    assert "06131 123499" in page and "Fax" in page
    assert "tel:+496131123499" not in page and '"number": "+496131123499"' not in page  # a fax is not dialled
    assert "mailto:anna.schmidt@example.com" in page
    assert "Neuen manuellen Datensatz erstellen" in page
    assert f"/phonebook/{entry_id}/edit" not in page


def test_create_manual_entry_and_find_its_number(app, client, auth):
    auth.login("anna")
    response = client.post("/phonebook/new", data={
        "given_name": "Paul", "family_name": "Pförtner", "gender": "male", "work_phones": "06131 98765, 06131 98766",
        "mobile_phones": "", "fax_phones": "", "emails": "paul@example.de"})
    assert response.status_code == 302
    manual = entries(app, None)["Paul Pförtner"]
    assert manual["phones"] == [{"type": "WORK", "number": "06131 98765"}, {"type": "WORK", "number": "06131 98766"}]
    with app.test_request_context():
        from telephone import numbers

        assert [m.name for m in numbers.lookup_caller("+49613198766").matches] == ["Paul Pförtner"]


def test_invalid_manual_entry_keeps_input_with_german_messages(app, client, auth):
    auth.login("anna")
    response = client.post("/phonebook/new", data={"display_name": "", "given_name": "", "family_name": "",
                                                   "work_phones": "abc", "emails": "kein-at", "company": "Firma X"})
    assert response.status_code == 422
    assert "Bitte einen Namen eingeben" in response.text
    assert "„abc“ ist keine gültige Telefonnummer." in response.text
    assert "„kein-at“ ist keine gültige E-Mail-Adresse." in response.text
    assert 'value="Firma X"' in response.text
    assert entries(app, None) == {}


def test_edit_and_delete_manual_entry(app, client, auth):
    entry_id = add_manual(app, "Alt", phones=[("WORK", "030 111222")])
    auth.login("anna")
    assert 'value="030 111222"' in client.get(f"/phonebook/{entry_id}/edit").text
    response = client.post(f"/phonebook/{entry_id}/edit", data={"display_name": "Neu", "work_phones": "030 333444"})
    assert response.status_code == 302
    assert entries(app, None)["Neu"]["phones"] == [{"type": "WORK", "number": "030 333444"}]
    assert client.post(f"/phonebook/{entry_id}/delete").status_code == 302
    assert entries(app, None) == {}


def test_synced_entries_are_read_only(app, client, auth):
    sync(app, add_source(app), FIXTURE.read_bytes())
    with app.app_context():
        entry_id = db.session.scalar(select(PhonebookEntry.id).where(PhonebookEntry.internal_id == "2"))
    auth.login("anna")
    assert client.get(f"/phonebook/{entry_id}/edit").status_code == 403
    assert client.post(f"/phonebook/{entry_id}/edit", data={"display_name": "X"}).status_code == 403
    assert client.post(f"/phonebook/{entry_id}/delete").status_code == 403


def test_copy_to_manual_entry_survives_later_syncs(app, client, auth):
    source_id = add_source(app)
    sync(app, source_id, FIXTURE.read_bytes())
    with app.app_context():
        entry_id = db.session.scalar(select(PhonebookEntry.id).where(PhonebookEntry.internal_id == "1"))
    auth.login("anna")
    form = client.get(f"/phonebook/new?copy={entry_id}").text
    assert 'value="Schmidt, Anna"' in form and 'value="+496131123456"' in form and 'value="Dr."' in form
    response = client.post("/phonebook/new", data={
        "display_name": "Schmidt, Anna", "given_name": "Anna", "family_name": "Schmidt", "honorific_prefix": "Dr.",
        "gender": "female", "work_phones": "+496131123456", "mobile_phones": "+4917012345678",
        "fax_phones": "+496131123499", "emails": "anna.schmidt@example.com"})
    assert response.status_code == 302
    header = FIXTURE.read_text("utf-8").splitlines()[0]
    assert sync(app, source_id, header + "\n", allow_empty=True).deleted == 3
    copy = entries(app, None)["Schmidt, Anna"]
    assert copy["phones"][2] == {"type": "WORK_FAX", "number": "+496131123499"}
    assert copy["emails"] == [{"type": "WORK", "address": "anna.schmidt@example.com"}]


# --------------------------------------------------------------------------- sources (admin)

SOURCE_PAGES = ["/phonebook/sources", "/phonebook/sources/new", "/phonebook/sources/1", "/phonebook/sources/1/edit"]


@pytest.mark.parametrize("path", SOURCE_PAGES)
def test_sources_pages_are_for_admins_only(app, client, auth, path):
    add_source(app)
    auth.login("anna")
    assert client.get(path).status_code == 403
    assert client.post("/phonebook/sources/1/sync").status_code == 403
    assert client.post("/phonebook/sources/1/delete").status_code == 403
    assert client.post("/phonebook/sources/limits", data={"max_per_upload": 1, "max_total": 1}).status_code == 403


def test_admin_creates_source_with_write_only_password(app, client, auth):
    auth.login("chef", admin=True)
    form = client.get("/phonebook/sources/new?type=csv").text
    assert 'value="CSV-Datei"' in form and "URL der CSV-Datei" in form and "nicht gesetzt" in form
    response = client.post("/phonebook/sources/new", data={
        "type": "csv", "name": "", "description": "Export aus der Warenwirtschaft", "interval": "weekly",
        "run_at": "06:15", "weekday": "4", "enabled": "y", "opt_url": "https://files.example.de/tb.csv",
        "opt_login": "sync@example.de", "opt_password": "streng-geheim"})
    assert response.status_code == 302
    with app.app_context():
        source = db.session.scalars(select(SyncSource)).one()
        assert (source.name, source.interval, source.run_at, source.weekday) == ("CSV-Datei", "weekly", "06:15", 4)
        assert crypto.decrypt(source.password_encrypted) == "streng-geheim"
        source_id = source.id
    edit = client.get(f"/phonebook/sources/{source_id}/edit").text
    assert "streng-geheim" not in edit and "gesetzt" in edit
    assert 'value="https://files.example.de/tb.csv"' in edit
    # empty password keeps the stored one
    client.post(f"/phonebook/sources/{source_id}/edit", data={
        "type": "csv", "name": "Warenwirtschaft", "interval": "daily", "run_at": "03:00", "weekday": "0",
        "enabled": "y", "opt_url": "https://files.example.de/neu.csv", "opt_login": "", "opt_password": ""})
    with app.app_context():
        source = db.session.get(SyncSource, source_id)
        assert (source.name, source.url, source.interval) == ("Warenwirtschaft", "https://files.example.de/neu.csv", "daily")
        assert crypto.decrypt(source.password_encrypted) == "streng-geheim"
    listing = client.get("/phonebook/sources").text
    assert "Warenwirtschaft" in listing and "täglich um 03:00" in listing and "noch nie" in listing


def test_invalid_source_form_keeps_input(app, client, auth):
    auth.login("chef", admin=True)
    response = client.post("/phonebook/sources/new", data={
        "type": "csv", "name": "Mein CSV", "interval": "daily", "run_at": "25:99", "weekday": "0",
        "opt_url": "keine-url"})
    assert response.status_code == 422
    assert "Bitte eine Uhrzeit" in response.text and "https://" in response.text
    assert 'value="Mein CSV"' in response.text
    with app.app_context():
        assert db.session.scalars(select(SyncSource)).all() == []


def test_sync_button_runs_in_background_and_list_shows_result(app, client, auth, requests_mock):
    url = "https://files.example.de/tb.csv"
    requests_mock.get(url, content=FIXTURE.read_bytes())
    source_id = add_source(app, "Intranet", url=url)
    auth.login("chef", admin=True)
    response = client.post(f"/phonebook/sources/{source_id}/sync")
    assert response.status_code == 302
    engine.wait_for_background_syncs()
    assert len(entries(app, source_id)) == 3
    page = client.get("/phonebook/sources").text
    assert "erfolgreich" in page and "3 neu" in page


def test_sources_page_shows_running_sync_and_polls(app, client, auth):
    source_id = add_source(app)
    host, pid, marker = liveness.this_process()
    with app.app_context():
        db.session.add(SyncRun(source_id=source_id, trigger="manual", status="running", progress=2000,
                               host=host, pid=pid, process_marker=marker))
        db.session.commit()
    auth.login("chef", admin=True)
    with app.app_context(), engine.source_lock(source_id):  # held while a sync of this process runs
        page = client.get("/phonebook/sources").text
        assert "Synchronisation läuft" in page and "2000 Datensätze gelesen" in page
        assert 'hx-trigger="every 1s"' in page
        fragment = client.get("/phonebook/sources", headers={"HX-Request": "true", "HX-Target": "sources-table"}).text
        assert "<html" not in fragment and "Synchronisation läuft" in fragment
        response = client.post(f"/phonebook/sources/{source_id}/sync")
        assert response.status_code == 302
        assert "Synchronisation läuft bereits" in client.get("/phonebook/sources").text


def test_upload_preview_and_sync_on_the_source_page(app, client, auth):
    source_id = add_source(app)
    auth.login("chef", admin=True)
    response = client.post(f"/phonebook/sources/{source_id}/run", data={
        "action": "preview", "file": (io.BytesIO(FIXTURE.read_bytes()), "tb.csv")},
        content_type="multipart/form-data")
    assert response.status_code == 200
    assert "Vorschau" in response.text and "Schmidt, Anna" in response.text
    assert entries(app, source_id) == {}
    response = client.post(f"/phonebook/sources/{source_id}/run", data={
        "action": "sync", "file": (io.BytesIO(FIXTURE.read_bytes()), "tb.csv")}, content_type="multipart/form-data")
    # post/redirect/get: reloading the page that shows the result does not sync again
    assert response.status_code == 302
    assert response.location.startswith(f"/phonebook/sources/{source_id}?run=")
    page = client.get(response.location).text
    assert "Synchronisation erfolgreich" in page and "3 neu" in page
    assert len(entries(app, source_id)) == 3
    with app.app_context():
        runs_before = db.session.scalar(select(func.count(SyncRun.id)))
    client.get(response.location)
    with app.app_context():
        assert db.session.scalar(select(func.count(SyncRun.id))) == runs_before


def test_failed_upload_lists_problems_with_lines(app, client, auth):
    source_id = add_source(app)
    auth.login("chef", admin=True)
    data = "internal_id,display_name,family_name,given_name,gender\n1,A,A,A,x\n1,B,B,B,\n"
    response = client.post(f"/phonebook/sources/{source_id}/run", data={
        "action": "sync", "file": (io.BytesIO(data.encode()), "tb.csv")}, content_type="multipart/form-data")
    assert response.status_code == 302
    page = client.get(response.location).text
    assert "nichts wurde geändert" in page
    assert "Zeile 2" in page and "Zeile 3" in page


def test_delete_source_removes_its_entries_only(app, client, auth):
    source_id = add_source(app)
    sync(app, source_id, FIXTURE.read_bytes())
    add_manual(app, "Bleibt")
    auth.login("chef", admin=True)
    assert client.post(f"/phonebook/sources/{source_id}/delete").status_code == 302
    with app.app_context():
        assert db.session.get(SyncSource, source_id) is None
        assert db.session.scalars(select(PhonebookEntry.display_name)).all() == ["Bleibt"]


def test_admin_sets_limits_on_the_sources_page(app, client, auth):
    auth.login("chef", admin=True)
    page = client.get("/phonebook/sources").text
    assert 'value="5000"' in page and 'value="10000"' in page
    assert client.post("/phonebook/sources/limits", data={"max_per_upload": "0", "max_total": "x"}).status_code == 422
    assert client.post("/phonebook/sources/limits", data={
        "max_per_upload": "100", "max_total": "200", "max_delete_share": "101", "download_deadline": "60"}
    ).status_code == 422
    assert client.post("/phonebook/sources/limits", data={
        "max_per_upload": "100", "max_total": "200", "max_delete_share": "0", "download_deadline": "60"}
    ).status_code == 302
    with app.app_context():
        assert site_settings.get_int("phonebook.max_per_upload") == 100
        assert site_settings.get_int("phonebook.max_total") == 200
        assert site_settings.get_int("phonebook.max_delete_share") == 0
        assert site_settings.get_int("phonebook.download_deadline") == 60


def test_nav_links(app, client, auth):
    auth.login("anna")
    page = client.get("/phonebook/").text
    assert "Telefonbuch" in page and "/phonebook/sources" not in page
    client.post("/logout")
    auth.login("chef", admin=True)
    assert "/phonebook/sources" in client.get("/phonebook/").text
