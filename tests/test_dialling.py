"""Click-to-dial: POST /calls/dial, the call journal, the double-click guard, the Telefon page."""
import logging
import re
from datetime import timedelta

import pytest
from sqlalchemy import event, select

from telephone import numbers, site_settings
from telephone.extensions import db
from telephone.models import Address, AddressKind, Call, CallStatus, ContactPerson, PhonebookEntry

from .conftest import make_user, pager_link

TOKEN = "pt-token-4711-abcdef-secret"
CALLS_URL = "https://api.placetel.de/v2/calls"
HTMX = {"HX-Request": "true"}


@pytest.fixture
def placetel_ready(app, auth):
    """anna is logged in and mapped to a SIP account; Placetel has a token."""
    auth.login("anna")
    make_user(app, "ben")
    with app.app_context():
        site_settings.set_value("placetel.api_token", TOKEN)
        site_settings.set_value("placetel.accounts", "anna:777123456@fpbx.de\nben:777654321@fpbx.de")
        db.session.commit()


def dial(client, number, htmx=True):
    return client.post("/calls/dial", data={"number": number}, headers=HTMX if htmx else {})


def journal(app):
    with app.app_context():
        return [(c.direction, c.to_number, c.remote_e164, c.peer, c.status, c.outcome, c.call_id, c.user.username)
                for c in db.session.scalars(select(Call).order_by(Call.id))]


def test_dial_starts_the_call_and_records_it(client, app, placetel_ready, requests_mock):
    requests_mock.post(CALLS_URL, status_code=201)
    response = dial(client, "0221 / 123 456")
    assert response.status_code == 200
    assert "Ihr Telefon klingelt – nehmen Sie ab, um 0221 123456 anzurufen." in response.text
    sent = requests_mock.last_request
    assert sent.headers["Authorization"] == f"Bearer {TOKEN}"
    assert sent.json() == {"sipuid": "777123456@fpbx.de", "target": "+49221123456"}
    assert journal(app) == [("out", "0221 / 123 456", "+49221123456", "777123456@fpbx.de", CallStatus.DIALLING.value,
                             "Ihr Telefon klingelt – nehmen Sie ab, um 0221 123456 anzurufen.", None, "anna")]


@pytest.mark.parametrize("typed", ["+49 221 123456", "0049221123456", "+49 (0)221 123456", "tel:+49221123456"])
def test_dial_accepts_common_notations(client, placetel_ready, requests_mock, typed):
    requests_mock.post(CALLS_URL, status_code=201)
    assert "Ihr Telefon klingelt" in dial(client, typed).text
    assert requests_mock.last_request.json()["target"] == "+49221123456"


def test_dial_names_the_known_callee_on_the_ringing_phone(client, app, placetel_ready, requests_mock):
    with app.test_request_context():
        company = Address(name="Müller GmbH", kind=AddressKind.COMPANY.value)
        db.session.add(company)
        numbers.index_numbers(company, [("phone", "0221 123456")])
        db.session.commit()
    requests_mock.post(CALLS_URL, status_code=201)
    dial(client, "0221 123456")
    assert requests_mock.last_request.json()["from_name"] == "Müller GmbH"


@pytest.mark.parametrize("typed", ["abc", "0221 12", "12345678", "0221 12345678901234567890"])
def test_unparseable_number_is_refused_and_nothing_sent(client, app, placetel_ready, requests_mock, typed):
    response = dial(client, typed)
    assert "ist keine gültige Rufnummer" in response.text
    assert requests_mock.call_count == 0
    assert journal(app) == []


@pytest.mark.parametrize("typed", ["23", "9999", "12345"])
def test_internal_extension_is_dialled_as_it_is(client, app, placetel_ready, requests_mock, typed):
    requests_mock.post(CALLS_URL, status_code=201)
    response = dial(client, typed)
    assert f"Ihr Telefon klingelt – nehmen Sie ab, um intern {typed} anzurufen." in response.text
    assert requests_mock.last_request.json() == {"sipuid": "777123456@fpbx.de", "target": typed}
    assert [(row[1], row[2]) for row in journal(app)] == [(typed, None)]


def test_empty_number_asks_for_one(client, placetel_ready, requests_mock):
    assert "Bitte geben Sie eine Rufnummer ein." in dial(client, "  ").text
    assert requests_mock.call_count == 0


