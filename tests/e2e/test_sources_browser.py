"""Phonebook sources in a real browser: each type created and tested through the form, wrong URLs,
failed runs in the list, and the confirmation of a mass deletion. External APIs are faked in-process."""
from __future__ import annotations

import re

import pytest
import requests_mock

from telephone.extensions import db
from telephone.models import SyncRun, SyncSource
from telephone.sync.sources.exchange import ExchangeSource

from .. import test_source_exchange as exchange_fake
from ..conftest import PASSWORD, make_user
from .conftest import shots_dir
from ..download_servers import csv_server
from ..phonebook_helpers import add_source, csv_rows, entries, sync
from ..servers import serve_app

pytestmark = pytest.mark.csrf

SHOTS = shots_dir("sync")
VIEWPORTS = [pytest.param((1280, 800), id="desktop"), pytest.param((390, 844), id="phone")]

M365_LOGIN = "https://login.microsoftonline.com/contoso.onmicrosoft.com"
SUGAR = "https://crm.example.de"
SALESFORCE = "https://acme.my.salesforce.com"
CSV_URL = "https://files.example.de/telefonbuch.csv"


def _fake_apis(mock: requests_mock.Mocker) -> None:
    """Microsoft Graph with Entra ID, SugarCRM and Salesforce answering with two contacts each."""
    mock.get(f"{M365_LOGIN}/v2.0/.well-known/openid-configuration", json={
        "token_endpoint": f"{M365_LOGIN}/oauth2/v2.0/token", "authorization_endpoint": f"{M365_LOGIN}/oauth2/v2.0/authorize",
        "issuer": "https://login.microsoftonline.com/9188040d-6c67-4c5b-b112-36a304b66dad/v2.0"})
    mock.post(f"{M365_LOGIN}/oauth2/v2.0/token", json={"token_type": "Bearer", "expires_in": 3599, "access_token": "t"})
    mock.get("https://graph.microsoft.com/v1.0/users/telefonbuch@contoso.de/contacts", json={"value": [
        {"id": f"m{n}", "displayName": f"Graph Kontakt {n}", "givenName": "Graph", "surname": f"Kontakt{n}",
         "businessPhones": [f"+49 6131 12340{n}"], "emailAddresses": []} for n in (1, 2)]})
    mock.post(f"{SUGAR}/rest/v11/oauth2/token", json={"access_token": "a", "refresh_token": "r", "expires_in": 3600})
    mock.get(f"{SUGAR}/rest/v11/Contacts", json={"next_offset": -1, "records": [
        {"id": f"s{n}", "first_name": "Sugar", "last_name": f"Kontakt{n}", "phone_work": f"06131 5550{n}",
         "email": []} for n in (1, 2)]})
    mock.post(f"{SALESFORCE}/services/oauth2/token", json={"access_token": "x", "instance_url": SALESFORCE,
                                                           "token_type": "Bearer"})
    mock.get(re.compile(re.escape(f"{SALESFORCE}/services/data/") + ".*/query"), json={"done": True, "records": [
        {"Id": f"003{n}", "FirstName": "Force", "LastName": f"Kontakt{n}", "Phone": f"+49 30 7770{n}"}
        for n in (1, 2)]})


@pytest.fixture
def site(app, monkeypatch):
    """The app served in a thread, an admin "chef", and the fakes of every external system."""
    make_user(app, "chef", admin=True)
    folder = exchange_fake.FakeFolder([exchange_fake.contact(1), exchange_fake.contact(2)])
    monkeypatch.setattr(ExchangeSource, "_account", lambda self: exchange_fake.FakeAccount(folder))
    with requests_mock.Mocker(real_http=True) as mock:
        _fake_apis(mock)
        with serve_app(app) as base:
            yield base, mock


@pytest.fixture
def page_for(browser):
    contexts = []

    def open_page(base: str, viewport: tuple[int, int], javascript: bool = True):
        context = browser.new_context(locale="de-DE", viewport={"width": viewport[0], "height": viewport[1]},
                                      java_script_enabled=javascript)
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(10000)
        page.goto(f"{base}/login")
        page.fill("input[name=username]", "chef")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(re.compile(r".*/addresses/"))
        return page

    yield open_page
    for context in contexts:
        context.close()


