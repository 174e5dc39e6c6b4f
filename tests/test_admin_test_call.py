"""The admin's test call: a signed event sequence through the real webhook endpoint."""
import threading

import pytest
from sqlalchemy import select

from telephone import events
from telephone import trial_call as test_calls
from telephone.extensions import db
from telephone.models import Call, CallEvent

from .calls_helpers import SIPUID, configure
from .conftest import make_user


@pytest.fixture
def run_inline(monkeypatch):
    """Run the background sender at once and without pauses; collect published ids."""
    published = []
    monkeypatch.setattr(test_calls, "_spawn", lambda target: target())
    monkeypatch.setattr(test_calls, "PAUSE_SECONDS", 0)
    monkeypatch.setattr(events, "publish", published.append)
    return published


def test_settings_page_offers_the_test_call(client, auth):
    auth.login("chef", admin=True)
    page = client.get("/settings/telephony").text
    assert "Testanruf senden" in page and 'hx-post="/settings/telephony/test-call"' in page
    assert "Placetel-Verbindung" in page  # the other settings stay


def test_test_call_goes_through_the_signed_webhook(app, client, auth, run_inline, caplog):
    make_user(app, "anna")
    make_user(app, "chef", admin=True)
    configure(app, accounts=f"anna:777999888@fpbx.de\nchef:{SIPUID}")  # with shared secret 12345
    auth.login("chef", create=False)
    response = client.post("/settings/telephony/test-call", data={"number": "0221 4711"},
                           headers={"HX-Request": "true"})
    assert response.status_code == 200 and "Testanruf gesendet" in response.text
    with app.app_context():
        rows = db.session.scalars(select(CallEvent).order_by(CallEvent.id)).all()
        assert [row.event for row in rows] == ["IncomingCall", "CallAccepted", "HungUp"]
        assert run_inline == [row.id for row in rows]
        assert len(rows[0].call_id) == 64
        call = db.session.scalar(select(Call))
        assert (call.status, call.peer, call.remote_e164, call.user.username) == ("ended", SIPUID, "+492214711", "chef")
    assert "refused" not in caplog.text


def test_test_call_is_refused_by_a_wrong_secret(app, client, auth, run_inline, monkeypatch, caplog):
    """Proof that the signature check runs: sign with another secret than the webhook checks."""
    make_user(app, "chef", admin=True)
    configure(app, accounts=f"chef:{SIPUID}")
    monkeypatch.setattr(test_calls, "sign", lambda body, secret: "0" * 64)
    auth.login("chef", create=False)
    client.post("/settings/telephony/test-call", data={"number": "0221 4711"}, headers={"HX-Request": "true"})
    with app.app_context():
        assert db.session.scalars(select(CallEvent)).all() == []
    assert "test call refused by the webhook (403)" in caplog.text


def test_first_mapped_account_answers_when_the_admin_has_none(app, client, auth, run_inline):
    make_user(app, "anna")
    configure(app, accounts="anna:777999888@fpbx.de")
    auth.login("chef", admin=True)
    response = client.post("/settings/telephony/test-call", data={"number": "+49 221 4711"})
    assert response.status_code == 302
    assert "Testanruf gesendet" in client.get(response.headers["Location"]).text
    with app.app_context():
        assert db.session.scalar(select(Call.peer)) == "777999888@fpbx.de"


@pytest.mark.parametrize("number, accounts, message", [
    ("hallo", f"chef:{SIPUID}", "gültige Rufnummer"),
    ("0221 4711", "", "kein Telefon zugeordnet"),
])
def test_test_call_problems_are_explained(app, client, auth, run_inline, number, accounts, message):
    make_user(app, "chef", admin=True)
    configure(app, accounts=accounts)
    auth.login("chef", create=False)
    response = client.post("/settings/telephony/test-call", data={"number": number}, headers={"HX-Request": "true"})
    assert response.status_code == 422 and message in response.text
    assert f'value="{number}"' in response.text
    with app.app_context():
        assert db.session.scalars(select(CallEvent)).all() == []


def test_test_call_is_for_admins_only(app, client, auth, run_inline):
    auth.login("anna")
    assert client.post("/settings/telephony/test-call", data={"number": "0221 4711"}).status_code == 403


def test_test_call_runs_in_a_background_thread(app, client, auth, monkeypatch):
    monkeypatch.setattr(test_calls, "PAUSE_SECONDS", 0)
    monkeypatch.setattr(events, "publish", lambda call_event_id: None)
    make_user(app, "chef", admin=True)
    configure(app, accounts=f"chef:{SIPUID}")
    auth.login("chef", create=False)
    assert client.post("/settings/telephony/test-call", data={"number": "0221 4711"}).status_code == 302
    for thread in threading.enumerate():
        if thread.name == "test-call":
            thread.join()
    with app.app_context():
        assert db.session.scalar(select(Call.status)) == "ended"
