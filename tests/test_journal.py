"""The call journal (Anrufliste): states in German, filters, missed calls, escaping."""
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from telephone import events, numbers
from telephone.extensions import db
from telephone.models import Address, Call, CallEvent, utcnow

from .calls_helpers import (
    ANONYMOUS_MISSED,
    ANSWERED_CALL,
    ANSWERED_ID,
    OUTGOING_BUSY,
    SIPUID,
    configure,
    post_notify,
)
from .conftest import PASSWORD, csrf_token_from, make_user, pager_link

HTMX_LIST = {"HX-Request": "true", "HX-Target": "journal-list"}


@pytest.fixture(autouse=True)
def no_bus(monkeypatch):
    monkeypatch.setattr(events, "publish", lambda call_event_id: None)


@pytest.fixture(autouse=True)
def webhook_secret(app):
    """The webhook is closed until a shared secret is set; the calls here are posted signed."""
    configure(app)


def _post_fixture_calls(client, bodies):
    for body in bodies:
        assert post_notify(client, body).status_code == 200


def _add_call(app, **fields) -> int:
    with app.app_context():
        call = Call(**fields)
        db.session.add(call)
        db.session.commit()
        return call.id


def _rows(html: str) -> int:
    return html.count('id="journal-call-')


def test_journal_is_in_the_navigation_and_needs_login(client, auth):
    assert client.get("/calls/").status_code == 302
    auth.login("anna")
    page = client.get("/calls/").text
    assert "Anrufliste" in page and 'href="/calls/"' in page
    assert "Keine Anrufe gefunden." in page


def test_journal_shows_fixture_calls_with_german_states(app, client, auth):
    make_user(app, "anna", display_name="Anna Schmidt")
    configure(app, accounts=f"anna:{SIPUID}")
    _post_fixture_calls(client, ANSWERED_CALL + ANONYMOUS_MISSED + OUTGOING_BUSY)
    auth.login("anna")
    page = client.get("/calls/").text
    assert _rows(page) == 3
    for text in ("beendet", "verpasst", "besetzt", "eingehend", "ausgehend", "unterdrückte Nummer",
                 "0:38", "Anna Schmidt", "06131 123456", "030 123456"):
        assert text in page, text


@pytest.mark.parametrize("status, label", [
    ("ringing", "klingelt"), ("accepted", "angenommen"), ("ended", "beendet"), ("missed", "verpasst"),
    ("voicemail", "Mailbox"), ("busy", "besetzt"), ("canceled", "abgebrochen"),
    ("unavailable", "nicht erreichbar"), ("blocked", "blockiert"), ("expired", "ohne Ende-Meldung"),
    ("dialling", "Anruf gestartet"), ("dial_failed", "Anruf fehlgeschlagen"),
])
def test_every_status_has_a_german_label(app, client, auth, status, label):
    _add_call(app, call_id=None, direction="out", to_number="0221 12345", remote_e164="+4922112345",
              status=status, started_at=utcnow())
    auth.login("anna")
    assert f'status-{status}">{label}</span>' in client.get("/calls/").text


def test_start_time_is_shown_in_the_users_time_zone(app, client, auth):
    _add_call(app, call_id="c1" * 8, from_number="0221 12345", started_at=datetime(2025, 1, 15, 9, 5))
    auth.login("anna")
    assert "15.01.25, 10:05" in client.get("/calls/").text


def test_internal_call_shows_the_sip_id(app, client, auth):
    post_notify(client, "call_id=" + "ab" * 32 + "&direction=in&event=IncomingCall&from=777222333%40fpbx.de"
                "&to=777111222%40fpbx.de")
    auth.login("anna")
    assert "intern: 777222333@fpbx.de" in client.get("/calls/").text


def test_caller_values_are_escaped(app, client, auth):
    evil = "<img src=x onerror=alert(1)>"
    post_notify(client, f"call_id={'cd' * 32}&direction=in&event=IncomingCall&from={evil}&to=0221999000")
    auth.login("anna")
    page = client.get("/calls/").text
    assert "<img src=x" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page


