"""Paging the address list in a real browser: forward, back, last and first page, also through a search
typed into the search field; at desktop (1280x800) and phone (390x844) size, screenshots to
$SCREENSHOT_DIR/paging."""
from __future__ import annotations

import re

import pytest

from telephone.extensions import db
from telephone.models import Address

from ..conftest import make_user
from ..servers import serve_app
from .conftest import shots_dir

SHOTS = shots_dir("paging")
NAMES = [f"Bäckerei {n:02d}" for n in range(1, 8)] + ["Jäger Söhne", "Müller Fliesen"]


@pytest.fixture
def server(app):
    app.config["PAGE_SIZE"] = 3
    make_user(app, "anna")
    with app.app_context():
        db.session.add_all([Address(name=name) for name in NAMES])
        db.session.commit()
    with serve_app(app) as base:
        yield base


def listed(page) -> list[str]:
    return page.locator("#address-list tbody tr td:first-child a").all_inner_texts()


def follow(page, name: str) -> None:
    """Click a pager link and wait until the boosted page has replaced the list."""
    before = listed(page)
    page.locator("nav.pagination").get_by_role("link", name=name).click()
    page.wait_for_function("(names) => [...document.querySelectorAll('#address-list tbody tr td:first-child a')]"
                           ".map(a => a.innerText).join('|') !== names.join('|')", arg=before)


def fits_the_width(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")


def test_pages_forward_and_back(page, server):
    assert listed(page) == NAMES[:3]
    assert "9 Treffer" in page.locator("#address-list").inner_text()
    pager = page.locator("nav.pagination")
    assert pager.get_by_role("link", name="Zurück").count() == 0
    follow(page, "Weiter")
    assert listed(page) == NAMES[3:6] and "after=" in page.url
    page.screenshot(path=str(SHOTS / f"addresses-second-page-{page.viewport_name}.png"), full_page=True)
    assert fits_the_width(page)
    follow(page, "Weiter")
    assert listed(page) == NAMES[6:]
    assert pager.get_by_role("link", name="Weiter").count() == 0
    follow(page, "Zurück")
    assert listed(page) == NAMES[3:6]
    follow(page, "Erste Seite")
    assert listed(page) == NAMES[:3]
    follow(page, "Letzte Seite")
    assert listed(page) == NAMES[6:]
    page.go_back()  # the browser's history has every page
    page.wait_for_function("(name) => document.querySelector('#address-list tbody a').innerText === name",
                           arg=NAMES[0])
    assert listed(page) == NAMES[:3]


def test_pages_through_a_typed_search(page, server):
    page.fill("input[name=q]", "bäckerei")
    page.wait_for_url(re.compile(r"/addresses/\?q=b%C3%A4ckerei$"))
    page.wait_for_function("document.querySelector('#address-list').innerText.includes('7 Treffer')")
    assert listed(page) == NAMES[:3]
    follow(page, "Weiter")
    assert listed(page) == NAMES[3:6] and "q=b%C3%A4ckerei" in page.url
    follow(page, "Letzte Seite")
    assert listed(page) == NAMES[4:7]  # the last three of the search
    assert page.locator("input[name=q]").input_value() == "bäckerei"
    follow(page, "Zurück")
    assert listed(page) == NAMES[1:4]
    page.screenshot(path=str(SHOTS / f"addresses-search-paged-{page.viewport_name}.png"), full_page=True)
    assert fits_the_width(page)
