"""Address journeys in a real browser: CSV import with first names, re-import, update; a contact person.

Both at desktop (1280x800) and phone (390x844) size; screenshots go to $SCREENSHOT_DIR/addresses.
"""
from __future__ import annotations


import pytest
from sqlalchemy import func, select

from telephone.extensions import db
from telephone.models import Address, ContactPerson

from ..conftest import make_user
from .conftest import shots_dir
from ..servers import serve_app

SHOTS = shots_dir("addresses")
FIRST = (
    "Typ;Kundennummer;Name;Anrede;Titel;Vorname;Nachname;Funktion;Ort;Telefon;E-Mail\r\n"
    "Person;;;;;Jürgen;Weiß;;Mainz;06131 223344;juergen@example.de\r\n"
    "Person;;;;;Eva;Meier;;Bonn;0228 445566;\r\n"
    "Firma;K-100;Kaiser KG;;;;;;Köln;0221 123456;info@kaiser.de\r\n"
    "Ansprechpartner;;;Frau;Dr.;Anna;Schmidt;Einkauf;;0221 123456-17;anna@kaiser.de\r\n"
)
CHANGED = FIRST.replace(";Mainz;", ";Wiesbaden;").replace(";Einkauf;", ";Leitung;")


@pytest.fixture
def server(app, tmp_path):
    app.config["ADDRESS_IMPORT_FOLDER"] = str(tmp_path / "imports")
    make_user(app, "anna", display_name="Anna Schmidt")
    with serve_app(app) as base:
        yield base


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}-{page.viewport_name}.png"), full_page=True)


def fits_the_width(page) -> bool:
    """The page content (main) fits the viewport; wide tables scroll inside their own box."""
    return page.evaluate("(() => { const main = document.querySelector('main');"
                         " return main.getBoundingClientRect().right <= window.innerWidth + 1"
                         " && main.scrollWidth <= main.clientWidth + 1; })()")


def preview_of(page, server, tmp_path, content: str, name: str) -> list[str]:
    """Upload `content` on the import page; returns the result column of the preview, line by line."""
    path = tmp_path / name
    path.write_bytes(content.encode("utf-8-sig"))
    page.goto(f"{server}/addresses/import")
    page.set_input_files("input[name=file]", str(path))
    page.get_by_role("button", name="Hochladen und prüfen").click()
    page.get_by_role("heading", name="Import prüfen").wait_for()
    return [" ".join(text.split()) for text in page.locator("table.import-preview td.import-result").all_inner_texts()]


def counts(app) -> tuple[int, int]:
    with app.app_context():
        return (db.session.scalar(select(func.count()).select_from(Address)),
                db.session.scalar(select(func.count()).select_from(ContactPerson)))


def test_import_keeps_first_names_reimport_is_unchanged_and_changes_update(page, server, app, tmp_path):
    assert preview_of(page, server, tmp_path, FIRST, "adressen.csv") == ["neu"] * 4
    assert "Neu: 4 · Aktualisiert: 0 · Unverändert: 0 · Fehlerhaft: 0" in page.inner_text("main")
    shot(page, "import-1-preview")
    page.get_by_role("button", name="Importieren").click()
    page.get_by_text("Import abgeschlossen: 4 neu angelegt, 0 aktualisiert, 0 unverändert.").wait_for()
    listing = page.inner_text("main")
    assert "Jürgen Weiß" in listing and "Eva Meier" in listing and "Kaiser KG" in listing
    assert counts(app) == (3, 1)

    # the same file again: every line recognised, nothing to import
    assert preview_of(page, server, tmp_path, FIRST, "adressen.csv") == ["unverändert"] * 4
    text = page.inner_text("main")
    assert "Neu: 0 · Aktualisiert: 0 · Unverändert: 4 · Fehlerhaft: 0" in text
    assert "Alle Zeilen dieser Datei sind schon vorhanden und unverändert" in text
    assert page.get_by_role("button", name="Importieren").is_disabled()
    assert fits_the_width(page)
    shot(page, "import-2-reimport-unchanged")
    assert counts(app) == (3, 1)

    # a changed file: the changed lines are updated, the rest stays
    assert preview_of(page, server, tmp_path, CHANGED, "adressen-neu.csv") == [
        "aktualisiert Ort", "unverändert", "unverändert", "aktualisiert Funktion"]
    assert page.get_by_role("switch", name="Vorhandene Adressen aktualisieren").is_checked()
    shot(page, "import-3-changed-preview")
    page.get_by_role("button", name="Importieren").click()
    page.get_by_text("Import abgeschlossen: 0 neu angelegt, 2 aktualisiert, 2 unverändert.").wait_for()
    assert counts(app) == (3, 1)
    with app.app_context():
        assert db.session.scalar(select(Address.city).filter_by(name="Jürgen Weiß")) == "Wiesbaden"
        assert db.session.scalar(select(ContactPerson.role)) == "Leitung"
    shot(page, "import-4-done")


def test_contact_person_with_name_parts_and_a_bad_number(page, server, app):
    with app.test_request_context():
        from telephone.addresses import book

        company_id = book.save_address(None, {"kind": "company", "name": "Kaiser KG", "phone": "0221 123456"}).id
    page.goto(f"{server}/addresses/{company_id}")
    page.get_by_role("button", name="Ansprechpartner hinzufügen").click()
    page.get_by_label("Anrede").select_option("Frau")
    page.get_by_label("Titel").fill("Dr.")
    page.get_by_label("Vorname").fill("Anna")
    page.get_by_label("Nachname").fill("Schmidt")
    page.get_by_label("Telefon").fill("0221 12")
    page.get_by_role("button", name="Speichern").click()

    error = page.locator("#phone-errors")
    error.wait_for()
    assert error.inner_text() == ("„0221 12“ ist keine gültige Rufnummer. Bitte mit Vorwahl eingeben "
                                  "(z. B. 06131 1234-0) oder als interne Durchwahl (bis 6 Ziffern).")
    field, message = page.get_by_label("Telefon").bounding_box(), error.bounding_box()
    assert 0 <= message["y"] - (field["y"] + field["height"]) < 40  # right below the field
    assert page.get_by_label("Vorname").input_value() == "Anna"  # what was typed stays
    assert page.get_by_label("Anrede").input_value() == "Frau"
    assert fits_the_width(page)
    shot(page, "contact-1-bad-number")
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(ContactPerson)) == 0

    page.get_by_label("Telefon").fill("0221 123456-17")
    page.get_by_role("button", name="Speichern").click()
    page.get_by_text("Der Ansprechpartner „Dr. Anna Schmidt“ wurde angelegt.").wait_for()
    contact = page.locator("article.contact")
    assert "Frau Dr. Anna Schmidt" in " ".join(contact.inner_text().split())
    assert "0221 12345617" in contact.inner_text()
    shot(page, "contact-2-saved")
