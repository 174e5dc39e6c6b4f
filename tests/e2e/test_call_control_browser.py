"""Anrufsteuerung in a real browser: a rule with a wrong value, the fixed rule, its test, the block list."""
from __future__ import annotations


import pytest

from ..calls_helpers import configure
from ..conftest import make_user
from ..servers import running_server
from .conftest import log_in, shots_dir

SHOTS = shots_dir("phones")
VIEWPORTS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}


@pytest.fixture
def server(app, database_url):
    make_user(app, "chefin", admin=True, display_name="Chefin")
    make_user(app, "anna", display_name="Anna Schmidt")
    make_user(app, "ben", display_name="Ben Braun")
    configure(app, accounts="anna:777111222@fpbx.de")
    with running_server(database_url) as base:
        yield base


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_admin_builds_an_evening_rule_tests_it_and_blocks_a_number(browser, server, viewport):
    page = browser.new_context(locale="de-DE", viewport=VIEWPORTS[viewport]).new_page()
    log_in(page, server, "chefin")
    page.goto(f"{server}/settings/routing")
    page.get_by_text("Noch keine Regeln").wait_for()

    page.get_by_role("button", name="Neue Regel").click()
    page.fill("#name", "Abends zu Ben")
    for day in ("Mo", "Di", "Mi", "Do", "Fr"):
        page.get_by_label(day, exact=True).check()
    page.fill("#time_from", "18:00")
    page.fill("#time_to", "23:59")
    page.select_option("#action", "forward")
    page.fill("#targets", "ben")
    page.get_by_role("button", name="Speichern").click()
    error = page.get_by_text("„ben“ hat kein Telefon (SIP-Konto) zugeordnet.")
    error.wait_for()
    assert page.input_value("#name") == "Abends zu Ben"  # what was typed stays
    assert page.input_value("#time_from") == "18:00"
    page.screenshot(path=str(SHOTS / f"routing-rule-error-{viewport}.png"), full_page=True)

    page.fill("#name", "Abends zu Anna")
    page.fill("#targets", "anna")
    page.get_by_role("button", name="Speichern").click()
    page.get_by_text("Regel „Abends zu Anna“ gespeichert.").wait_for()
    row = page.locator("table.rules tbody tr").first
    assert "Mo,Di,Mi,Do,Fr, 18:00–23:59 Uhr" in row.inner_text()

    page.fill("#number", "030 123456")
    page.fill("#at", "01.12.2026 19:30")
    page.get_by_role("button", name="Testen").click()
    result = page.locator("#rule-test-result")
    result.get_by_text("Abends zu Anna: weitergeleitet an Anna Schmidt").wait_for()
    assert "<Number>777111222@fpbx.de</Number>" in result.locator("pre").inner_text()
    page.fill("#at", "01.12.2026 10:00")
    page.get_by_role("button", name="Testen").click()
    result.get_by_text("Keine Regel passt").wait_for()

    page.fill("#block-form input[name=number]", "0900*")
    page.fill("#block-form input[name=reason]", "Mehrwertdienste")
    page.locator("#block-form").get_by_role("button", name="Nummer sperren").click()
    page.get_by_text("+49900* steht jetzt auf der Sperrliste.").wait_for()
    page.fill("#number", "0900 1234567")
    page.get_by_role("button", name="Testen").click()
    result.get_by_text("gesperrt").wait_for()
    page.screenshot(path=str(SHOTS / f"routing-{viewport}.png"), full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth") <= VIEWPORTS[viewport]["width"]
