"""Phone notes (Telefonnotizen): pre-filled from a call, filed with the address, edited by the author."""
from datetime import datetime

import pytest
from sqlalchemy import select

from telephone import events, numbers
from telephone.extensions import db
from telephone.models import Address, Call, ContactPerson, PhonebookEntry, PhoneNote

from .calls_helpers import ANONYMOUS_ID, ANONYMOUS_MISSED, ANSWERED_CALL, ANSWERED_ID, configure, post_notify
from .conftest import make_user


@pytest.fixture(autouse=True)
def no_bus(monkeypatch):
    monkeypatch.setattr(events, "publish", lambda call_event_id: None)


@pytest.fixture(autouse=True)
def webhook_secret(app):
    """The webhook is closed until a shared secret is set; the calls here are posted signed."""
    configure(app)


@pytest.fixture
def mueller(app):
    """Müller GmbH with contact person Eva Weber, who calls from 06131 123456."""
    with app.test_request_context():
        address = Address(name="Müller GmbH", phone="0221 555000")
        person = ContactPerson(name="Eva Weber", phone="06131 123456")
        address.contacts.append(person)
        db.session.add(address)
        numbers.index_numbers(address, [("phone", address.phone)])
        numbers.index_numbers(person, [("phone", person.phone)])
        db.session.commit()
        return address.id, person.id


def _call_pk(app, call_id=ANSWERED_ID) -> int:
    with app.app_context():
        call = db.session.scalar(select(Call).where(Call.call_id == call_id))
        call.started_at = datetime(2025, 3, 5, 9, 30)
        db.session.commit()
        return call.id


def _answered_call(app, client) -> int:
    for body in ANSWERED_CALL:
        post_notify(client, body)
    return _call_pk(app)


def _note_data(**fields):
    data = {"subject": "Rückfrage Angebot", "text": "Bitte Angebot schicken.", "number": "06131 123456"}
    data.update(fields)
    return data


def test_new_note_from_call_is_prefilled(app, client, auth, mueller):
    call = _answered_call(app, client)
    auth.login("anna")
    page = client.get(f"/calls/notes/new?call={call}").text
    assert 'value="Telefonat mit Eva Weber am 05.03.2025"' in page
    assert 'value="06131 123456"' in page
    assert f'value="contact:{mueller[1]}" checked>' in page and "Eva Weber (Müller GmbH)" in page
    assert f'name="call" type="hidden" value="{call}"' in page


def test_new_note_for_anonymous_caller(app, client, auth):
    for body in ANONYMOUS_MISSED:
        post_notify(client, body)
    call = _call_pk(app, ANONYMOUS_ID)
    auth.login("anna")
    page = client.get(f"/calls/notes/new?call={call}").text
    assert 'value="Telefonat mit unterdrückter Nummer am 05.03.2025"' in page


def test_unknown_call_is_404(client, auth):
    auth.login("anna")
    assert client.get("/calls/notes/new?call=999").status_code == 404
    assert client.get("/calls/notes/new?call=abc").status_code == 404


def test_note_is_created_and_filed_with_the_company(app, client, auth, mueller):
    call = _answered_call(app, client)
    anna = make_user(app, "anna")
    auth.login("anna", create=False)
    response = client.post("/calls/notes/new", data=_note_data(call=call, target=f"contact:{mueller[1]}"))
    assert response.status_code == 302
    assert response.headers["Location"] == f"/addresses/{mueller[0]}#phone-notes"
    with app.app_context():
        note = db.session.scalar(select(PhoneNote))
        assert (note.call_pk, note.address_id, note.contact_person_id, note.author_id) == (
            call, mueller[0], mueller[1], anna)
    journal = client.get("/calls/").text
    assert "Rückfrage Angebot" in journal and "Bitte Angebot schicken." in journal


def test_note_without_subject_keeps_what_was_typed(app, client, auth, mueller):
    call = _answered_call(app, client)
    auth.login("anna")
    response = client.post("/calls/notes/new", data=_note_data(call=call, subject="", target=""))
    assert response.status_code == 422
    assert "Bitte einen Betreff eingeben." in response.text and "Bitte Angebot schicken." in response.text
    with app.app_context():
        assert db.session.scalars(select(PhoneNote)).all() == []


def test_foreign_target_is_refused(app, client, auth, mueller):
    call = _answered_call(app, client)
    auth.login("anna")
    response = client.post("/calls/notes/new", data=_note_data(call=call, target="address:999"))
    assert response.status_code == 422


def test_address_page_lists_notes_newest_first_escaped(app, client, auth, mueller):
    auth.login("anna")
    page = client.get(f"/calls/notes/new?address={mueller[0]}").text
    assert 'value="Telefonat mit Müller GmbH"' in page
    client.post("/calls/notes/new", data=_note_data(address=mueller[0], target=f"address:{mueller[0]}",
                                                   subject="Erste Notiz"))
    client.post("/calls/notes/new", data=_note_data(address=mueller[0], target=f"address:{mueller[0]}",
                                                   subject="Zweite Notiz", text="<script>alert(1)</script>"))
    page = client.get(f"/addresses/{mueller[0]}").text
    assert page.index("Zweite Notiz") < page.index("Erste Notiz")
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;" in page
    assert page.count("bearbeiten") == 2