def test_user_without_account_gets_a_tel_link(client, app, auth, requests_mock):
    auth.login("otto")
    with app.app_context():
        site_settings.set_value("placetel.api_token", TOKEN)
        db.session.commit()
    response = dial(client, "0221 123456")
    assert "Ihrem Benutzer ist kein Placetel-Telefon zugeordnet" in response.text
    assert 'href="tel:+49221123456"' in response.text
    assert requests_mock.call_count == 0
    assert journal(app)[0][4] == CallStatus.DIAL_FAILED.value


def test_missing_token_is_explained_and_nothing_sent(client, app, placetel_ready, requests_mock):
    with app.app_context():
        site_settings.set_value("placetel.api_token", "")
        db.session.commit()
    response = dial(client, "0221 123456")
    assert "kein Placetel-API-Token" in response.text
    assert requests_mock.call_count == 0
    assert journal(app)[0][4:6] == (CallStatus.DIAL_FAILED.value, response.text.split("<p>")[1].split("</p>")[0])


@pytest.mark.parametrize("status, shown", [
    (401, "API-Token abgelehnt"),
    (403, "API-Token abgelehnt"),
    (404, "Placetel hat den Auftrag abgelehnt: SIP user not found"),
    (422, "Placetel hat den Auftrag abgelehnt: SIP user not found"),
    (429, "in 12 Sekunden erneut versuchen"),
    (500, "Placetel ist im Moment nicht erreichbar"),
])
def test_placetel_refusal_is_shown_and_recorded(client, app, placetel_ready, requests_mock, status, shown):
    requests_mock.post(CALLS_URL, status_code=status, json={"error": "SIP user not found"}, headers={"Retry-After": "12"})
    response = dial(client, "0221 123456")
    assert shown in response.text
    assert 'role="alert"' in response.text
    assert 'href="tel:+49221123456"' in response.text  # the softphone still works
    [row] = journal(app)
    assert row[4] == CallStatus.DIAL_FAILED.value and shown in row[5]


def test_fragment_escapes_placetel_text(client, placetel_ready, requests_mock):
    requests_mock.post(CALLS_URL, status_code=422, json={"error": "<script>alert(1)</script>"})
    response = dial(client, "0221 123456")
    assert "<script>alert(1)</script>" not in response.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in response.text


def test_fragment_escapes_what_was_typed(client, placetel_ready, requests_mock):
    response = dial(client, '<img src=x onerror="alert(1)">')
    assert "<img" not in response.text and "&lt;img" in response.text


def test_double_click_starts_only_one_call(client, app, placetel_ready, requests_mock):
    requests_mock.post(CALLS_URL, status_code=201)
    dial(client, "0221 123456")
    second = dial(client, "+49 221 123456")  # the same number in another notation
    assert "wird bereits aufgebaut" in second.text
    assert requests_mock.call_count == 1
    assert len(journal(app)) == 1


def test_guard_only_holds_for_a_few_seconds(client, app, placetel_ready, requests_mock):
    requests_mock.post(CALLS_URL, status_code=201)
    dial(client, "0221 123456")
    with app.app_context():
        call = db.session.scalars(select(Call)).one()
        call.started_at -= timedelta(seconds=6)
        db.session.commit()
    assert "Ihr Telefon klingelt" in dial(client, "0221 123456").text
    assert requests_mock.call_count == 2


def test_guard_lets_other_numbers_users_and_retries_after_failure_through(client, app, auth, placetel_ready,
                                                                          requests_mock):
    requests_mock.post(CALLS_URL, [{"status_code": 500}, {"status_code": 201}, {"status_code": 201},
                                   {"status_code": 201}])
    assert "nicht erreichbar" in dial(client, "0221 123456").text
    assert "Ihr Telefon klingelt" in dial(client, "0221 123456").text  # retry after a failure
    assert "Ihr Telefon klingelt" in dial(client, "0221 654321").text  # another number
    auth.logout()
    auth.login("ben")
    assert "Ihr Telefon klingelt" in dial(client, "0221 123456").text  # another user
    assert [r.json()["sipuid"] for r in requests_mock.request_history] == ["777123456@fpbx.de"] * 3 + [
        "777654321@fpbx.de"]


