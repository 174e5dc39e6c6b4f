"""Who is on the phone: the Telefon page's "Kollegen" and the banner of a call a colleague took."""
from __future__ import annotations

import re
from urllib.parse import urlencode

import pytest

from telephone import banners, site_settings
from telephone.extensions import db
from telephone.models import CallEvent

from .calls_helpers import configure, post_notify
from .conftest import make_user
from .servers import paged_sip_users

TOKEN = "pt-token-4711-abcdef-secret"
SIP_USERS_URL = "https://api.placetel.de/v2/sip_users"
CALL_ID = "c" * 64
BEN_PHONE = "777111222@fpbx.de"
PHONES = [
    {"sipuid": BEN_PHONE, "name": "Ben Schreibtisch", "callerid": "+49221999010", "online": True},
    {"sipuid": "777333444@fpbx.de", "name": "Dora Handy", "callerid": "", "did": "14", "online": False},
]


def notify(client, event: str, **fields):
    body = urlencode(sorted({"call_id": CALL_ID, "direction": "in", "event": event, "from": "06131123456",
                             "to": "0221999000", **fields}.items()))
    assert post_notify(client, body).status_code == 200


def states(html: str) -> dict[str, str]:
    """Colleague name → their state and online flag as shown."""
    found = re.findall(r'<span class="colleague-name">([^<]+)</span>.*?<span class="colleague-state">(.*?)\s*</li>',
                       html, re.S)
    return {name: " ".join(re.sub(r"<[^>]+>", " ", rest).split()) for name, rest in found}


@pytest.fixture
def office(app, auth, requests_mock):
    """anna looks; ben has a desk phone; carla answers the Zentrale; dora has a phone that is offline."""
    configure(app)
    for name in ("ben", "carla", "dora"):
        make_user(app, name)
    with app.app_context():
        site_settings.set_value("placetel.api_token", TOKEN)
        site_settings.set_value("placetel.accounts", f"ben:{BEN_PHONE}\ndora:777333444@fpbx.de")
        site_settings.set_value("calls.number_assignments", "0221 999000:carla")
        db.session.commit()
    requests_mock.get(SIP_USERS_URL, json=paged_sip_users(PHONES))
    auth.login("anna")
    return requests_mock


def placetel_requests(mock) -> int:
    return sum("/sip_users" in request.url for request in mock.request_history)


def test_telefon_page_loads_the_colleagues_without_waiting_on_placetel(client, office):
    page = client.get("/calls/phone").text
    assert "<h2>Kollegen</h2>" in page and 'hx-get="/calls/colleagues"' in page and "load, every 15s" in page
    assert placetel_requests(office) == 0


def test_colleagues_ring_talk_and_are_free_again(client, office):
    html = client.get("/calls/colleagues").text
    assert states(html) == {"Ben": "frei online", "Carla": "frei", "Dora": "frei offline"}
    assert "0221 999010" in html and ">intern 14<" in html  # the phone's number or its extension
    notify(client, "IncomingCall")
    assert states(client.get("/calls/colleagues").text)["Carla"] == "klingelt"
    notify(client, "CallAccepted", peer=BEN_PHONE)
    html = client.get("/calls/colleagues").text
    assert states(html) == {"Ben": "im Gespräch online", "Carla": "frei", "Dora": "frei offline"}
    notify(client, "HungUp", type="accepted", duration="38")
    assert states(client.get("/calls/colleagues").text)["Ben"] == "frei online"
    assert "Anna" not in states(html)  # oneself is no colleague
    assert placetel_requests(office) == 1  # four views, one reading of Placetel's list


def test_outgoing_call_counts_as_on_the_phone(client, office):
    notify(client, "OutgoingCall", direction="out", peer=BEN_PHONE, **{"from": "0221999010", "to": "06131123456"})
    assert states(client.get("/calls/colleagues").text)["Ben"] == "im Gespräch online"


def test_without_token_the_online_flag_is_left_out(app, client, office):
    with app.app_context():
        site_settings.set_value("placetel.api_token", "")
        db.session.commit()
    assert states(client.get("/calls/colleagues").text) == {"Ben": "frei", "Carla": "frei", "Dora": "frei"}
    assert placetel_requests(office) == 0


def test_banner_of_a_call_a_colleague_took_shows_their_presence(app, client, office):
    notify(client, "IncomingCall")
    notify(client, "CallAccepted", peer=BEN_PHONE)
    with app.test_request_context():
        event_id = db.session.query(CallEvent.id).filter_by(event="CallAccepted").scalar()
        html = banners.banner_for_event(event_id, ("de",)).html["de"]
    assert re.search(r'class="call-banner-taker">Ben: <span class="presence presence-in_call"[^>]*>im Gespräch</span>',
                     html)
    assert "online" not in html  # the banner never asks Placetel; nothing was cached yet
    assert placetel_requests(office) == 0
    client.get("/calls/colleagues")  # fills the one-minute cache
    with app.test_request_context():
        html = banners.banner_for_event(event_id, ("de",)).html["de"]
    assert 'class="presence-online is-online">online</span>' in html
    assert placetel_requests(office) == 1


def test_click_to_dial_rings_the_own_phone_only_for_a_while(app, client, office):
    from datetime import timedelta

    from telephone.models import Call, User, utcnow

    with app.app_context():
        ben = db.session.query(User).filter_by(username="ben").one()
        db.session.add(Call(direction="out", to_number="06131123456", status="dialling", user_id=ben.id,
                            peer=BEN_PHONE, started_at=utcnow()))
        db.session.commit()
    assert states(client.get("/calls/colleagues").text)["Ben"] == "klingelt online"
    with app.app_context():
        db.session.query(Call).update({Call.started_at: utcnow() - timedelta(minutes=3)})
        db.session.commit()
    assert states(client.get("/calls/colleagues").text)["Ben"] == "frei online"
