"""What a call banner says and who still sees it: dialled number, last contact, missed calls, dismissals."""
from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlencode

import pytest
from sqlalchemy import select

from telephone import banners
from telephone.addresses import book
from telephone.extensions import db
from telephone.models import Call, DismissedBanner, PhoneNote, User

from .calls_helpers import configure, post_notify
from .conftest import PASSWORD, csrf_token_from, make_user

CALLER = "06131123456"
FIRST, SECOND = "a" * 64, "b" * 64


def incoming(client, call_id: str, event: str = "IncomingCall", **fields):
    body = urlencode({"event": event, "call_id": call_id, "from": CALLER, "to": "0221999000",
                      "direction": "in", **fields})
    assert post_notify(client, body).status_code == 200


def banner_html(app, user_id: int, call_id: str) -> str | None:
    with app.test_request_context("/"):
        found = [banner for banner in banners.ringing_snapshot(("de",)) if banner.call_id == call_id]
        return found[0].for_user(user_id, "de") if found else None


def test_banner_and_journal_say_which_of_our_numbers_was_called(app, client, auth):
    configure(app)
    auth.login()
    incoming(client, FIRST)
    anna = db_user_id(app, "anna")
    assert "an: 0221 999000" in banner_html(app, anna, FIRST)
    assert "an: 0221 999000" in client.get("/calls/").get_data(as_text=True)


def test_banner_and_journal_name_our_number_as_the_admin_named_it(app, client, auth):
    from telephone import sip_accounts

    configure(app)
    auth.login()
    with app.app_context():
        sip_accounts.assign_number(db.session.get(User, db_user_id(app, "anna")), "0221 999000", "Zentrale")
        db.session.commit()
    incoming(client, FIRST)
    assert "an: Zentrale" in banner_html(app, db_user_id(app, "anna"), FIRST)
    assert "an: Zentrale" in client.get("/calls/").get_data(as_text=True)


def test_banner_of_a_known_caller_recalls_the_last_call_and_note(app, client, auth):
    configure(app)
    auth.login()
    make_user(app, "bert", display_name="Bert Braun")
    with app.test_request_context("/"):
        address = book.save_address(None, {"name": "Müller GmbH", "phone": CALLER})
        address_id = address.id
    incoming(client, FIRST)
    with app.app_context():
        call = db.session.scalar(select(Call).where(Call.call_id == FIRST))
        call.user_id = db_user_id(app, "bert")
        call.started_at -= timedelta(days=2)
        db.session.add(PhoneNote(subject="Angebot nachfassen", address_id=address_id))
        db.session.commit()
    incoming(client, SECOND)
    html = banner_html(app, db_user_id(app, "anna"), SECOND)
    assert "Müller GmbH" in html
    assert "Letzter Anruf:" in html and "mit Bert Braun" in html
    assert "Letzte Notiz: „Angebot nachfassen“" in html


def test_banner_of_an_unknown_caller_has_no_history(app, client, auth):
    configure(app)
    auth.login()
    incoming(client, FIRST)
    incoming(client, SECOND)
    assert "Letzter Anruf" not in banner_html(app, db_user_id(app, "anna"), SECOND)


def test_missed_calls_are_counted_in_the_navigation_and_the_banner(app, client, auth):
    configure(app)
    auth.login()
    page = client.get("/addresses/").get_data(as_text=True)
    assert 'data-missed-count' in page and "hidden>0</span>" in page
    incoming(client, FIRST)
    incoming(client, FIRST, event="HungUp", type="missed")
    with app.test_request_context("/"):
        ended = {banner.call_id: banner for banner in banners.replay(0, ("de",))}[FIRST]
    assert 'data-missed-calls="1"' in ended.for_user(db_user_id(app, "anna"), "de")
    page = client.get("/addresses/").get_data(as_text=True)
    assert "hidden>1</span>" not in page and ">1</span>" in page


def test_a_closed_banner_stays_closed_for_that_user_only(app, client, auth):
    configure(app)
    auth.login()
    bert = make_user(app, "bert")
    incoming(client, FIRST)
    anna = db_user_id(app, "anna")
    assert client.post(f"/banners/{FIRST}/dismiss").status_code == 204
    assert client.post(f"/banners/{FIRST}/dismiss").status_code == 204  # twice is fine
    assert banner_html(app, anna, FIRST) is None  # the snapshot of a new stream leaves it out
    assert banner_html(app, bert, FIRST) is not None
    incoming(client, FIRST, event="CallAccepted")  # later states of the call stay closed too
    with app.test_request_context("/"):
        replayed = {banner.call_id: banner for banner in banners.replay(0, ("de",))}
    assert replayed[FIRST].for_user(anna, "de") is None
    assert replayed[FIRST].for_user(bert, "de") is not None


def test_dismissing_an_unknown_call_is_404_and_stores_nothing(app, client, auth):
    auth.login()
    assert client.post(f"/banners/{'x' * 64}/dismiss").status_code == 404
    assert client.post(f"/banners/{'x' * 129}/dismiss").status_code == 404
    with app.app_context():
        assert db.session.scalar(select(DismissedBanner)) is None


@pytest.mark.csrf
def test_dismissing_needs_the_csrf_token(app, client):
    make_user(app, "anna")
    configure(app)
    page = client.get("/login").get_data(as_text=True)
    client.post("/login", data={"username": "anna", "password": PASSWORD, "csrf_token": csrf_token_from(page)})
    incoming(client, FIRST)
    assert client.post(f"/banners/{FIRST}/dismiss").status_code == 400
    token = csrf_token_from(client.get("/addresses/").get_data(as_text=True))
    assert client.post(f"/banners/{FIRST}/dismiss", headers={"X-CSRFToken": token}).status_code == 204


def db_user_id(app, username: str) -> int:
    with app.app_context():
        return db.session.scalar(select(User.id).where(User.username == username))


def test_desktop_notification_and_ring_are_opt_ins_in_my_settings(app, client, auth):
    auth.login()
    page = client.get("/account").get_data(as_text=True)
    assert "Desktop-Benachrichtigung bei eingehenden Anrufen" in page and "Leiser Klingelton" in page
    assert 'data-desktop-notifications="off"' in page and 'data-ring-sound="off"' in page
    response = client.post("/account", data={"locale": "de", "call_notifications": "y",
                                             "desktop_notifications": "y", "ring_sound": "y"}, follow_redirects=True)
    page = response.get_data(as_text=True)
    assert 'data-desktop-notifications="on"' in page and 'data-ring-sound="on"' in page
    with app.app_context():
        user = db.session.scalar(select(User).where(User.username == "anna"))
        assert user.desktop_notifications and user.ring_sound
    client.post("/account", data={"locale": "de", "call_notifications": "y"})
    assert 'data-desktop-notifications="off"' in client.get("/account").get_data(as_text=True)


def test_the_missed_count_stops_at_99_plus(app, client, auth):
    """Every page shows the count: it is counted only up to the cap, whatever the journal's size."""
    from telephone.journal import open_missed_count

    configure(app)
    with app.app_context():
        db.session.add_all([Call(call_id=f"m{n}", direction="in", status="missed", from_number=f"+4922199{n:04d}",
                                 remote_e164=f"+4922199{n:04d}") for n in range(105)])
        db.session.commit()
        assert open_missed_count() == 100
    auth.login()
    page = client.get("/addresses/").get_data(as_text=True)
    assert ">99+</span>" in page
