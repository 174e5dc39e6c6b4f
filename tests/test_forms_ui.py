"""Forms and page furniture seen by every user: htmx swaps 422 answers, effective defaults in the
Telefonie form, advice for admins, one page header pattern, favicon, CSV export header.

The journeys themselves run in a real browser: tests/e2e/test_form_journeys.py.
"""
from __future__ import annotations

import json
import re

import pytest

from telephone import create_app, site_settings
from telephone.extensions import db

from . import conftest
from .conftest import make_user

HTMX = {"HX-Request": "true"}
SIP_USERS_URL = "https://api.placetel.de/v2/sip_users"


def htmx_config(html: str) -> dict:
    match = re.search(r"<meta name=\"htmx-config\" content='([^']+)'>", html)
    assert match, "page has no htmx-config"
    return json.loads(match.group(1))


def test_every_page_lets_htmx_swap_422_forms_and_report_other_errors(client, auth):
    auth.login("anna")
    config = htmx_config(client.get("/addresses/new").text)
    handling = {rule["code"]: rule for rule in config["responseHandling"]}
    assert handling["422"]["swap"] is True
    assert handling["[45].."] == {"code": "[45]..", "swap": False, "error": True}
    # 422 is listed before the catch-all for errors: htmx takes the first matching rule.
    codes = [rule["code"] for rule in config["responseHandling"]]
    assert codes.index("422") < codes.index("[45]..")


def test_the_error_toast_texts_are_translated(client, auth, app):
    auth.login("anna")
    page = client.get("/addresses/").text
    assert 'data-failed="Die Aktion ist fehlgeschlagen (Fehler {status})."' in page
    assert "Keine Verbindung zum Server." in page
    with app.app_context():
        from telephone.models import User

        user = db.session.scalar(db.select(User).filter_by(username="anna"))
        user.locale = "en"
        db.session.commit()
    client.post("/language", data={"lang": "en"})
    page = client.get("/addresses/").text
    assert 'data-failed="The action failed (error {status})."' in page
    assert "No connection to the server." in page


def test_wrong_address_input_answers_422_with_the_form_and_what_was_typed(client, auth):
    auth.login("anna")
    response = client.post("/addresses/new", data={"kind": "company", "name": "Müller GmbH", "email": "kaputt@"},
                           headers=HTMX)
    assert response.status_code == 422
    assert "Bitte eine gültige E-Mail-Adresse eingeben" in response.text
    assert 'value="kaputt@"' in response.text and 'value="Müller GmbH"' in response.text


# --------------------------------------------------------------------------- Telefonie defaults


@pytest.fixture
def admin(auth):
    auth.login("chef", admin=True)


def test_fresh_install_shows_the_default_region_and_saves_it(client, admin, app):
    page = client.get("/settings/telephony").text
    assert re.search(r'id="default_region"[^>]*value="DE"', page)
    assert re.search(r'id="expire_minutes"[^>]*value="2"', page)  # ringing calls close after 2 minutes
    response = client.post("/settings/telephony", data={"default_region": "DE", "routing": "all",
                                                        "expire_minutes": "10"})
    assert response.status_code == 302
    with app.app_context():
        assert site_settings.get("numbers.default_region") == "DE"


def test_an_empty_region_means_the_default(client, admin, app):
    response = client.post("/settings/telephony", data={"default_region": "", "routing": "all",
                                                        "expire_minutes": "10"})
    assert response.status_code == 302
    with app.app_context():
        assert site_settings.get("numbers.default_region") == "DE"


def test_the_region_default_follows_the_environment(database_url):
    app = create_app(conftest.test_config(database_url, TELEPHONE_DEFAULT_REGION="AT"))
    try:
        make_user(app, "chef", admin=True)
        client = app.test_client()
        client.post("/login", data={"username": "chef", "password": "geheim-123"})
        page = client.get("/settings/telephony").text
        assert re.search(r'id="default_region"[^>]*value="AT"', page)
        assert "Leer gelassen gilt die Voreinstellung AT." in page
    finally:
        with app.app_context():
            conftest._empty_tables()
            db.session.remove()
            db.engine.dispose()


def test_routing_choices_are_radio_buttons_without_a_bullet_list(client, admin):
    page = client.get("/settings/telephony").text
    assert '<ul id="routing"' not in page
    assert re.search(r'<fieldset id="routing" class="choices">\s*<legend>Anruf-Benachrichtigungen</legend>', page)
    assert page.count('name="routing"') == 2


def test_connection_test_without_token_tells_the_admin_what_to_do(client, admin, requests_mock):
    html = client.post("/settings/telephony/test-connection", headers=HTMX).text
    assert "Placetel-Portal unter Administration → Einstellungen → API" in html
    assert "wenden Sie sich an die Administration" not in html
    assert requests_mock.call_count == 0


