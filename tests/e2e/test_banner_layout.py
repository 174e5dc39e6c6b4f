"""Call banners on phones and desktops: on screen, never over the page's controls, closed for good,
noticed in a background tab (desktop notification, tab title) and the live missed-calls count."""
from __future__ import annotations


import pytest

from telephone import site_settings
from telephone.addresses import book
from telephone.extensions import db

from ..conftest import PASSWORD, make_user
from .conftest import shots_dir
from ..servers import notify, running_server

SECRET = "12345"
SHOTS = shots_dir("mobile")
VIEWPORTS = {"phone": {"width": 390, "height": 844}, "desktop": {"width": 1280, "height": 800}}
KNOWN = {"from": "06131123456", "to": "0221999000"}
SSE_OPEN = "document.addEventListener('htmx:sseOpen', () => { window.__sseOpen = true; });"
# Records every desktop notification the page raises instead of showing it.
NOTIFICATION_SPY = """
window.__notifications = [];
class SpyNotification {
  constructor(title, options) {
    window.__notifications.push({title, body: (options || {}).body || ''});
    window.__lastNotification = this;
  }
  close() {}
  static get permission() { return 'granted'; }
  static requestPermission() { return Promise.resolve('granted'); }
}
window.Notification = SpyNotification;
// ... and counts the tones of the ring.
window.__tones = 0;
class SpyAudio {
  constructor() { this.currentTime = 0; this.destination = {}; }
  createOscillator() { return {frequency: {}, connect: (node) => node, start: () => { window.__tones++; }, stop() {}}; }
  createGain() { return {gain: {setValueAtTime() {}, exponentialRampToValueAtTime() {}}, connect: (node) => node}; }
}
window.AudioContext = SpyAudio;
"""


@pytest.fixture
def server(app, database_url):
    make_user(app, "anna", display_name="Anna Schmidt", desktop_notifications=True, ring_sound=True)
    make_user(app, "bert", display_name="Bert Braun")
    with app.test_request_context("/"):
        site_settings.set_value("placetel.shared_secret", SECRET)
        site_settings.set_value("placetel.accounts", "anna:777111222@fpbx.de")
        book.save_address(None, {"name": "Müller GmbH", "phone": "+49 6131 123456", "city": "Mainz"})
        db.session.commit()
    with running_server(database_url) as base:
        yield base


def open_app(browser, base: str, viewport: str = "desktop", user: str = "anna", **context_options):
    context = browser.new_context(locale="de-DE", viewport=VIEWPORTS[viewport], **context_options)
    context.add_init_script(SSE_OPEN)
    page = context.new_page()
    page.goto(f"{base}/login")
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/addresses/")
    page.wait_for_function("() => window.__sseOpen === true", timeout=10000)
    return context, page


def call(base: str, call_id: str, event: str = "IncomingCall", **fields) -> None:
    assert notify(base, SECRET, call_id=call_id, direction="in", event=event, **{**KNOWN, **fields}).status_code == 200


def inside_viewport(page, selector: str) -> bool:
    return page.evaluate("""(selector) => {
        const box = document.querySelector(selector).getBoundingClientRect();
        return box.width > 0 && box.left >= 0 && box.top >= 0 &&
               box.right <= window.innerWidth && box.bottom <= window.innerHeight;
    }""", selector)


def wait_for_text(page, selector: str, text: str) -> None:
    page.wait_for_function("([s, t]) => document.querySelector(s)?.innerText.includes(t) === true",
                           arg=[selector, text], timeout=5000)


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_banner_is_on_screen_and_changes_to_accepted_and_ended(browser, server, viewport):
    context, page = open_app(browser, server, viewport)
    call_id = "1" * 64
    banner = f"#call-{call_id}"
    call(server, call_id)
    page.locator(banner).wait_for(timeout=5000)
    assert inside_viewport(page, banner)
    text = page.locator(banner).inner_text()
    assert "Eingehender Anruf" in text and "Müller GmbH" in text and "an: 0221 999000" in text
    page.screenshot(path=str(SHOTS / f"banner-ringing-{viewport}.png"))
    call(server, call_id, "CallAccepted", peer="777111222@fpbx.de")
    wait_for_text(page, banner, "Anruf angenommen von Anna Schmidt")
    assert inside_viewport(page, banner)
    call(server, call_id, "HungUp", duration="38", type="accepted")
    wait_for_text(page, banner, "Anruf beendet (0:38)")
    assert inside_viewport(page, banner)
    # Ended: one line, so it no longer takes the room of a ringing call.
    assert page.locator(banner).bounding_box()["height"] < 60
    page.screenshot(path=str(SHOTS / f"banner-ended-{viewport}.png"))
    context.close()


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_three_calls_at_once_never_cover_the_journal_filter(browser, server, viewport):
    context, page = open_app(browser, server, viewport)
    page.goto(f"{server}/calls/")
    for digit in "345":
        call(server, digit * 64, **{"from": f"0301234567{digit}"})
    page.locator("#call-" + "5" * 64).wait_for(timeout=5000)
    page.wait_for_timeout(300)  # the banner animation ends
    shown = page.locator(".call-banner:visible").count()
    assert shown == (1 if viewport == "phone" else 3)
    assert page.locator("[data-banners-more]").is_visible() == (viewport == "phone")
    if viewport == "phone":
        assert page.locator("[data-banners-more]").inner_text() == "2 weitere Anrufe"
    for name in ("Filtern", "Filter zurücksetzen"):
        control = page.get_by_role("button" if name == "Filtern" else "link", name=name, exact=True)
        control.evaluate("element => element.scrollIntoView({block: 'center'})")
        hit = control.evaluate("""element => {
            const box = element.getBoundingClientRect();
            const found = document.elementFromPoint(box.left + box.width / 2, box.top + box.height / 2);
            return element === found || element.contains(found);
        }""")
        assert hit, f"{name} is covered by a banner"
    page.screenshot(path=str(SHOTS / f"three-banners-journal-{viewport}.png"))
    if viewport == "phone":  # scrolled to the end, the last control is above the sheet
        page.evaluate("window.scrollTo(0, document.documentElement.scrollHeight)")
        last = page.locator("main button, main a[role=button]").last.bounding_box()
        sheet = page.locator("#call-banners").bounding_box()
        assert last["y"] + last["height"] <= sheet["y"]
    assert page.evaluate("document.documentElement.scrollWidth") <= VIEWPORTS[viewport]["width"]
    context.close()


