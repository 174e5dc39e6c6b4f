"""The admin opens the webhook: sees it closed in red, copies its URL, sets credentials (Telefonie page)."""
from __future__ import annotations


import pytest

from ..conftest import PASSWORD, make_user
from .conftest import shots_dir
from ..servers import serve_app

SHOTS = shots_dir("webhook")
VIEWPORTS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}


@pytest.mark.csrf
@pytest.mark.parametrize("viewport", sorted(VIEWPORTS))
def test_admin_opens_the_webhook_on_the_telefonie_page(browser, app, viewport):
    make_user(app, "chef", admin=True, display_name="Chef")
    SHOTS.mkdir(parents=True, exist_ok=True)
    with serve_app(app) as base:
        context = browser.new_context(locale="de-DE", viewport=VIEWPORTS[viewport],
                                      permissions=["clipboard-read", "clipboard-write"])
        page = context.new_page()
        page.goto(f"{base}/login")
        page.fill("input[name=username]", "chef")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{base}/addresses/")
        page.goto(f"{base}/settings/telephony")
        page.fill("input[name=default_region]", "DE")

        closed = page.locator(".webhook-closed")
        closed.scroll_into_view_if_needed()
        assert closed.is_visible() and "Der Webhook ist geschlossen" in closed.inner_text()
        assert closed.evaluate("el => getComputedStyle(el).color") not in ("rgb(0, 0, 0)", "")
        url = page.locator("#webhook-url")
        assert url.inner_text() == f"{base}/calls/placetel/notify"
        page.get_by_role("button", name="Adresse kopieren").click()
        page.get_by_role("button", name="Kopiert").wait_for()
        assert page.evaluate("navigator.clipboard.readText()") == f"{base}/calls/placetel/notify"
        page.locator("#webhook").screenshot(path=str(SHOTS / f"closed-{viewport}.png"))

        # A user name without password: the reason next to the field, the name kept
        page.fill("input[name=webhook_user]", "placetel")
        page.get_by_role("button", name="Speichern").click()
        error = page.locator("#webhook_password-errors")
        error.wait_for()
        assert error.inner_text() == "Bitte auch ein Passwort für den Webhook setzen."
        assert page.input_value("input[name=webhook_user]") == "placetel"
        error.scroll_into_view_if_needed()
        page.screenshot(path=str(SHOTS / f"missing-password-{viewport}.png"))

        # Basic credentials complete: open, the URL names the user and a placeholder for the password
        page.fill("input[name=webhook_password]", "pw-nur-für-placetel")
        page.get_by_role("button", name="Speichern").click()
        page.get_by_text("Die Telefonie-Einstellungen wurden gespeichert.").wait_for()
        assert page.locator(".webhook-closed").count() == 0
        assert url.inner_text() == f"{base.replace('http://', 'http://placetel:PASSWORT@')}/calls/placetel/notify"
        assert "pw-nur-für-placetel" not in page.content()

        # A short shared secret is accepted with a warning
        page.fill("input[name=shared_secret]", "12345")
        page.get_by_role("button", name="Speichern").click()
        page.get_by_text("Die Telefonie-Einstellungen wurden gespeichert.").wait_for()
        warning = page.locator("#webhook .notice")
        assert "kürzer als 16 Zeichen" in warning.inner_text()
        page.screenshot(path=str(SHOTS / f"short-secret-top-{viewport}.png"))
        page.locator("#webhook").screenshot(path=str(SHOTS / f"open-{viewport}.png"))
        context.close()