def _choose_type(page, label: str) -> None:
    """Pick a source type as a person does; htmx re-renders the form with that type's fields."""
    if page.locator("#type option:checked").inner_text() == label:
        return
    with page.expect_response(lambda response: response.url.endswith("/phonebook/sources/new")
                              and response.request.method == "POST"):
        page.select_option("#type", label=label)
    # the swapped-in form names the source after its type
    page.wait_for_function("label => document.querySelector('#name').value === label", arg=label)


def _shot(page, name: str, viewport: tuple[int, int]) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}-{viewport[0]}.png"), full_page=True)


TYPES = {
    "m365": ("Microsoft 365", {"Verzeichnis-ID (Tenant-ID)": "contoso.onmicrosoft.com",
                               "Anwendungs-ID (Client-ID)": "11111111-2222-3333-4444-555555555555",
                               "Geheimer Clientschlüssel": "s3cr3t~client",
                               "Postfach (Benutzerprinzipalname)": "telefonbuch@contoso.de"}, "Graph Kontakt 1"),
    "exchange": ("Exchange Server", {"Server": "https://mail.firma.de", "Benutzer": "FIRMA\\telefonbuch",
                                     "Passwort": "Exch4nge", "Postfach": "zentrale@firma.de"}, "Kontakt 1"),
    "sugarcrm": ("SugarCRM", {"Adresse der Sugar-Instanz": SUGAR, "Benutzername": "telefon",
                              "Passwort": "Sugar-Passw0rt"}, "Sugar Kontakt1"),
    "salesforce": ("Salesforce", {"My-Domain-Adresse": SALESFORCE, "Consumer Key": "3MVG9key",
                                  "Consumer Secret": "consumer-SECRET"}, "Force Kontakt1"),
    "csv": ("CSV-Datei", {"URL der CSV-Datei": None}, "Person 1"),
}


