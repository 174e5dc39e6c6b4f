"""Everyday form journeys in a real browser, as a person sees them: errors next to the fields,
typed values kept, then a successful save - on a desktop and on a phone.

The app runs with CSRF protection on, served by werkzeug in a thread; Placetel is a fake on localhost.
"""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from telephone import site_settings
from telephone.extensions import db

from ..conftest import PASSWORD, make_user
from ..servers import fake_placetel, serve_app
from .conftest import open_nav_link, shots_dir

pytestmark = pytest.mark.csrf  # the browser posts real CSRF tokens, as in production

SHOTS = shots_dir("forms")
VIEWPORTS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}
TOKEN = "pt-token-4711-abcdef-secret"
BAD_EMAIL = "Bitte eine gültige E-Mail-Adresse eingeben (z. B. name@firma.de)."


@pytest.fixture(params=sorted(VIEWPORTS))
def viewport(request) -> str:
    return request.param


@pytest.fixture
def base(app):
    with serve_app(app) as url:
        yield url


@pytest.fixture
def page(browser, viewport):
    context = browser.new_context(viewport=VIEWPORTS[viewport], locale="de-DE")
    page = context.new_page()
    page.set_default_timeout(10000)
    yield page
    context.close()


def shot(page, name: str, viewport: str) -> None:
    """A full-page screenshot to look at (see the report of this change)."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}-{viewport}.png"), full_page=True)


def log_in(page, base: str, username: str, password: str = PASSWORD) -> None:
    page.goto(f"{base}/login")
    page.get_by_label("Benutzername").fill(username)
    page.get_by_label("Passwort", exact=True).fill(password)
    page.get_by_role("button", name="Anmelden").click()
    page.wait_for_load_state()


def error_of(page, field_id: str):
    """The German error shown under a form field."""
    return page.locator(f"#{field_id}-errors")


def expect_error(page, field_id: str, text: str) -> None:
    """The form came back with `text` under the field, in view (also on a phone, below the fold)."""
    error = error_of(page, field_id)
    error.wait_for()
    assert error.inner_text() == text
    expect(error).to_be_in_viewport()


def fill_in(page, values: dict[str, str]) -> None:
    for label, value in values.items():
        page.get_by_label(label, exact=True).fill(value)


def assert_kept(page, values: dict[str, str]) -> None:
    """What was typed is still in the fields."""
    assert {label: page.get_by_label(label, exact=True).input_value() for label in values} == values


def save(page) -> None:
    page.get_by_role("button", name="Speichern", exact=True).click()


# --------------------------------------------------------------------------- first login


def test_first_login_with_one_time_password_and_a_mismatched_change(page, base, runner, viewport):
    output = runner.invoke(args=["users", "bootstrap"]).output
    one_time = re.search(r"Einmal-Passwort: (\S+)", output).group(1)

    log_in(page, base, "admin", one_time)
    page.wait_for_url(re.compile(r"/account"))
    assert "Einmal-Passwort angemeldet" in page.locator("main").inner_text()
    page.get_by_label("Anzeigename").fill("Chefin Weber")
    page.get_by_label("Neues Passwort", exact=True).fill("mein-neues-passwort")
    page.get_by_label("Neues Passwort wiederholen").fill("mein-neues-passwrot")
    save(page)

    expect_error(page, "new_password_repeat", "Die Passwörter stimmen nicht überein.")
    assert page.get_by_label("Anzeigename").input_value() == "Chefin Weber"  # typed values are kept
    shot(page, "account-mismatch", viewport)

    page.get_by_label("Neues Passwort", exact=True).fill("mein-neues-passwort")
    page.get_by_label("Neues Passwort wiederholen").fill("mein-neues-passwort")
    save(page)
    page.get_by_text("Ihre Einstellungen wurden gespeichert.").wait_for()
    assert page.locator(".field-error").count() == 0

    open_nav_link(page, "Adressen")  # no longer sent back to the password page
    page.wait_for_url(re.compile(r"/addresses/$"))
    assert page.get_by_role("heading", name="Adressen").is_visible()


# --------------------------------------------------------------------------- addresses


def test_address_with_a_bad_email_is_corrected_and_saved(page, base, app, viewport):
    make_user(app, "anna")
    log_in(page, base, "anna")
    page.get_by_role("button", name="Neue Adresse").click()
    typed = {"Name": "Müller Maschinenbau GmbH", "Ort": "Mainz", "E-Mail": "kaputt@", "Telefon": "06131 123456"}
    fill_in(page, typed)
    save(page)

    expect_error(page, "email", BAD_EMAIL)
    expect(page.get_by_label("E-Mail")).to_be_focused()
    assert_kept(page, typed)
    shot(page, "address-error", viewport)

    page.get_by_label("E-Mail").fill("info@mueller-mainz.de")
    save(page)
    page.get_by_text("Die Adresse „Müller Maschinenbau GmbH“ wurde angelegt.").wait_for()
    assert page.get_by_role("heading", name="Müller Maschinenbau GmbH").is_visible()

    # Edit: the same error, then fixed.
    page.get_by_role("button", name="Bearbeiten", exact=True).click()
    fill_in(page, {"E-Mail": "kaputt@", "Ort": "Wiesbaden"})
    save(page)
    expect_error(page, "email", BAD_EMAIL)
    assert_kept(page, {"E-Mail": "kaputt@", "Ort": "Wiesbaden"})
    page.get_by_label("E-Mail").fill("post@mueller-mainz.de")
    save(page)
    page.get_by_text("post@mueller-mainz.de").wait_for()

    open_nav_link(page, "Adressen")
    row = page.locator("table tr", has_text="Müller Maschinenbau GmbH")
    row.wait_for()
    assert "Wiesbaden" in row.inner_text()


def test_contact_person_with_a_bad_number_and_a_bad_email(page, base, app, viewport):
    make_user(app, "anna")
    log_in(page, base, "anna")
    page.get_by_role("button", name="Neue Adresse").click()
    page.get_by_label("Name").fill("Schmidt & Söhne KG")
    save(page)
    page.get_by_role("button", name="Ansprechpartner hinzufügen").click()
    typed = {"Vorname": "Anna", "Nachname": "Schmidt", "Funktion": "Einkauf", "E-Mail": "anna@", "Telefon": "12ab"}
    fill_in(page, typed)
    save(page)

    expect_error(page, "email", BAD_EMAIL)
    assert_kept(page, typed)
    # A text that is no phone number is refused next to its field, not stored as a "number".
    assert error_of(page, "phone").inner_text()
    shot(page, "contact-error", viewport)

    page.get_by_label("E-Mail").fill("anna@schmidt-soehne.de")
    page.get_by_label("Telefon", exact=True).fill("06131 1234567")
    save(page)
    page.get_by_text("anna@schmidt-soehne.de").wait_for()
    contact = page.locator("article.contact", has_text="Anna Schmidt")
    assert "06131 1234567" in contact.inner_text()


# --------------------------------------------------------------------------- Telefonie


def test_telephony_settings_on_a_fresh_install(page, base, app, viewport):
    make_user(app, "chef", admin=True)
    with fake_placetel() as placetel:
        placetel.sip_users = [{"sipuid": "777123456@fpbx.de", "name": "Empfang", "callerid": "+49221999000"}]
        app.config["PLACETEL_API_URL"] = placetel.url
        log_in(page, base, "chef")
        page.goto(f"{base}/settings/telephony")
        region = page.get_by_label("Land für Nummern ohne Vorwahl")
        assert region.input_value() == "DE"  # the default in force, not an empty field

        # Testing before a token is stored tells the admin what to do, not to ask the admin.
        page.get_by_role("button", name="Verbindung testen").click()
        result = page.locator("#connection-test-result")
        result.get_by_role("alert").wait_for()
        assert "Placetel-Portal" in result.inner_text()
        assert "wenden Sie sich an die Administration" not in result.inner_text()

        region.fill("XX")
        save(page)
        expect_error(page, "default_region", "„XX“ ist kein Ländercode (z. B. DE, AT, CH).")
        assert page.get_by_label("Land für Nummern ohne Vorwahl").input_value() == "XX"
        shot(page, "telephony-error", viewport)

        page.get_by_label("Land für Nummern ohne Vorwahl").fill("DE")
        page.get_by_label("Placetel API-Token").fill(TOKEN)
        save(page)
        page.get_by_text("Die Telefonie-Einstellungen wurden gespeichert.").wait_for()
        assert page.get_by_label("Land für Nummern ohne Vorwahl").input_value() == "DE"
        assert TOKEN not in page.content()  # secrets are never sent back

        page.get_by_role("button", name="Verbindung testen").click()
        page.get_by_text("Placetel kennt 1 SIP-Benutzer").wait_for()
        assert page.locator("#connection-test-result").get_by_text("Empfang").is_visible()
        shot(page, "telephony-saved", viewport)
        assert placetel.received[-1].headers["Authorization"] == f"Bearer {TOKEN}"
    with app.app_context():
        assert site_settings.get("numbers.default_region") == "DE"
        assert site_settings.get("placetel.api_token") == TOKEN


# --------------------------------------------------------------------------- failed requests


def test_failed_htmx_requests_show_a_german_message(page, base, app, viewport):
    make_user(app, "chef", admin=True)
    with app.app_context():
        site_settings.set_value("placetel.api_token", TOKEN)
        db.session.commit()
    log_in(page, base, "chef")
    page.goto(f"{base}/settings/telephony")
    toast = page.locator("#request-error")

    # The session's form token no longer matches (e.g. logged out in another tab): 400.
    page.evaluate("document.body.setAttribute('hx-headers', JSON.stringify({'X-CSRFToken': 'abgelaufen'}))")
    page.get_by_role("button", name="Verbindung testen").click()
    toast.get_by_role("alert").wait_for()
    assert toast.inner_text().startswith("Die Aktion ist fehlgeschlagen (Fehler 400).")
    assert "Das Formular ist abgelaufen oder ungültig" in toast.inner_text()
    assert toast.get_by_role("alert").is_visible()
    shot(page, "request-error", viewport)
    toast.get_by_role("button", name="Meldung schließen").click()
    assert toast.get_by_role("alert").count() == 0

    # No connection to the server at all.
    page.route("**/settings/telephony/test-connection", lambda route: route.abort("connectionrefused"))
    page.get_by_role("button", name="Verbindung testen").click()
    toast.get_by_text("Keine Verbindung zum Server").wait_for()
    assert toast.get_by_role("alert").is_visible()
