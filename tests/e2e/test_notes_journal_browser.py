"""Phone notes and the call journal in a real browser, at desktop and phone width.

A note about a call is filed under another address found with the search field,
and appears on that address's page; the journal rows say what a person needs.
"""
from __future__ import annotations

import time

import pytest

from telephone import numbers, site_settings
from telephone.extensions import db
from telephone.models import Address, ContactPerson

from ..calls_helpers import ANONYMOUS_MISSED, ANSWERED_CALL, OUTGOING_BUSY, SECRET, post_notify
from ..conftest import PASSWORD, make_user
from ..servers import serve_app
from .conftest import log_in, shots_dir

SHOTS = shots_dir("calls")
VIEWPORTS = [pytest.param({"width": 1280, "height": 800}, id="1280x800"),
             pytest.param({"width": 390, "height": 844}, id="390x844")]


@pytest.fixture
def office(app):
    """Müller GmbH (main number 06131 1234-0, Eva Weber on 06131 123456), Schulz KG, and the calls of a morning."""
    make_user(app, "anna", display_name="Anna Schmidt")
    with app.test_request_context():
        mueller = Address(name="Müller GmbH", kind="company", phone="06131 1234-0")
        eva = ContactPerson(name="Eva Weber", phone="06131 123456")
        mueller.contacts.append(eva)
        schulz = Address(name="Schulz KG", kind="company", phone="089 777000")
        db.session.add_all([mueller, schulz])
        numbers.index_numbers(mueller, [("phone", mueller.phone)])
        numbers.index_numbers(eva, [("phone", eva.phone)])
        numbers.index_numbers(schulz, [("phone", schulz.phone)])
        site_settings.set_value("placetel.shared_secret", SECRET)
        db.session.commit()
        ids = {"mueller": mueller.id, "schulz": schulz.id}
    client = app.test_client()
    for body in ANSWERED_CALL + ANONYMOUS_MISSED + OUTGOING_BUSY:
        assert post_notify(client, body).status_code == 200
    client.post("/login", data={"username": "anna", "password": PASSWORD})
    # anna has no Placetel phone yet: the attempt to the company's main number fails and is journalled.
    client.post("/calls/dial", data={"number": "06131 1234-0"})
    return ids


def _journal_page(browser, base, viewport):
    """A browser context at `viewport`, logged in as anna, showing the journal."""
    context = browser.new_context(locale="de-DE", viewport=viewport)
    page = context.new_page()
    log_in(page, base)
    page.goto(f"{base}/calls/")
    return context, page