def test_matched_contacts_are_linked(app, client, auth):
    with app.test_request_context():
        for name in ("Müller GmbH", "Müller & Söhne"):
            address = Address(name=name, phone="06131 123456")
            db.session.add(address)
            numbers.index_numbers(address, [("phone", address.phone)])
        db.session.commit()
        ids = db.session.scalars(select(Address.id).order_by(Address.id)).all()
    _post_fixture_calls(client, ANSWERED_CALL[:1])
    auth.login("anna")
    page = client.get("/calls/").text
    assert f'href="/addresses/{ids[0]}">Müller GmbH</a>' in page
    assert f'href="/addresses/{ids[1]}">Müller &amp; Söhne</a>' in page


def test_callback_button_posts_the_number_to_dial(app, client, auth):
    _post_fixture_calls(client, ANSWERED_CALL[:1] + ANONYMOUS_MISSED[:1])
    auth.login("anna")
    page = client.get("/calls/").text
    assert page.count('class="inline callback"') == 1  # the anonymous caller cannot be called back
    assert 'name="number" value="+496131123456"' in page and 'hx-target="#dial-result"' in page
    assert 'id="dial-result"' in page


def test_listing_leaves_stale_calls_to_the_scheduler(app, client, auth):
    """A page view writes nothing: closing stale calls is the scheduler job's work alone."""
    _post_fixture_calls(client, ANSWERED_CALL[:1])
    with app.app_context():
        db.session.execute(CallEvent.__table__.update().values(received_at=utcnow() - timedelta(minutes=30)))
        db.session.commit()
    auth.login("anna")
    assert "klingelt" in client.get("/calls/").text
    with app.app_context():
        assert db.session.scalar(select(Call.status).where(Call.call_id == ANSWERED_ID)) == "ringing"
        assert db.session.scalar(select(CallEvent.id).where(CallEvent.event == "Expired")) is None


# --------------------------------------------------------------------------- filters


@pytest.fixture
def three_calls(app, client):
    """Anna answered the first, nobody the second (anonymous), Anna dialled the third."""
    anna = make_user(app, "anna")
    make_user(app, "ben")
    configure(app, accounts=f"anna:{SIPUID}")
    _post_fixture_calls(client, ANSWERED_CALL + ANONYMOUS_MISSED + OUTGOING_BUSY)
    return anna


def _list(client, **args) -> str:
    response = client.get("/calls/", query_string=args, headers=HTMX_LIST)
    assert response.status_code == 200
    assert "<html" not in response.text  # the HTMX partial only
    return response.text


def test_filters(app, client, auth, three_calls):
    auth.login("anna", create=False)
    assert _rows(_list(client)) == 3
    assert _rows(_list(client, mine="y")) == 2
    assert _rows(_list(client, missed="y")) == 1 and "unterdrückte Nummer" in _list(client, missed="y")
    assert _rows(_list(client, direction="in")) == 2
    assert _rows(_list(client, direction="out")) == 1
    auth.logout()
    auth.login("ben", create=False)
    assert _rows(_list(client, mine="y")) == 0


@pytest.fixture
def berliner_baer(app, three_calls):
    """The three calls, and an address added after them that owns the number of one (030 123456): the
    journal finds calls by the owners their numbers have now."""
    with app.test_request_context():
        address = Address(name="Berliner Bär AG", phone="+49 30 123456")
        db.session.add(address)
        numbers.index_numbers(address, [("phone", address.phone)])
        db.session.commit()


def test_search_by_number_in_any_notation_and_by_name(app, client, auth, berliner_baer):
    auth.login("anna", create=False)
    assert _rows(_list(client, q="+49 6131 123456")) == 1
    assert _rows(_list(client, q="06131123456")) == 1
    assert _rows(_list(client, q="123456")) == 2
    assert _rows(_list(client, q="bär")) == 1
    assert _rows(_list(client, q="Anna")) == 2
    assert _rows(_list(client, q="niemand")) == 0


