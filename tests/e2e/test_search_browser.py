"""German search in a real browser: a person types a spelling without umlauts and finds the address;
a hit on a contact person says which one. At 1280x800 and 390x844; screenshots in $SCREENSHOT_DIR/search."""
from __future__ import annotations

import pytest

from ..conftest import make_user
from ..servers import serve_app
from ..test_addresses import add_contact, create_address
from .conftest import shots_dir

SHOTS = shots_dir("search")
BLANK = {"company": "", "phone": "", "mobile": "", "fax": "", "email": "", "city": "", "postcode": "", "street": ""}


@pytest.fixture
def server(app):
    make_user(app, "anna", display_name="Anna Schmidt")
    create_address(app, **{**BLANK, "name": "Öztürk Handel GmbH", "city": "Köln", "phone": "0221 1234567"})
    create_address(app, **{**BLANK, "name": "Straßenbau Krämer GmbH", "city": "Düsseldorf"})
    ahrens = create_address(app, **{**BLANK, "name": "Gärtnerei Ahrens", "city": "Münster"})
    add_contact(app, ahrens, name="Petra Lang", role="Einkauf", mobile="0171 7654321")
    with serve_app(app) as base:
        yield base


def rows(page) -> list[str]:
    return [" ".join(text.split()) for text in page.locator("table.address-list tbody td:first-child a").all_inner_texts()]


def type_search(page, text: str, expected_first: str) -> None:
    box = page.locator("input[name=q]")
    box.fill("")
    box.type(text, delay=30)
    page.locator("table.address-list tbody a", has_text=expected_first).first.wait_for()
    page.wait_for_function("() => !document.querySelector('.htmx-request')")


def test_typing_without_umlauts_finds_the_address_and_the_matching_contact(page, server):
    assert rows(page) == ["Gärtnerei Ahrens", "Öztürk Handel GmbH", "Straßenbau Krämer GmbH"]

    type_search(page, "Oeztuerk", "Öztürk Handel GmbH")
    page.wait_for_function("() => document.querySelectorAll('table.address-list tbody tr').length === 1")
    assert rows(page) == ["Öztürk Handel GmbH"]
    page.screenshot(path=str(SHOTS / f"oeztuerk-{page.viewport_name}.png"), full_page=True)

    type_search(page, "strassenbau", "Straßenbau Krämer GmbH")
    page.wait_for_function("() => document.querySelectorAll('table.address-list tbody tr').length === 1")
    assert rows(page) == ["Straßenbau Krämer GmbH"]

    type_search(page, "einkauf", "Gärtnerei Ahrens")
    hit = page.locator(".contact-hit")
    hit.wait_for()
    assert hit.inner_text() == "gefunden bei Petra Lang (Einkauf)"
    assert hit.is_visible()
    page.screenshot(path=str(SHOTS / f"contact-hit-{page.viewport_name}.png"), full_page=True)

    type_search(page, "0221 123", "Öztürk Handel GmbH")
    page.wait_for_function("() => document.querySelectorAll('table.address-list tbody tr').length === 1")
    assert rows(page) == ["Öztürk Handel GmbH"]