@pytest.mark.csrf
@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_note_filed_under_another_address_appears_on_its_page(browser, app, office, viewport):
    name = f"{viewport['width']}x{viewport['height']}"
    with serve_app(app) as base:
        context, page = _journal_page(browser, base, viewport)
        answered = page.locator("tr.call-ended")
        assert "Eva Weber" in answered.inner_text()
        answered.get_by_role("button", name="Notiz").click()
        page.wait_for_url("**/calls/notes/new?call=*")
        assert page.get_by_label("Eva Weber (Müller GmbH)").is_checked()

        page.get_by_label("Betreff").fill("")
        page.get_by_label("Notiz", exact=True).fill("Rechnung 4711 geht an Schulz.\nBitte dort nachfassen.")
        page.get_by_label("Andere Adresse, Person oder Telefonbuch-Eintrag").press_sequentially("Schulz", delay=40)
        pick = page.locator("#note-target-results").get_by_label("Schulz KG")
        pick.wait_for(timeout=5000)
        pick.check()
        page.screenshot(path=f"{SHOTS}/note-search-{name}.png", full_page=True)

        page.get_by_role("button", name="Speichern").click()  # no subject: 422 with the German error
        page.get_by_text("Bitte einen Betreff eingeben.").wait_for(timeout=5000)
        assert page.get_by_label("Schulz KG").is_checked()  # what was picked and typed is kept
        assert "Rechnung 4711" in page.get_by_label("Notiz", exact=True).input_value()
        page.screenshot(path=f"{SHOTS}/note-error-{name}.png", full_page=True)

        page.get_by_label("Betreff").fill("Rechnung an Schulz")
        page.get_by_role("button", name="Speichern").click()
        page.wait_for_url(f"{base}/addresses/{office['schulz']}#phone-notes")
        notes = page.locator("#phone-notes")
        assert "Rechnung an Schulz" in notes.inner_text() and "Bitte dort nachfassen." in notes.inner_text()
        page.screenshot(path=f"{SHOTS}/note-on-address-{name}.png", full_page=True)

        page.goto(f"{base}/addresses/{office['mueller']}")
        assert "Rechnung an Schulz" not in page.locator("#phone-notes").inner_text()
        context.close()


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_journal_rows_say_what_happened(browser, app, office, viewport):
    name = f"{viewport['width']}x{viewport['height']}"
    with app.app_context():
        from telephone.models import Call, PhoneNote, User
        from sqlalchemy import select

        call = db.session.scalar(select(Call).where(Call.status == "ended"))
        anna = db.session.scalar(select(User.id).where(User.username == "anna"))
        db.session.add(PhoneNote(subject="Angebot", author_id=anna, call_pk=call.id,
                                 text="<i>Preis</i> nachverhandeln\nLieferung KW 12\nDritte Zeile"))
        db.session.commit()
    with serve_app(app) as base:
        context, page = _journal_page(browser, base, viewport)
        failed = page.locator("tr.call-dial_failed")
        assert "Müller GmbH" in failed.inner_text() and "unbekannt" not in failed.inner_text()
        assert failed.get_by_role("button", name="erneut anrufen").count() == 1
        missed = page.locator("tr.call-missed")
        assert "0:00" not in missed.inner_text() and "–" in missed.locator("td.duration").inner_text()
        busy = page.locator("tr.call-busy")
        assert busy.get_by_role("button", name="erneut anrufen").count() == 1
        assert busy.get_by_role("button", name="zurückrufen").count() == 0
        assert page.locator("tr.call-ended").get_by_role("button", name="zurückrufen").count() == 1
        note = page.locator(".call-note")
        assert "<i>Preis</i> nachverhandeln\nLieferung KW 12" in note.inner_text()
        assert "Dritte Zeile" not in note.inner_text()
        for badge in page.locator("table.journal .badge").all():
            lines = badge.evaluate("e => e.getBoundingClientRect().height / parseFloat(getComputedStyle(e).fontSize)")
            assert lines < 2, f"badge {badge.inner_text()!r} wraps"
        page.screenshot(path=f"{SHOTS}/journal-{name}.png", full_page=True)
        context.close()


def test_refused_stream_is_retried_with_growing_pauses_then_banners_arrive(browser, app):
    """A 503 (all stream slots taken) makes the browser retry with backoff, one attempt at a time."""
    from ..servers import notify

    make_user(app, "anna", display_name="Anna Schmidt")
    with app.app_context():
        site_settings.set_value("placetel.shared_secret", SECRET)
        db.session.commit()
    attempts = []
    started = time.monotonic()
    inner = app.wsgi_app

    def counting(environ, start_response):
        if environ["PATH_INFO"] == "/events":
            attempts.append(round(time.monotonic() - started, 1))
        return inner(environ, start_response)

    app.wsgi_app = counting
    app.config["EVENT_STREAM_LIMIT"] = 0
    with serve_app(app) as base:
        context = browser.new_context(locale="de-DE")
        context.add_init_script("document.addEventListener('htmx:sseOpen', () => { window.__sseOpen = true; });")
        page = context.new_page()
        log_in(page, base)
        page.wait_for_timeout(12000)
        # htmx's sse extension waits 0.5 s, 1 s, 2 s, 4 s … between attempts: one attempt at a time.
        pauses = [later - earlier for earlier, later in zip(attempts, attempts[1:])]
        assert 3 <= len(attempts) <= 7, attempts
        assert all(later >= earlier for earlier, later in zip(pauses, pauses[1:])), attempts
        app.config["EVENT_STREAM_LIMIT"] = None
        page.wait_for_function("() => window.__sseOpen === true", timeout=20000)
        call_id = "5" * 64
        notify(base, SECRET, call_id=call_id, direction="in", event="IncomingCall",
               **{"from": "06131123456", "to": "0221999000"})
        page.locator(f"#call-{call_id}").wait_for(timeout=5000)
        page.screenshot(path=f"{SHOTS}/banner-after-503.png")
        context.close()