@pytest.mark.parametrize("viewport", VIEWPORTS)
@pytest.mark.parametrize("type_name", list(TYPES))
def test_each_source_type_is_created_and_tested_through_the_form(app, site, page_for, type_name, viewport):
    base, _mock = site
    label, values, first_name = TYPES[type_name]
    with csv_server(csv_rows(2).encode()) as csv_url:
        page = page_for(base, viewport)
        page.goto(f"{base}/phonebook/sources/new")
        _choose_type(page, label)
        name = page.get_by_label("Name", exact=True)
        for field_label in values:
            page.get_by_label(field_label, exact=True).wait_for()
        if type_name == "m365":
            _shot(page, "source-form-m365", viewport)
        name.fill(f"Test {label}")
        for field_label, value in values.items():
            page.get_by_label(field_label, exact=True).fill(value or csv_url)
        page.get_by_role("button", name="Speichern").click()
        page.wait_for_url(re.compile(r".*/phonebook/sources/\d+$"))
        assert f"Schnittstelle „Test {label}“ angelegt." in page.inner_text("main")

        page.get_by_role("button", name="Verbindung testen").click()
        page.locator(".flash-success", has_text="Verbindung erfolgreich").wait_for()

        page.get_by_role("button", name="Vorschau").click()
        result = page.locator("#sync-result")
        result.get_by_text("Vorschau – noch nichts geändert").wait_for()
        assert "2 Datensätze: 2 neu" in result.inner_text()
        assert first_name in result.inner_text()
        _shot(page, f"source-{type_name}-preview", viewport)
    with app.app_context():
        source = db.session.scalars(db.select(SyncSource)).one()
        assert source.type == type_name and source.name == f"Test {label}"


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_type_switch_works_without_javascript(app, site, page_for, viewport):
    base, _mock = site
    page = page_for(base, viewport, javascript=False)
    page.goto(f"{base}/phonebook/sources/new")
    page.select_option("#type", label="SugarCRM")
    page.get_by_role("button", name="Typ wechseln").click()
    page.get_by_label("Adresse der Sugar-Instanz", exact=True).fill(SUGAR)
    page.get_by_label("Benutzername", exact=True).fill("telefon")
    page.get_by_label("Passwort", exact=True).fill("Sugar-Passw0rt")
    assert page.get_by_label("Name", exact=True).input_value() == "SugarCRM"
    page.get_by_role("button", name="Speichern").click()
    page.wait_for_url(re.compile(r".*/phonebook/sources/\d+$"))
    page.get_by_role("button", name="Verbindung testen").click()
    page.locator(".flash-success", has_text="Verbindung erfolgreich").wait_for()
    with app.app_context():
        assert db.session.scalars(db.select(SyncSource.type)).all() == ["sugarcrm"]


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_file_url_is_refused_next_to_the_field(app, site, page_for, viewport):
    base, _mock = site
    page = page_for(base, viewport)
    page.goto(f"{base}/phonebook/sources/new")
    _choose_type(page, "CSV-Datei")
    url_field = page.get_by_label("URL der CSV-Datei", exact=True)
    url_field.fill("file:///etc/passwd")
    page.get_by_role("button", name="Speichern").click()
    error = page.locator("#opt_url-errors")
    error.wait_for()
    assert error.inner_text() == "Nur Adressen mit http:// oder https:// sind erlaubt."
    assert page.get_by_label("URL der CSV-Datei", exact=True).input_value() == "file:///etc/passwd"
    _shot(page, "source-form-file-url", viewport)
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count(SyncSource.id))) == 0


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_sources_list_shows_the_failed_run_not_the_later_preview(app, site, page_for, viewport):
    base, mock = site
    mock.get(CSV_URL, status_code=401)
    source_id = add_source(app, name="Intranet-CSV", url=CSV_URL)
    page = page_for(base, viewport)
    page.goto(f"{base}/phonebook/sources")
    page.get_by_title("Jetzt synchronisieren").click()
    table = page.locator("#sources-table")
    table.get_by_text("Anmeldung abgelehnt (HTTP 401)").wait_for()
    # a successful preview from an uploaded file afterwards must not hide the failure
    page.goto(f"{base}/phonebook/sources/{source_id}")
    page.set_input_files("input[name=file]", files=[{"name": "tb.csv", "mimeType": "text/csv",
                                                     "buffer": csv_rows(2).encode()}])
    page.get_by_role("button", name="Vorschau").click()
    page.locator("#sync-result").get_by_text("Vorschau – noch nichts geändert").wait_for()
    page.goto(f"{base}/phonebook/sources")
    row = page.locator("#sources-table tr", has_text="Intranet-CSV")
    assert "fehlgeschlagen" in row.inner_text()
    assert "Anmeldung abgelehnt (HTTP 401)" in row.inner_text()
    assert "Vorschau" not in row.inner_text()
    reason = row.get_by_text("Anmeldung abgelehnt (HTTP 401)")
    box = reason.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= viewport[0]  # readable without scrolling sideways
    _shot(page, "sources-list-failed", viewport)


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_mass_deletion_waits_for_the_admin(app, site, page_for, viewport):
    base, mock = site
    source_id = add_source(app, name="Intranet-CSV", url=CSV_URL)
    assert sync(app, source_id, csv_rows(100)).ok
    mock.get(CSV_URL, text=csv_rows(60))
    page = page_for(base, viewport)
    page.goto(f"{base}/phonebook/sources/{source_id}")
    page.get_by_role("button", name="Jetzt synchronisieren").click()
    page.wait_for_url(re.compile(r".*\?run=\d+"))
    confirm = page.locator("#mass-delete")
    assert "Die Synchronisation würde 40 von 100 Einträgen löschen" in confirm.inner_text()
    assert "Synchronisation fehlgeschlagen – nichts wurde geändert." in page.inner_text(".flash-error")
    assert len(entries(app, source_id)) == 100
    history = page.locator("table.stack-on-phone").bounding_box()
    assert history["x"] + history["width"] <= viewport[0]  # the run history fits without scrolling sideways
    _shot(page, "source-mass-delete", viewport)
    page.reload()  # reloading the result page does not run the sync again
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count(SyncRun.id)).where(SyncRun.trigger == "manual")) == 1

    page.get_by_role("button", name="Löschen bestätigen und synchronisieren").click()
    page.locator("#sync-result").get_by_text("Synchronisation erfolgreich").wait_for()
    assert "40 gelöscht" in page.inner_text("#sync-result")
    assert page.locator("#mass-delete").count() == 0
    assert len(entries(app, source_id)) == 60