@pytest.mark.parametrize("at_most", [0, 20_000])
def test_search_by_name_finds_the_same_whether_owners_are_listed_or_looked_up_inside(
        app, client, auth, berliner_baer, monkeypatch, at_most):
    """The matching owners (on PostgreSQL) and their numbers in the journal are handed to the query as
    lists, or (for a word in most names) looked up inside it; both ways find the same calls."""
    from telephone import directory, journal

    monkeypatch.setattr(directory, "OWNER_IDS_AT_MOST", at_most)
    monkeypatch.setattr(journal, "CALLED_NUMBERS_AT_MOST", at_most)
    auth.login("anna", create=False)
    assert _rows(_list(client, q="bär")) == 1
    assert _rows(_list(client, q="Berliner Bär")) == 1
    assert _rows(_list(client, q="Bär Anna")) == 0  # every word must be found in the same place
    assert _rows(_list(client, q="niemand")) == 0


def test_search_by_name_lists_only_the_owners_numbers_that_called(app, client, auth):
    """The journal looks up the matching owners' numbers that are in the journal first: an owner with
    several numbers, and one whose numbers never called, find exactly the calls of their numbers."""
    with app.test_request_context():
        company = Address(name="Jäger Elektro GmbH", city="Würzburg")
        person = Address(name="Anna Jäger", kind="person", city="Würzburg")
        db.session.add_all([company, person])
        numbers.index_numbers(company, [("phone", "0931 5550100"), ("mobile", "0171 5550101"), ("fax", "0931 5550199")])
        numbers.index_numbers(person, [("phone", "0931 5550200")])
        db.session.commit()
        callers = [(raw, numbers.to_e164(raw)) for raw in ("0171 5550101", "0171 5550101", "0221 4711")]
    for index, (raw, e164) in enumerate(callers):
        _add_call(app, call_id=f"j{index}", direction="in", from_number=raw, remote_e164=e164, status="ended",
                  started_at=utcnow() - timedelta(minutes=index))
    auth.login("anna")
    for query in ("Jäger", "jaeger elektro", "Würzburg"):
        assert _rows(_list(client, q=query)) == 2, query
    assert _rows(_list(client, q="Anna Jäger")) == 0
    assert "Keine Anrufe gefunden." in _list(client, q="Anna Jäger")


def test_date_filter_uses_local_days(app, client, auth):
    # 23:30 UTC on 14 January is already 15 January in Berlin.
    _add_call(app, call_id="e1" * 8, from_number="0221 1", started_at=datetime(2025, 1, 14, 23, 30))
    _add_call(app, call_id="e2" * 8, from_number="0221 2", started_at=datetime(2025, 1, 14, 22, 30))
    auth.login("anna")
    assert _rows(_list(client, date_from="2025-01-15", date_to="2025-01-15")) == 1
    assert _rows(_list(client, date_to="2025-01-14")) == 1
    assert _rows(_list(client, date_from="2025-01-14")) == 2


def test_invalid_date_is_reported_and_ignored(app, client, auth, three_calls):
    auth.login("anna", create=False)
    page = client.get("/calls/?date_from=morgen").text
    assert _rows(page) == 3 and 'aria-invalid="true"' in page


def test_journal_is_paginated_and_keeps_filters(app, client, auth):
    with app.app_context():
        db.session.add_all([Call(call_id=f"{n:016x}", direction="in", from_number="0221 555",
                                 remote_e164="+49221555", status="ended") for n in range(30)])
        db.session.commit()
    auth.login("anna")
    first = client.get("/calls/?direction=in").text
    assert _rows(first) == 25 and "30 Treffer" in first
    second = pager_link(first, "next")
    assert "direction=in" in second and "after=" in second
    assert _rows(client.get(second).text) == 5
    assert "direction=in" in pager_link(first, "last")


# --------------------------------------------------------------------------- missed calls


def _missed_call(app) -> int:
    return _add_call(app, call_id="ee" * 32, direction="in", from_number="0221 4711", remote_e164="+492214711",
                     status="missed", started_at=utcnow() - timedelta(minutes=10))


def test_missed_call_is_highlighted_until_called_back(app, client, auth):
    missed = _missed_call(app)
    # an older outgoing call does not count as a callback
    _add_call(app, direction="out", to_number="0221 4711", remote_e164="+492214711", status="ended",
              started_at=utcnow() - timedelta(hours=1))
    auth.login("anna")
    page = client.get("/calls/").text
    assert "missed-open" in page and "Rückruf offen" in page
    assert f"/calls/{missed}/done" in page
    _add_call(app, direction="out", to_number="02214711", remote_e164="+492214711", status="dial_failed",
              started_at=utcnow())
    page = client.get("/calls/").text
    assert "missed-open" not in page and f"/calls/{missed}/done" not in page