def test_only_the_author_may_edit(app, client, auth, mueller):
    auth.login("anna")
    client.post("/calls/notes/new", data=_note_data(address=mueller[0], target=f"address:{mueller[0]}"))
    with app.app_context():
        note_id = db.session.scalar(select(PhoneNote.id))
    assert client.get(f"/calls/notes/{note_id}/edit").status_code == 200
    response = client.post(f"/calls/notes/{note_id}/edit", data=_note_data(subject="Geändert"))
    assert response.status_code == 302
    auth.logout()
    auth.login("ben")
    assert client.get(f"/calls/notes/{note_id}/edit").status_code == 403
    assert client.post(f"/calls/notes/{note_id}/edit", data=_note_data(subject="Fremd")).status_code == 403
    page = client.get(f"/addresses/{mueller[0]}").text
    assert "Geändert" in page and "Fremd" not in page and "bearbeiten" not in page
    with app.app_context():
        note = db.session.get(PhoneNote, note_id)
        assert note.subject == "Geändert" and note.address_id == mueller[0]


@pytest.fixture
def schulz(app):
    """Another company, Schulz KG, and a phonebook entry Jens Berger; neither called."""
    with app.test_request_context():
        address = Address(name="Schulz KG", phone="089 777000")
        address.contacts.append(ContactPerson(name="Petra Lang"))
        entry = PhonebookEntry(display_name="Jens Berger", sort_name="jens berger", company="Berger Bau",
                               phones=[{"type": "WORK", "number": "030 555111"}])
        db.session.add_all([address, entry])
        numbers.index_numbers(address, [("phone", address.phone)])
        db.session.commit()
        return address.id, address.contacts[0].id, entry.id


def test_note_search_offers_any_address_contact_and_phonebook_entry(app, client, auth, mueller, schulz):
    call = _answered_call(app, client)
    auth.login("anna")
    found = client.get(f"/calls/notes/targets?target_q=schulz&call={call}").text
    assert f'value="address:{schulz[0]}"' in found and "Schulz KG" in found
    assert f'value="contact:{mueller[1]}"' not in found  # offered already as the call's match
    assert f'value="contact:{schulz[1]}"' in client.get("/calls/notes/targets?target_q=Petra").text
    assert f'value="phonebook:{schulz[2]}"' in client.get("/calls/notes/targets?target_q=berger").text
    assert "Nichts gefunden zu „xyzzy“" in client.get("/calls/notes/targets?target_q=xyzzy").text
    assert client.get("/calls/notes/targets?target_q=").text.strip() == ""
    # What was picked stays in the list while searching on.
    again = client.get(f"/calls/notes/targets?target_q=berger&target=address:{schulz[0]}").text
    assert f'value="address:{schulz[0]}" checked>' in again


def test_note_filed_under_a_picked_address_appears_on_its_page(app, client, auth, mueller, schulz):
    call = _answered_call(app, client)
    auth.login("anna")
    response = client.post("/calls/notes/new", data=_note_data(call=call, target=f"address:{schulz[0]}",
                                                               subject="Falsch verbunden"))
    assert response.status_code == 302 and response.headers["Location"] == f"/addresses/{schulz[0]}#phone-notes"
    assert "Falsch verbunden" in client.get(f"/addresses/{schulz[0]}").text
    assert "Falsch verbunden" not in client.get(f"/addresses/{mueller[0]}").text


def test_note_filed_under_a_phonebook_entry_appears_on_its_page(app, client, auth, schulz):
    auth.login("anna")
    page = client.get(f"/calls/notes/new?phonebook={schulz[2]}").text
    assert 'value="Telefonat mit Jens Berger"' in page and f'value="phonebook:{schulz[2]}" checked>' in page
    response = client.post("/calls/notes/new", data=_note_data(phonebook=schulz[2], target=f"phonebook:{schulz[2]}",
                                                               subject="Lieferung", text="Zeile 1\nZeile 2"))
    assert response.headers["Location"] == f"/phonebook/{schulz[2]}#phone-notes"
    detail = client.get(f"/phonebook/{schulz[2]}").text
    assert 'id="phone-notes"' in detail and "Lieferung" in detail and "Zeile 2" in detail


@pytest.mark.parametrize("target", ["address:999", "contact:abc", "phonebook:99999999999999999999", "x:1",
                                    "address:²"])
def test_target_that_does_not_exist_is_answered_422_keeping_the_text(app, client, auth, mueller, target):
    auth.login("anna")
    response = client.post("/calls/notes/new", data=_note_data(target=target, text="Bitte behalten"))
    assert response.status_code == 422
    assert "Diese Zuordnung gibt es nicht (mehr)" in response.text and "Bitte behalten" in response.text


@pytest.mark.parametrize("query", ["?call=99999999999999999999", "?address=²", "?phonebook=-1"])
def test_strange_ids_in_the_note_url_are_404(client, auth, query):
    auth.login("anna")
    assert client.get(f"/calls/notes/new{query}").status_code == 404
    assert client.get(f"/calls/notes/targets{query}&target_q=a").status_code == 404


def test_deleting_an_address_keeps_other_users_notes(app, client, auth, mueller):
    call = _answered_call(app, client)
    auth.login("ben")
    client.post("/calls/notes/new", data=_note_data(call=call, target=f"contact:{mueller[1]}", subject="Von Ben"))
    auth.logout()
    auth.login("anna", admin=True)
    assert client.post(f"/addresses/{mueller[0]}/delete").status_code == 302
    with app.app_context():
        note = db.session.scalar(select(PhoneNote))
        assert note is not None and note.subject == "Von Ben"
        assert (note.address_id, note.contact_person_id, note.call_pk) == (None, None, call)
        assert note.filed_under == "Eva Weber (Müller GmbH)" and note.number == "06131 123456"
    journal = client.get("/calls/").text
    assert "Von Ben" in journal and "Eva Weber (Müller GmbH)" in journal and "Adresse gelöscht" in journal
