"""The admin's "Telefone & Geräte" page in a real browser, at desktop and phone width."""
from __future__ import annotations


import pytest
import requests

from telephone import site_settings
from telephone.extensions import db
from telephone.phonebook.entries import ManualEntryData, save_manual

from ..conftest import make_user
from ..servers import fake_placetel, running_server
from .conftest import log_in, shots_dir

SHOTS = shots_dir("phones")
VIEWPORTS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}


@pytest.fixture
def devices_server(app, database_url):
    make_user(app, "chefin", admin=True, display_name="Chefin")
    with app.app_context():
        save_manual(None, ManualEntryData(given_name="Jürgen", family_name="Weiß", company="Müller GmbH",
                                          phones=[("WORK", "0221 1234567"), ("MOBILE", "0171 2345678")]))
        site_settings.set_value("placetel.api_token", "pt-token-4711-abcdef-secret")
        db.session.commit()
    with fake_placetel() as placetel, running_server(database_url, PLACETEL_API_URL=placetel.url) as base:
        yield base, placetel


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_admin_sets_up_desk_phones_and_pushes_to_placetel(browser, devices_server, viewport):
    base, placetel = devices_server
    context = browser.new_context(locale="de-DE", viewport=VIEWPORTS[viewport],
                                  permissions=["clipboard-read", "clipboard-write"])
    page = context.new_page()
    log_in(page, base, "chefin")
    page.goto(f"{base}/settings/devices")
    assert page.locator("h1").inner_text() == "Telefone & Geräte"

    yealink = page.locator("#device-yealink")
    assert "noch nie abgerufen" in yealink.inner_text()
    url = page.input_value("#url-yealink")
    assert url.startswith(f"{base}/directory/yealink.xml?token=")
    yealink.get_by_role("button", name="URL kopieren").click()
    page.wait_for_function("() => document.querySelector('#device-yealink [data-copy]').textContent === 'Kopiert'")
    assert page.evaluate("navigator.clipboard.readText()") == url

    # The phone fetches its directory; the page then says so.
    phone_answer = requests.get(url, headers={"User-Agent": "Yealink SIP-T46U 108.86.0.45"}, timeout=5)
    assert "<Name>Weiß, Jürgen (Müller GmbH)</Name>" in phone_answer.text
    page.reload()
    assert "zuletzt abgerufen" in page.locator("#device-yealink").inner_text()

    page.get_by_role("button", name="Vorschau").click()
    page.get_by_text("Vorschau: 1 neu, 0 geändert, 0 gelöscht, 0 unverändert.").wait_for()
    assert placetel.contacts == {}
    page.get_by_role("button", name="Jetzt übertragen").click()
    page.locator("#push-run").get_by_text("erfolgreich").wait_for(timeout=15000)
    assert "1 neu, 0 geändert, 0 gelöscht, 0 unverändert" in page.locator("#push-run").inner_text()
    assert [contact["last_name"] for contact in placetel.contacts.values()] == ["Weiß"]
    page.screenshot(path=str(SHOTS / f"devices-{viewport}.png"), full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth") <= VIEWPORTS[viewport]["width"]

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Token erneuern").click()
    page.get_by_text("Neuer Token erzeugt").wait_for()
    assert page.input_value("#url-yealink") != url
    assert requests.get(url, timeout=5).status_code == 404
    context.close()