@pytest.mark.csrf
def test_missed_call_marked_done(app, client, auth):
    missed = _missed_call(app)
    anna = make_user(app, "anna", display_name="Anna Schmidt")
    client.post("/login", data={"username": "anna", "password": PASSWORD,
                                "csrf_token": csrf_token_from(client.get("/login").text)})
    page = client.get("/calls/").text
    assert client.post(f"/calls/{missed}/done").status_code == 400  # CSRF protected
    response = client.post(f"/calls/{missed}/done", data={"csrf_token": csrf_token_from(page)})
    assert response.status_code == 302
    page = client.get("/calls/").text
    assert "missed-open" not in page and "erledigt von Anna Schmidt" in page
    with app.app_context():
        call = db.session.get(Call, missed)
        assert call.done_by_id == anna and call.done_at is not None


# --------------------------------------------------------------------------- row texts


@pytest.mark.parametrize("typed", ["06131 1234-0", "06131 1234-56"])
def test_failed_outgoing_call_to_a_stored_main_number_names_the_company(app, client, auth, requests_mock, typed):
    """Like incoming calls: the main number itself, and an extension of it, find the company."""
    from telephone import site_settings

    auth.login("anna")
    with app.test_request_context():
        company = Address(name="Müller GmbH", kind="company")
        db.session.add(company)
        numbers.index_numbers(company, [("phone", "06131 1234-0")])
        site_settings.set_value("placetel.api_token", "token")
        site_settings.set_value("placetel.accounts", "anna:777123456@fpbx.de")
        db.session.commit()
    requests_mock.post("https://api.placetel.de/v2/calls", status_code=500, json={"error": "boom"})
    client.post("/calls/dial", data={"number": typed})
    page = client.get("/calls/").text
    assert "Anruf fehlgeschlagen" in page
    assert "Müller GmbH" in page and "unbekannt" not in page


def test_missed_call_shows_no_duration_and_outgoing_calls_are_called_again(app, client, auth):
    _post_fixture_calls(client, ANSWERED_CALL + ANONYMOUS_MISSED + OUTGOING_BUSY)
    auth.login("anna")
    page = client.get("/calls/").text
    rows = {status: page.split(f'class="call-{status}')[1].split("</tr>")[0] for status in ("missed", "busy", "ended")}
    assert "0:00" not in rows["missed"] and "–" in rows["missed"]
    assert "0:00" not in rows["busy"] and "–" in rows["busy"]
    assert "0:38" in rows["ended"] and "zurückrufen" in rows["ended"]
    assert "erneut anrufen" in rows["busy"] and "zurückrufen" not in rows["busy"]


def test_journal_shows_the_first_lines_of_the_note_escaped(app, client, auth):
    from telephone.models import PhoneNote, User

    call_pk = _add_call(app, call_id="c" * 64, direction="in", from_number="06131123456",
                        remote_e164="+496131123456", status="ended", duration=10)
    auth.login("anna")
    with app.app_context():
        anna = db.session.scalar(select(User.id).where(User.username == "anna"))
        db.session.add(PhoneNote(subject="Rückruf", author_id=anna, call_pk=call_pk,
                                 text="<b>Erste</b> Zeile\nZweite Zeile\nDritte Zeile bleibt weg\n" + "x" * 300))
        db.session.add(PhoneNote(subject="Lang", author_id=anna, call_pk=call_pk, text="y" * 300))
        db.session.commit()
    page = client.get("/calls/").text
    assert "&lt;b&gt;Erste&lt;/b&gt; Zeile\nZweite Zeile…" in page and "<b>Erste</b>" not in page
    assert "Dritte Zeile" not in page
    assert "y" * 139 + "…" in page and "y" * 140 not in page


def test_status_badge_and_duration_never_wrap(app):
    from pathlib import Path

    css = (Path(app.static_folder) / "css" / "app.css").read_text()
    assert "table.journal .badge, table.journal .duration { white-space: nowrap; }" in css
