"""Every main page fits the screen, from a phone (390 px) to a desktop (1280 px)."""
from __future__ import annotations

import os

import pytest
from sqlalchemy import select

from telephone import site_settings
from telephone.addresses import book
from telephone.extensions import db
from telephone.models import Address, PhonebookEntry, SyncSource

from ..conftest import PASSWORD, make_user
from ..servers import fake_placetel, notify, running_server
from .test_banner_layout import SECRET, SHOTS, VIEWPORTS

# Every page works from 360 px wide up (DESIGN.md).
WIDTHS = {**VIEWPORTS, "small-phone": {"width": 360, "height": 740}}
LONG_NAME = "Müller Gebäudetechnik und Sanitärinstallationen GmbH & Co. KG"


def _seed(app) -> None:
    """An address with a contact person, a phonebook entry with a source, and a journal with calls."""
    make_user(app, "anna", admin=True, display_name="Anna Schmidt")
    with app.app_context():
        site_settings.set_value("placetel.shared_secret", SECRET)
        site_settings.set_value("placetel.accounts", "anna:777111222@fpbx.de")
        address = book.save_address(None, {"name": LONG_NAME, "street": "Lange Straße 123", "postcode": "55116",
                                           "city": "Mainz", "email": "info@mueller-gebaeudetechnik.example",
                                           "phone": "+49 6131 123456", "mobile": "+49 171 1234567",
                                           "fax": "+49 6131 123457"})
        book.save_contact(address, None, {"name": "Dr. Maximiliane Mustermann-Schulze", "role": "Geschäftsführerin",
                                          "phone": "+49 6131 123456-20", "email": "m.mustermann@example.com"})
        source = SyncSource(type="csv", name="Zentrale CSV-Datei", url="https://intranet.example/phonebook.csv",
                            options={})
        db.session.add(source)
        db.session.add(PhonebookEntry(display_name="Bernhard Vorstandsvorsitzender-Langname", company=LONG_NAME,
                                      sort_name="langname", source=source,
                                      phones=[{"type": "WORK", "number": "+49 6131 9876543"}]))
        db.session.commit()


@pytest.fixture
def server(app, database_url):
    _seed(app)
    with running_server(database_url) as base:
        for index, event in enumerate(("IncomingCall", "IncomingCall")):
            notify(base, SECRET, call_id=f"{index}" * 64, direction="in", event=event, **{"from": "06131123456",
                                                                                         "to": "0221999000"})
        notify(base, SECRET, call_id="0" * 64, direction="in", event="HungUp", type="missed",
               **{"from": "06131123456", "to": "0221999000"})
        yield base


def log_in(page, base: str) -> None:
    page.goto(f"{base}/login")
    page.fill("input[name=username]", "anna")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/addresses/")


def _pages(app) -> dict[str, str]:
    with app.app_context():
        address_id = db.session.scalar(select(Address.id))
        entry_id = db.session.scalar(select(PhonebookEntry.id))
        source_id = db.session.scalar(select(SyncSource.id))
    return {
        "addresses": "/addresses/", "address-detail": f"/addresses/{address_id}",
        "address-form": f"/addresses/{address_id}/edit", "address-new": "/addresses/new",
        "address-import": "/addresses/import", "phonebook": "/phonebook/",
        "phonebook-detail": f"/phonebook/{entry_id}", "phonebook-form": "/phonebook/new",
        "journal": "/calls/", "phone": "/calls/phone", "note": "/calls/notes/new",
        "telephony": "/settings/telephony", "users": "/settings/users", "user-new": "/settings/users/new",
        "sources": "/phonebook/sources", "source": f"/phonebook/sources/{source_id}",
        "source-form": f"/phonebook/sources/{source_id}/edit", "account": "/account",
    }


