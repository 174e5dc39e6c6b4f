"""Under the Content-Security-Policy the pages work (hx-boost, forms, banners over SSE) and the
browser reports no violation; too many failed logins show when to try again."""
from __future__ import annotations

import os

import pytest

from telephone import site_settings
from telephone.extensions import db

from ..conftest import PASSWORD, make_user
from ..servers import notify, running_server
from .conftest import open_nav_link, shots_dir

SECRET = "12345"
SHOTS = shots_dir("auth")
VIEWPORTS = [pytest.param({"width": 1280, "height": 800}, id="desktop"),
             pytest.param({"width": 390, "height": 844}, id="phone")]
REPORT_VIOLATIONS = """
document.addEventListener('securitypolicyviolation', (e) => {
  window.reportViolation(`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`);
});
document.addEventListener('htmx:sseOpen', () => { window.__sseOpen = true; });
"""


@pytest.fixture
def server(app, database_url):
    make_user(app, "anna", display_name="Anna Schmidt")
    with app.app_context():
        site_settings.set_value("placetel.shared_secret", SECRET)
        db.session.commit()
    with running_server(database_url) as base:
        yield base


def shot(page, name: str) -> None:
    os.makedirs(SHOTS, exist_ok=True)
    page.screenshot(path=f"{SHOTS}/{name}.png", full_page=True)


def open_page(browser, viewport):
    """A new page; returns it with the list that collects CSP violations and console errors."""
    context = browser.new_context(locale="de-DE", viewport=viewport)
    problems: list[str] = []
    context.expose_function("reportViolation", lambda text: problems.append(text))
    context.add_init_script(REPORT_VIOLATIONS)
    page = context.new_page()
    page.on("console", lambda message: problems.append(message.text) if blocked_or_error(message) else None)
    return page, problems


def blocked_or_error(message) -> bool:
    """A console message about something the policy blocked, or any error but the missing favicon."""
    if "Content Security Policy" in message.text or "Refused to" in message.text:
        return True
    return message.type == "error" and not message.location.get("url", "").endswith("/favicon.ico")


def log_in(page, base, password=PASSWORD):
    page.goto(f"{base}/login")
    page.fill("input[name=username]", "anna")
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_pages_work_under_the_policy_without_violations(browser, server, viewport, request):
    page, problems = open_page(browser, viewport)
    response = page.goto(f"{server}/login")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    log_in(page, server)
    page.wait_for_url(f"{server}/addresses/")
    page.wait_for_function("() => window.__sseOpen === true", timeout=10000)

    # hx-boost: the page is swapped, not reloaded (the marker survives)
    page.evaluate("window.__sameDocument = true")
    open_nav_link(page, "Telefonbuch")
    page.wait_for_url(f"{server}/phonebook/")
    assert page.evaluate("window.__sameDocument === true")

    # a boosted form post with its German confirmation
    open_nav_link(page, "Meine Einstellungen")
    page.wait_for_url(f"{server}/account")
    page.fill("input[name=display_name]", "Anna Schmidt-Meier")
    page.get_by_role("button", name="Speichern").click()
    page.get_by_text("Ihre Einstellungen wurden gespeichert.").wait_for(timeout=5000)
    assert page.evaluate("window.__sameDocument === true")

    # click-to-dial answers in a message whose close button works without inline script
    open_nav_link(page, "Telefon")
    page.wait_for_url(f"{server}/calls/phone")
    page.fill("#dial-number", "0221 1234567")
    page.get_by_role("button", name="Anrufen").click()
    message = page.locator("#dial-result .dial-message")
    message.wait_for(timeout=5000)
    page.get_by_role("button", name="Meldung schließen").click()
    message.wait_for(state="detached", timeout=5000)

    # a banner arriving over the stream (SharedWorker + EventSource)
    call_id = "3" * 64
    notify(server, SECRET, call_id=call_id, direction="in", event="IncomingCall", **{"from": "06131123456",
                                                                                     "to": "0221999000"})
    banner = page.locator(f"#call-{call_id}")
    banner.wait_for(timeout=5000)
    assert "Eingehender Anruf" in banner.inner_text()
    shot(page, f"csp-banner-{request.node.callspec.id}")
    assert problems == []
    page.context.close()


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_too_many_wrong_passwords_tell_when_to_try_again(browser, server, viewport, request):
    page, problems = open_page(browser, viewport)
    for _ in range(5):
        log_in(page, server, password="falsch")
        page.get_by_text("Benutzername oder Passwort ist falsch.").wait_for()
    log_in(page, server)  # even the right password waits now
    message = page.get_by_text("Zu viele Fehlversuche. Bitte versuchen Sie es in 15 Minuten erneut.")
    message.wait_for()
    assert page.url.startswith(f"{server}/login")
    assert page.input_value("input[name=username]") == "anna"
    shot(page, f"login-too-many-{request.node.callspec.id}")
    # the 429 answer itself is reported by the browser; anything else would be a problem
    assert [p for p in problems if "429" not in p] == []
    page.context.close()