def test_closed_banner_stays_closed_in_other_tabs_after_reload_and_on_other_devices(browser, server):
    context, first = open_app(browser, server)
    second = context.new_page()
    second.goto(f"{server}/calls/")
    second.wait_for_function("() => window.__sseOpen === true", timeout=10000)
    call_id = "6" * 64
    call(server, call_id)
    first.locator(f"#call-{call_id}").wait_for(timeout=5000)
    second.locator(f"#call-{call_id}").wait_for(timeout=5000)
    with first.expect_response(lambda response: "/dismiss" in response.url) as dismissed:
        first.locator(f"#call-{call_id} [data-dismiss-banner]").click()
    assert dismissed.value.status == 204
    second.locator(f"#call-{call_id}").wait_for(state="detached", timeout=5000)
    for page in (first, second):
        page.reload()
        page.wait_for_function("() => window.__sseOpen === true", timeout=10000)
    other_device, third = open_app(browser, server, "phone")
    first.wait_for_timeout(500)
    assert first.locator(f"#call-{call_id}").count() == 0
    assert second.locator(f"#call-{call_id}").count() == 0
    assert third.locator(f"#call-{call_id}").count() == 0
    # A colleague still sees it.
    colleague, fourth = open_app(browser, server, user="bert")
    fourth.locator(f"#call-{call_id}").wait_for(timeout=5000)
    for each in (context, other_device, colleague):
        each.close()


@pytest.mark.parametrize("user, expected", [("anna", 1), ("bert", 0)])
def test_desktop_notification_ring_and_tab_title_while_a_call_rings(browser, server, user, expected):
    context, page = open_app(browser, server, user=user, permissions=["notifications"])
    page.add_init_script(NOTIFICATION_SPY)
    page.reload()
    page.wait_for_function("() => window.__sseOpen === true", timeout=10000)
    title = page.title()
    call_id = "7" * 64
    call(server, call_id)
    page.locator(f"#call-{call_id}").wait_for(timeout=5000)
    assert page.title() == "☎ Müller GmbH"
    page.wait_for_timeout(300)
    notifications = page.evaluate("window.__notifications")
    assert len(notifications) == expected
    assert page.evaluate("window.__tones") == 2 * expected  # two short tones, for who opted in
    if expected:
        assert notifications[0]["title"] == "☎ Müller GmbH" and "06131 123456" in notifications[0]["body"]
    call(server, call_id, "CallAccepted", peer="777111222@fpbx.de")
    wait_for_text(page, f"#call-{call_id}", "Anruf angenommen")
    assert page.title() == title
    assert len(page.evaluate("window.__notifications")) == expected  # no second one for the same call
    if expected:  # a click on the notification opens the caller's address
        page.evaluate("window.__lastNotification.onclick()")
        page.wait_for_url(f"{server}/addresses/*")
        assert page.locator("h1").inner_text() == "Müller GmbH"
    context.close()


def test_missed_calls_count_in_the_navigation_changes_live(browser, server):
    context, page = open_app(browser, server)
    badge = page.locator(".mainnav [data-missed-count]")
    assert not badge.is_visible()
    call_id = "8" * 64
    call(server, call_id)
    call(server, call_id, "HungUp", type="missed")
    wait_for_text(page, f"#call-{call_id}", "Verpasster Anruf")
    badge.wait_for(state="visible", timeout=5000)
    assert badge.inner_text() == "1"
    context.close()
