"""Browser tests in Debian's headless Chromium, driven by Playwright (never a downloaded browser)."""
import os
import re
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage"]


def log_in(page, base: str, username: str = "anna") -> None:
    """Log in through the real login form (password of tests.conftest.make_user); lands on the addresses."""
    from ..conftest import PASSWORD

    page.goto(f"{base}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/addresses/")


@pytest.fixture(scope="session")
def browser():
    if not os.path.exists(CHROMIUM):
        if os.environ.get("CI"):
            pytest.fail(f"Chromium not found at {CHROMIUM}; CI installs Debian's chromium package")
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def open_nav_link(page, name: str) -> None:
    """Click a link of the main navigation; on narrow screens open the menu first ("☰ Menü")."""
    toggle = page.locator("[data-menu-toggle]")
    if toggle.count() and toggle.first.is_visible() and toggle.first.get_attribute("aria-expanded") != "true":
        toggle.first.click()
    link = page.locator(".topbar nav a").filter(has_text=re.compile(rf"^\s*{re.escape(name)}\b")).first
    if not link.is_visible():  # inside a dropdown (Einstellungen, the user's menu) on wide screens
        link.locator("xpath=ancestor::details[1]/summary").click()
    link.click()


SCREENSHOTS = os.environ.get("SCREENSHOT_DIR") or os.path.join(tempfile.gettempdir(), "telephone-screenshots")


def shots_dir(area: str) -> Path:
    """Where a journey saves its screenshots to be looked at: $SCREENSHOT_DIR/<area> (default: the temp dir)."""
    path = Path(SCREENSHOTS) / area
    path.mkdir(parents=True, exist_ok=True)
    return path


VIEWPORTS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}


@contextmanager
def logged_in_page(browser, base: str, viewport: str, username: str = "anna"):
    """A German browser page at one of VIEWPORTS (`page.viewport_name`), logged in as `username`."""
    context = browser.new_context(locale="de-DE", viewport=VIEWPORTS[viewport])
    page = context.new_page()
    page.viewport_name = viewport
    log_in(page, base, username)
    try:
        yield page
    finally:
        context.close()


@pytest.fixture(params=VIEWPORTS, ids=list(VIEWPORTS))
def page(request, browser, server):
    """For a module with a `server` fixture: a logged-in page at each of VIEWPORTS (a module may define its own)."""
    with logged_in_page(browser, server, request.param) as page:
        yield page