def test_guard_holds_across_sessions_of_the_same_user(app, placetel_ready, requests_mock):
    """Two browsers (or two worker processes) of one user: the database, not memory, decides."""
    requests_mock.post(CALLS_URL, status_code=201)
    first, second = app.test_client(), app.test_client()
    for browser in (first, second):
        browser.post("/login", data={"username": "anna", "password": "geheim-123"})
    dial(first, "0221 123456")
    assert "wird bereits aufgebaut" in dial(second, "0221 123456").text
    assert requests_mock.call_count == 1


def test_plain_form_post_redirects_back_with_flash(client, placetel_ready, requests_mock):
    requests_mock.post(CALLS_URL, status_code=201)
    response = dial(client, "0221 123456", htmx=False)
    assert response.status_code == 302 and response.headers["Location"] == "/calls/phone"
    page = client.get("/calls/phone").text
    assert "Ihr Telefon klingelt – nehmen Sie ab, um 0221 123456 anzurufen." in page


def test_plain_form_post_returns_to_the_page_it_came_from(client, placetel_ready, requests_mock):
    requests_mock.post(CALLS_URL, status_code=201)
    response = client.post("/calls/dial", data={"number": "0221 123456"},
                           headers={"Referer": "http://localhost/addresses/"})
    assert response.headers["Location"] == "http://localhost/addresses/"
    response = client.post("/calls/dial", data={"number": "0221 654321"},
                           headers={"Referer": "https://evil.example/"})
    assert response.headers["Location"] == "/calls/phone"


@pytest.mark.parametrize("headers, status", [(HTMX, 401), ({}, 401)])
def test_only_logged_in_users_can_dial(client, app, requests_mock, headers, status):
    with app.app_context():
        site_settings.set_value("placetel.api_token", TOKEN)
        db.session.commit()
    response = client.post("/calls/dial", data={"number": "0221 123456"}, headers=headers)
    assert response.status_code == status
    assert requests_mock.call_count == 0
    assert journal(app) == []


def test_token_never_in_dial_answers_or_logs(client, app, placetel_ready, requests_mock, caplog):
    caplog.set_level(logging.DEBUG)
    requests_mock.post(CALLS_URL, [{"status_code": 201}, {"status_code": 401, "json": {"error": TOKEN}}])
    answers = [dial(client, "0221 123456").text, dial(client, "0221 654321").text,
               client.get("/calls/phone").text]
    assert all(TOKEN not in answer for answer in answers)
    assert all(TOKEN not in record.getMessage() for record in caplog.records)


@pytest.mark.csrf
def test_dial_needs_csrf_token(client, placetel_ready, requests_mock):
    response = client.post("/calls/dial", data={"number": "0221 123456"}, headers=HTMX)
    assert response.status_code == 400
    assert requests_mock.call_count == 0


# --------------------------------------------------------------------------- the Telefon page


def _fill_phonebook(app, contacts=0):
    with app.test_request_context():
        company = Address(name="Müller GmbH", kind=AddressKind.COMPANY.value)
        person = ContactPerson(name="Anna <b>Schmidt</b>", address=company)
        private = Address(name="Zora Privat", kind=AddressKind.PERSON.value, company="Zora & Co")
        entry = PhonebookEntry(display_name="Hausmeister Klaus", company="Facility GmbH")
        db.session.add_all([company, person, private, entry])
        numbers.index_numbers(company, [("phone", "0221 1234-0"), ("fax", "0221 1234-99")])
        numbers.index_numbers(person, [("phone", "0221 123456"), ("mobile", "0171 5551234")])
        numbers.index_numbers(private, [("phone", "030 987654")])
        numbers.index_numbers(entry, [("mobile", "+43 664 1234567")])
        for i in range(contacts):
            extra = ContactPerson(name=f"Kontakt {i:03d}", address=company)
            db.session.add(extra)
            numbers.index_numbers(extra, [("phone", f"0221 7777{i:03d}")])
        db.session.commit()
        return company.id, person.id, entry.id


