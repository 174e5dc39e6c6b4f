"""The admin assigns a phone and a number on a user's page; the Telefon page shows colleagues with presence."""
from __future__ import annotations


import pytest

from telephone import site_settings
from telephone.extensions import db

from ..conftest import PASSWORD, make_user
from .conftest import shots_dir
from ..servers import fake_placetel, many_sip_users, notify, serve_app

SECRET = "12345"
TOKEN = "pt-token-4711-abcdef-secret"
SHOTS = shots_dir("accounts")
VIEWPORTS = [pytest.param({"width": 1280, "height": 800}, id="desktop"),
             pytest.param({"width": 390, "height": 844}, id="mobile")]
ANNA_PHONE = "777000043@fpbx.de"  # "Telefon 043", on Placetel's second page of 25, online


@pytest.fixture
def office(app):
    """The app served in-process against a fake Placetel with 130 SIP users (paged like the real one)."""
    make_user(app, "chef", admin=True, display_name="Chefin")
    anna = make_user(app, "anna", display_name="Anna Schmidt")
    with app.app_context():
        site_settings.set_value("placetel.shared_secret", SECRET)
        site_settings.set_value("placetel.api_token", TOKEN)
        db.session.commit()
    with fake_placetel() as placetel:
        placetel.sip_users = many_sip_users(130)
        app.config["PLACETEL_API_URL"] = placetel.url
        with serve_app(app) as base:
            yield base, anna, placetel


def _shot(page, name: str, viewport: dict) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}-{viewport['width']}.png"), full_page=True)


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_admin_assigns_phone_and_number_and_sees_presence(browser, office, viewport):
    base, anna, placetel = office
    context = browser.new_context(locale="de-DE", viewport=viewport)
    context.add_init_script("document.addEventListener('htmx:sseOpen', () => { window.__sseOpen = true; });")
    page = context.new_page()
    page.goto(f"{base}/login")
    page.fill("input[name=username]", "chef")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/addresses/")

    # The user's page offers Placetel's 130 SIP users, the later pages included.
    page.goto(f"{base}/settings/users/{anna}")
    section = page.locator("#sip-account")
    assert "Kein Telefon zugeordnet" in section.inner_text()
    assert page.locator("#sipuid option").count() == 131  # 130 phones and "kein Telefon"
    page.select_option("#sipuid", ANNA_PHONE)
    section.get_by_role("button", name="SIP-Account speichern").click()
    page.get_by_text("SIP-Account gespeichert.").wait_for(timeout=5000)
    current = page.locator(".sip-account-current").inner_text()
    assert "Telefon 043" in current and "0221 990043" in current and "online" in current
    assert ANNA_PHONE in current
    _shot(page, "1-sip-account-saved", viewport)

    # A wrong number is answered next to the field, in German, keeping what was typed.
    numbers = page.locator("#user-numbers")
    numbers.get_by_label("Rufnummer", exact=True).fill("keine Nummer")
    numbers.get_by_label("Name der Rufnummer").fill("Zentrale")
    numbers.get_by_role("button", name="Rufnummer zuordnen").click()
    page.get_by_text("Bitte eine gültige Rufnummer eingeben").wait_for(timeout=5000)
    assert page.locator("#user-numbers input[name=number]").input_value() == "keine Nummer"
    _shot(page, "2-number-error", viewport)
    page.locator("#user-numbers input[name=number]").fill("0221 999000")
    page.locator("#user-numbers").get_by_role("button", name="Rufnummer zuordnen").click()
    page.get_by_text("Rufnummer zugeordnet.").wait_for(timeout=5000)
    row = page.locator("#user-numbers tbody tr").first.inner_text()
    assert "Zentrale" in row and "0221 999000" in row
    _shot(page, "3-number-assigned", viewport)

    # After a reload the page still shows both, from the database.
    page.reload()
    assert "Telefon 043" in page.locator(".sip-account-current").inner_text()
    assert "Zentrale" in page.locator("#user-numbers").inner_text()

    # The Telefon page: Anna is free, then her Zentrale rings, then she is on the phone (live, no reload).
    page.goto(f"{base}/calls/phone")
    page.wait_for_function("() => window.__sseOpen === true", timeout=10000)
    anna_entry = page.locator(".colleague[data-username=anna]")
    anna_entry.wait_for(timeout=5000)
    assert "frei" in anna_entry.inner_text() and "online" in anna_entry.inner_text()
    call = {"call_id": "e" * 64, "direction": "in", "from": "06131123456", "to": "0221999000"}
    assert notify(base, SECRET, event="IncomingCall", **call).status_code == 200
    page.wait_for_function("() => document.querySelector('.colleague[data-username=anna]')?.innerText.includes('klingelt')",
                           timeout=5000)
    _shot(page, "4-telefon-ringing", viewport)
    notify(base, SECRET, event="CallAccepted", peer=ANNA_PHONE, **call)
    page.wait_for_function("() => document.querySelector('.colleague[data-username=anna]')?.innerText.includes('im Gespräch')",
                           timeout=5000)
    banner = page.locator(f"#call-{'e' * 64}")
    page.wait_for_function(f"() => document.querySelector('#call-{'e' * 64}')?.innerText.includes('Anna Schmidt: im Gespräch')",
                           timeout=5000)
    assert "Anruf angenommen von Anna Schmidt" in banner.inner_text() and "online" in banner.inner_text()
    _shot(page, "5-telefon-in-call", viewport)
    sip_user_reads = [r for r in placetel.received if r.path.startswith("/v2/sip_users")]
    assert len(sip_user_reads) == 2  # 130 users = pages of 100 and 30, read once for the whole journey
    context.close()