@pytest.mark.parametrize("viewport", WIDTHS)
def test_no_page_is_wider_than_the_screen(browser, app, server, viewport):
    context = browser.new_context(locale="de-DE", viewport=WIDTHS[viewport])
    page = context.new_page()
    log_in(page, server)
    too_wide = {}
    for name, path in _pages(app).items():
        response = page.goto(f"{server}{path}")
        assert response.status == 200, path
        width = page.evaluate("document.documentElement.scrollWidth")
        if os.environ.get("SHOT_ALL_PAGES"):
            page.screenshot(path=str(SHOTS / f"page-{viewport}-{name}.png"), full_page=True)
        if width > WIDTHS[viewport]["width"]:
            too_wide[name] = width
            page.screenshot(path=str(SHOTS / f"too-wide-{viewport}-{name}.png"), full_page=True)
    # In the lists, a name and its number (with its ☎ button) are on screen without scrolling sideways.
    hidden = []
    for path in ("/addresses/", "/phonebook/", "/calls/"):
        page.goto(f"{server}{path}")
        for selector in ("tbody td a", "tbody .phone a.tel", "tbody .phone button.dial"):
            box = page.locator(selector).first.bounding_box()
            if box is None or box["x"] < 0 or box["x"] + box["width"] > WIDTHS[viewport]["width"]:
                hidden.append((path, selector, box))
    dial = page.locator("tbody .phone button.dial").first.bounding_box()
    page.goto(f"{server}/addresses/")
    page.screenshot(path=str(SHOTS / f"addresses-{viewport}.png"))
    context.close()
    assert too_wide == {}, too_wide
    assert hidden == []
    if viewport != "desktop":  # big enough for a thumb
        assert dial["width"] >= 44 and dial["height"] >= 44


def test_menu_button_opens_the_navigation_on_a_phone(browser, server):
    context = browser.new_context(locale="de-DE", viewport=VIEWPORTS["phone"])
    page = context.new_page()
    log_in(page, server)
    journal_link = page.get_by_role("link", name="Anrufliste")
    assert not journal_link.is_visible()
    page.get_by_role("button", name="Menü").click()
    assert page.get_by_role("button", name="Menü").get_attribute("aria-expanded") == "true"
    page.screenshot(path=str(SHOTS / "menu-open-phone.png"))
    journal_link.click()
    page.wait_for_url(f"{server}/calls/")
    assert page.locator("h1").inner_text() == "Anrufliste"
    # After the boosted navigation the menu is closed again and still works.
    assert not page.get_by_role("link", name="Telefonbuch").is_visible()
    page.get_by_role("button", name="Menü").click()
    page.get_by_role("link", name="Telefonbuch").click()
    page.wait_for_url(f"{server}/phonebook/")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    context.close()


def test_dial_result_is_on_screen_on_a_phone(browser, app, database_url):
    _seed(app)
    with app.app_context():
        site_settings.set_value("placetel.api_token", "pt-token-4711")
        db.session.commit()
    with fake_placetel() as placetel, running_server(database_url, PLACETEL_API_URL=placetel.url) as base:
        context = browser.new_context(locale="de-DE", viewport=VIEWPORTS["phone"])
        page = context.new_page()
        log_in(page, base)
        page.locator("tbody .phone button.dial").first.click()
        message = page.locator("#dial-result .dial-message")
        message.wait_for(timeout=5000)
        assert "Ihr Telefon klingelt" in message.inner_text()
        box = message.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= 390 and box["y"] + box["height"] <= 844
        page.screenshot(path=str(SHOTS / "dial-result-phone.png"))
        context.close()
    assert [request.path for request in placetel.received] == ["/v2/calls"]


@pytest.mark.parametrize("viewport", ["desktop", "phone"])
def test_a_callback_from_the_journal_answers_on_screen_and_closes_the_missed_call(browser, server, viewport):
    """"zurückrufen" on a missed call: the answer shows in the page's one dial message (the journal had a
    second element with its id, above the list, out of sight on a phone), and after the attempt the call
    no longer waits for a callback – nor does the navigation count it."""
    size = VIEWPORTS[viewport]
    context = browser.new_context(locale="de-DE", viewport=size)
    page = context.new_page()
    log_in(page, server)
    page.goto(f"{server}/calls/")
    missed = page.locator("tr.missed-open")
    assert missed.count() == 1 and "Rückruf offen" in missed.inner_text()
    assert page.locator("[data-missed-count]").first.inner_text() == "1"
    missed.locator("form.callback button").click()
    message = page.locator("#dial-result .dial-message")
    message.wait_for(timeout=5000)
    assert page.locator("[id=dial-result]").count() == 1
    assert "06131" in message.inner_text() or "6131" in message.inner_text()
    box = message.bounding_box()
    assert box["y"] >= 0 and box["x"] + box["width"] <= size["width"] and box["y"] + box["height"] <= size["height"]
    page.screenshot(path=str(SHOTS / f"journal-callback-{viewport}.png"))
    page.goto(f"{server}/calls/")
    assert page.locator("tr.missed-open").count() == 0 and "Rückruf offen" not in page.inner_text("main")
    assert page.locator("[data-missed-count]").first.inner_text() in ("", "0")
    context.close()