def test_phone_page_lists_every_number_with_dial_buttons(client, app, auth):
    auth.login("anna")
    company_id, person_id, entry_id = _fill_phonebook(app)
    page = client.get("/calls/phone").text
    assert 'aria-current="page"' in page and ">Telefon</a>" in page  # nav item
    assert 'name="number"' in page  # free number field
    for name in ("Müller GmbH", "Anna &lt;b&gt;Schmidt&lt;/b&gt;", "Zora Privat", "Hausmeister Klaus"):
        assert name in page
    assert "Zora &amp; Co" in page and "Facility GmbH" in page
    assert f'href="/addresses/{company_id}#contact-{person_id}"' in page
    assert f'href="/phonebook/{entry_id}"' in page
    for e164 in ("+4922112340", "+49221123456", "+491715551234", "+4930987654", "+436641234567"):
        assert f'href="tel:{e164}"' in page
        assert f"hx-vals='{{\"number\": \"{e164}\"}}'" in page
    assert "+4922112349" not in page  # faxes are not offered for calling
    assert '<div id="dial-result" class="dial-toast" aria-live="polite"></div>' in page


def test_phone_page_is_empty_friendly(client, auth):
    auth.login("anna")
    assert "Noch keine Telefonnummern erfasst" in client.get("/calls/phone").text


@pytest.mark.parametrize("query, found, not_found", [
    ("schmidt", "Anna &lt;b&gt;Schmidt", "Hausmeister"),
    ("FACILITY", "Hausmeister Klaus", "Zora"),
    ("0171 555", "0171 5551234", "Zora"),
    ("+43 664", "Hausmeister Klaus", "Müller"),
    ("100%", None, "Müller"),
])
def test_phonebook_search_returns_the_fragment(client, app, auth, query, found, not_found):
    auth.login("anna")
    _fill_phonebook(app)
    response = client.get("/calls/phone", query_string={"q": query},
                          headers={**HTMX, "HX-Target": "phonebook"})
    assert "<html" not in response.text
    if found:
        assert found in response.text
    else:
        assert "Keine Nummer passt zu" in response.text
    assert not_found not in response.text


def test_phonebook_pages_in_one_query_per_page(client, app, auth):
    auth.login("anna")
    _fill_phonebook(app, contacts=30)
    statements = []
    with app.app_context():
        engine = db.engine

    def count(_conn, _cursor, statement, *_args):
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        first = client.get("/calls/phone").text
        loads_first = len(statements)
        statements.clear()
        second = client.get(pager_link(first, "next")).text
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert "35 Treffer" in first and pager_link(second, "next") is None
    assert first.count('class="dial"') == 25 and second.count('class="dial"') == 10
    # the user, the page, the owners of its rows, its count, the region setting and the navigation's
    # missed-calls count once – not one query per row
    assert loads_first <= 6 and len(statements) <= 6


def test_phone_page_order_follows_renamed_owners(client, app, auth):
    """The page sorts by the owner's sort key kept on each number: a renamed address, contact person
    or phonebook entry moves, also when only its name changed (German order: Ä with A, persons by
    surname)."""
    auth.login("anna")
    company_id, person_id, entry_id = _fill_phonebook(app)

    def order() -> list[str]:
        """The owners' names in the order of the list's rows (each once)."""
        page = client.get("/calls/phone", headers={**HTMX, "HX-Target": "phonebook"}).text  # the list alone
        return list(dict.fromkeys(re.findall(r'<td><a href="[^"]+">([^<]+)</a></td>', page)))

    # "Anna <b>Schmidt</b>" sorts by its surname as typed, markup first
    assert order() == ["Anna &lt;b&gt;Schmidt&lt;/b&gt;", "Hausmeister Klaus", "Müller GmbH", "Zora Privat"]
    with app.app_context():
        db.session.get(Address, company_id).name = "Äbele AG"  # the form keeps the numbers as they are
        person = db.session.get(ContactPerson, person_id)
        person.name, person.first_name, person.last_name = "Peter Ohm", "Peter", "Ohm"
        db.session.get(PhonebookEntry, entry_id).display_name = "Bauer Bau"
        db.session.commit()
    assert order() == ["Äbele AG", "Bauer Bau", "Peter Ohm", "Zora Privat"]


def test_phone_macro_everywhere_offers_tel_link_and_dial_button(app):
    with app.test_request_context():
        template = app.jinja_env.from_string('{% from "_macros.html" import phone %}{{ phone(raw) }}')
        html = template.render(raw="0221 123456")
        assert 'href="tel:+49221123456"' in html and 'hx-post="/calls/dial"' in html
        assert 'hx-target="#dial-result"' in html
        unrecognised = template.render(raw="kein Anschluss")
        assert "hx-post" not in unrecognised and "kein Anschluss" in unrecognised
