"""The live banner in a real browser: appears, changes state in place, and reaches ten tabs."""
from __future__ import annotations

import pytest

from telephone import site_settings
from telephone.extensions import db

from ..conftest import make_user
from ..servers import notify, running_server
from .conftest import log_in

SECRET = "12345"
CALLER = {"from": "06131123456", "to": "0221999000"}
SSE_OPEN = "document.addEventListener('htmx:sseOpen', () => { window.__sseOpen = true; });"


@pytest.fixture
def server(app, database_url):
    make_user(app, "anna", display_name="Anna Schmidt")
    with app.app_context():
        site_settings.set_value("placetel.shared_secret", SECRET)
        site_settings.set_value("placetel.accounts", "anna:777111222@fpbx.de")
        db.session.commit()
    with running_server(database_url) as base:
        yield base


def _wait_for_stream(page):
    page.wait_for_function("() => window.__sseOpen === true", timeout=10000)


def test_banner_appears_changes_to_accepted_and_ended(browser, server):
    context = browser.new_context(locale="de-DE")
    context.add_init_script(SSE_OPEN)
    page = context.new_page()
    log_in(page, server)
    _wait_for_stream(page)
    call_id = "1" * 64
    banner = page.locator(f"#call-{call_id}")

    assert notify(server, SECRET, call_id=call_id, direction="in", event="IncomingCall", **CALLER).status_code == 200
    banner.wait_for(timeout=5000)
    assert "Eingehender Anruf" in banner.inner_text()
    assert "Unbekannte Nummer" in banner.inner_text()

    notify(server, SECRET, call_id=call_id, direction="in", event="CallAccepted", peer="777111222@fpbx.de", **CALLER)
    page.wait_for_function(f"() => document.querySelector('#call-{call_id}').innerText.includes('Anruf angenommen von Anna Schmidt')",
                           timeout=5000)

    notify(server, SECRET, call_id=call_id, direction="in", event="HungUp", duration="38", type="accepted", **CALLER)
    page.wait_for_function(f"() => document.querySelector('#call-{call_id}').innerText.includes('Anruf beendet (0:38)')",
                           timeout=5000)
    assert page.locator(f"#call-{call_id}").count() == 1  # one banner per call, swapped in place
    context.close()


def test_banner_reaches_all_of_ten_tabs_over_one_stream(browser, server):
    context = browser.new_context(locale="de-DE")
    context.add_init_script(SSE_OPEN)
    first = context.new_page()
    log_in(first, server)
    pages = [first] + [context.new_page() for _ in range(9)]
    for page in pages[1:]:
        page.goto(f"{server}/addresses/")
    for page in pages:
        _wait_for_stream(page)
    call_id = "2" * 64
    notify(server, SECRET, call_id=call_id, direction="in", event="IncomingCall", **CALLER)
    for page in pages:
        page.locator(f"#call-{call_id}").wait_for(timeout=5000)
        assert "Eingehender Anruf" in page.locator(f"#call-{call_id}").inner_text()
    # No tab opened a stream of its own: the SharedWorker holds the only one.
    own_streams = sum(page.evaluate("performance.getEntriesByType('resource')"
                                    ".filter(e => e.name.includes('/events')).length") for page in pages)
    assert own_streams == 0
    # Closing the banner in one tab closes it in the others.
    pages[3].locator(f"#call-{call_id} [data-dismiss-banner]").click()
    pages[7].locator(f"#call-{call_id}").wait_for(state="detached", timeout=5000)
    context.close()