@pytest.mark.parametrize("failure, shown", [
    ({"status_code": 401, "json": {"error": "Unauthorized"}}, "einen neuen Token"),
    ({"status_code": 502, "text": "Bad Gateway"}, "PLACETEL_API_URL"),
])
def test_connection_failures_give_admins_the_concrete_reason(client, admin, app, requests_mock, failure, shown):
    with app.app_context():
        site_settings.set_value("placetel.api_token", "pt-token-4711-abcdef-secret")
        db.session.commit()
    requests_mock.get(SIP_USERS_URL, **failure)
    html = client.post("/settings/telephony/test-connection", headers=HTMX).text
    assert shown in html
    assert "wenden Sie sich an die Administration" not in html


def test_users_without_admin_rights_are_told_to_contact_the_administration(client, auth, app, requests_mock):
    auth.login("anna")
    with app.app_context():
        site_settings.set_value("placetel.accounts", "anna:777123456@fpbx.de")
        db.session.commit()
    html = client.post("/calls/dial", data={"number": "0221 123456"}, headers=HTMX).text
    assert "Bitte wenden Sie sich an die Administration" in html
    assert "Placetel-Portal" not in html
    assert requests_mock.call_count == 0


# --------------------------------------------------------------------------- page furniture


@pytest.mark.parametrize("path, action", [
    ("/addresses/", "Neue Adresse"),
    ("/phonebook/", "Neuer Eintrag"),
    ("/phonebook/sources", "Neue Schnittstelle"),
    ("/settings/users", "Neuer Benutzer"),
    ("/calls/", "Telefonnotiz anlegen"),
])
def test_list_pages_share_one_header_with_a_primary_action(client, admin, path, action):
    page = client.get(path).text
    assert "<hgroup" not in page  # Pico greys the last child of an hgroup: the action button
    actions = re.search(r'<div class="page-actions">(.*?)</div>', page, re.S)
    assert actions, f"{path} has no page header with actions"
    first = re.search(r"<a ([^>]*)>([^<]*)</a>", actions.group(1))
    assert first.group(2) == action
    assert 'role="button"' in first.group(1) and "class=" not in first.group(1)  # the primary look


def test_contact_button_is_a_primary_action_in_the_section_header(client, admin):
    client.post("/addresses/new", data={"kind": "company", "name": "Müller GmbH"})
    page = client.get("/addresses/1").text
    assert "<hgroup" not in page
    assert re.search(r'<div class="page-actions">\s*<a role="button" href="/addresses/1/contacts/new">'
                     r"Ansprechpartner hinzufügen</a>", page)


@pytest.mark.parametrize("path", ["/addresses/new", "/phonebook/new", "/phonebook/sources/new?type=csv",
                                  "/settings/users/new", "/calls/notes/new"])
def test_cancel_looks_the_same_on_every_form(client, admin, path):
    page = client.get(path).text
    assert re.search(r'<a href="[^"]+" role="button" class="secondary outline">Abbrechen</a>', page), path


def test_favicon(client, auth):
    response = client.get("/favicon.ico")
    assert response.status_code == 301
    icon = client.get(response.headers["Location"])
    assert icon.status_code == 200 and icon.mimetype == "image/svg+xml"
    icon.close()
    auth.login("anna")
    assert '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">' in client.get("/addresses/").text


def test_csv_export_names_its_charset_once(client, auth):
    auth.login("anna")
    response = client.get("/addresses/export.csv")
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"


def test_telefon_page_section_is_not_called_telefonbuch(client, auth):
    auth.login("anna")
    page = client.get("/calls/phone").text
    main = page[page.index("<main"):]
    assert "<h2>Alle Nummern</h2>" in main
    assert "Telefonbuch" not in main  # the menu's Telefonbuch is the company phonebook


def test_an_admin_without_a_phone_learns_how_to_map_himself(client, admin, requests_mock):
    html = client.post("/calls/dial", data={"number": "0221 123456"}, headers=HTMX).text
    assert "Account-Liste die Zeile „chef:SIP-UID“" in html
    assert "Die Administration trägt Sie" not in html
    assert requests_mock.call_count == 0


def test_an_admin_dialling_without_token_is_told_where_to_enter_it(client, admin, app, requests_mock):
    with app.app_context():
        site_settings.set_value("placetel.accounts", "chef:777123456@fpbx.de")
        db.session.commit()
    html = client.post("/calls/dial", data={"number": "0221 123456"}, headers=HTMX).text
    assert "Placetel-Portal unter Administration → Einstellungen → API" in html
    assert "wenden Sie sich an die Administration" not in html
