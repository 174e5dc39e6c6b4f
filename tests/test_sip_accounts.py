"""SIP accounts and office numbers on the user's page; Placetel's SIP users read over all pages and cached."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from telephone import banners, placetel, site_settings
from telephone.extensions import db
from telephone.models import Call, NumberAssignment, OfficeNumber, SipAccount, User

from .conftest import make_user
from .servers import many_sip_users, paged_sip_users

TOKEN = "pt-token-4711-abcdef-secret"
SIP_USERS_URL = "https://api.placetel.de/v2/sip_users"
PHONES = many_sip_users(130)  # two pages of 100 … and 30; six at Placetel's default of 25


@pytest.fixture
def placetel_api(app, requests_mock):
    """Placetel with 130 SIP users, paged like the real API; yields the requests_mock."""
    with app.app_context():
        site_settings.set_value("placetel.api_token", TOKEN)
        db.session.commit()
    requests_mock.get(SIP_USERS_URL, json=paged_sip_users(PHONES))
    return requests_mock


def sip_user_requests(mock) -> list[str]:
    return [request.url for request in mock.request_history if "/sip_users" in request.url]


@pytest.fixture
def anna(app, auth):
    auth.login("chef", admin=True)
    return make_user(app, "anna", display_name="Anna Schmidt")


# --------------------------------------------------------------------------- paging and cache


def test_all_pages_of_sip_users_are_read(app, placetel_api):
    with app.test_request_context():
        users = placetel.list_sip_users()
    assert len(users) == 130 and users[-1].sipuid == "777000130@fpbx.de"
    assert users[2] == placetel.SipUser("777000003@fpbx.de", "Telefon 003", "+49221990003", "103", False)
    assert sip_user_requests(placetel_api) == [f"{SIP_USERS_URL}?page=1&per_page=100",
                                               f"{SIP_USERS_URL}?page=2&per_page=100"]


def test_a_full_last_page_costs_one_more_request_that_comes_back_empty(app, placetel_api):
    placetel_api.get(SIP_USERS_URL, json=paged_sip_users(many_sip_users(200)))
    with app.test_request_context():
        assert len(placetel.list_sip_users()) == 200
    assert len(sip_user_requests(placetel_api)) == 3


def test_paging_stops_at_a_hard_upper_bound(app, placetel_api, monkeypatch):
    """An API that never sends a short page (here: always the same full page) is not read forever."""
    monkeypatch.setattr(placetel, "MAX_SIP_USER_PAGES", 5)
    placetel_api.get(SIP_USERS_URL, json=many_sip_users(100))
    with app.test_request_context():
        assert len(placetel.list_sip_users()) == 100  # the same users again are not listed twice
    assert len(sip_user_requests(placetel_api)) == 5


def test_connection_test_knows_the_accounts_on_later_pages(app, client, anna, placetel_api):
    with app.app_context():
        site_settings.set_value("placetel.accounts", "anna:777000129@fpbx.de\nchef:777999999@fpbx.de")
        db.session.commit()
    html = client.post("/settings/telephony/test-connection").text
    assert "Placetel kennt 130 SIP-Benutzer" in html
    assert "<code>chef:777999999@fpbx.de</code>" in html
    assert "anna:777000129" not in html  # on page 2: known, not reported as unknown


def test_sip_users_are_cached_for_a_minute(app, placetel_api, monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(placetel.time, "monotonic", lambda: now[0])
    with app.test_request_context():
        assert len(placetel.sip_users()) == 130
        now[0] += 59
        assert len(placetel.sip_users()) == 130
        assert len(sip_user_requests(placetel_api)) == 2  # one reading of both pages
        now[0] += 2
        placetel.sip_users()
        assert len(sip_user_requests(placetel_api)) == 4
        site_settings.set_value("placetel.api_token", TOKEN + "-neu")  # another token: not its cache
        db.session.commit()
        placetel.sip_users()
        assert len(sip_user_requests(placetel_api)) == 6


def test_a_failure_is_cached_too_and_without_token_nothing_is_asked(app, placetel_api):
    placetel_api.get(SIP_USERS_URL, status_code=502, text="Bad Gateway")
    with app.test_request_context():
        for _ in range(3):
            with pytest.raises(placetel.PlacetelUnreachable):
                placetel.sip_users()
        assert len(sip_user_requests(placetel_api)) == 1
        site_settings.set_value("placetel.api_token", "")
        db.session.commit()
        with pytest.raises(placetel.TokenMissing):
            placetel.sip_users()
        assert placetel.sip_users_by_uid() is None
    assert len(sip_user_requests(placetel_api)) == 1


# --------------------------------------------------------------------------- the user's SIP account


def test_user_page_picks_the_sip_account_from_all_placetel_users(app, client, anna, placetel_api):
    page = client.get(f"/settings/users/{anna}").text
    options = re.findall(r'<option value="(7770\d+@fpbx\.de)"', page)
    assert len(options) == 130 and "777000130@fpbx.de" in options  # the last page too
    assert "Telefon 130 – +49221990130 – online" in page and "Telefon 129 – +49221990129 – offline" in page
    assert 'name="sipuid" type="text"' not in page
    assert '<option value="+49221990130">Telefon 130</option>' in page  # numbers to pick for the assignments

    response = client.post(f"/settings/users/{anna}/sip-account", data={"sipuid": "777000130@fpbx.de"},
                           headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert "SIP-Account gespeichert." in response.text
    assert re.search(r"<strong>Telefon 130</strong>\s*· 0221 990130\s*·\s*<span[^>]*>online</span>", response.text)
    assert '<option value="777000130@fpbx.de" selected>' in response.text
    with app.app_context():
        assert placetel.sipuid_for("anna") == "777000130@fpbx.de"
        assert site_settings.get("placetel.accounts") == "anna:777000130@fpbx.de"  # the CLI's view of the rows
    assert len(sip_user_requests(placetel_api)) == 2  # page view and save shared one cached reading


def test_a_sip_account_placetel_does_not_list_is_refused(app, client, anna, placetel_api):
    response = client.post(f"/settings/users/{anna}/sip-account", data={"sipuid": "777123123@fpbx.de"},
                           headers={"HX-Request": "true"})
    assert response.status_code == 422
    assert "Diesen SIP-Account gibt es bei Placetel nicht." in response.text
    with app.app_context():
        assert placetel.sipuid_for("anna") is None


def test_the_phone_can_be_taken_away(app, client, anna, placetel_api):
    client.post(f"/settings/users/{anna}/sip-account", data={"sipuid": "777000001@fpbx.de"})
    response = client.post(f"/settings/users/{anna}/sip-account", data={"sipuid": ""})
    assert response.status_code == 302
    assert "Telefon-Zuordnung entfernt." in client.get(response.headers["Location"]).text
    with app.app_context():
        assert db.session.scalars(select(SipAccount)).all() == []


@pytest.mark.parametrize("failure, reason", [
    (None, "kein Placetel-API-Token"),
    ({"status_code": 503, "text": "down"}, "nicht erreichbar"),
])
def test_without_placetel_the_sip_uid_is_typed_and_validated(app, client, anna, requests_mock, failure, reason):
    if failure:
        with app.app_context():
            site_settings.set_value("placetel.api_token", TOKEN)
            db.session.commit()
        requests_mock.get(SIP_USERS_URL, **failure)
    page = client.get(f"/settings/users/{anna}").text
    assert "Die Liste der SIP-Benutzer von Placetel fehlt:" in page and reason in page
    assert 'name="sipuid" type="text"' in page and "<select id=\"sipuid\"" not in page

    response = client.post(f"/settings/users/{anna}/sip-account", data={"sipuid": "777 123"},
                           headers={"HX-Request": "true"})
    assert response.status_code == 422
    assert "Das ist keine gültige SIP-UID (z. B. 777123456@fpbx.de)." in response.text
    assert 'value="777 123"' in response.text  # what was typed is kept

    response = client.post(f"/settings/users/{anna}/sip-account", data={"sipuid": " 777123456@fpbx.de "},
                           headers={"HX-Request": "true"})
    assert response.status_code == 200 and "<code>777123456@fpbx.de</code>" in response.text
    with app.app_context():
        assert placetel.sipuid_for("anna") == "777123456@fpbx.de"


def test_users_list_shows_each_users_phone(app, client, anna):
    with app.app_context():
        site_settings.set_value("placetel.accounts", "anna:777123456@fpbx.de")
        db.session.commit()
    assert "<code>777123456@fpbx.de</code>" in client.get("/settings/users").text


def test_deleting_a_user_deletes_their_phone_and_numbers(app, anna):
    with app.app_context():
        site_settings.set_value("placetel.accounts", "anna:777123456@fpbx.de")
        site_settings.set_value("calls.number_assignments", "0221 999000:anna")
        db.session.commit()
        db.session.delete(db.session.get(User, anna))
        db.session.commit()
        assert db.session.scalars(select(SipAccount)).all() == []
        assert db.session.scalars(select(NumberAssignment)).all() == []


def test_sip_account_forms_are_for_admins_only(app, client, auth):
    anna_id = make_user(app, "anna")
    auth.login("ben")
    assert client.post(f"/settings/users/{anna_id}/sip-account", data={"sipuid": "777123456@fpbx.de"}).status_code == 403
    assert client.post(f"/settings/users/{anna_id}/numbers", data={"number": "0221 999000"}).status_code == 403


# --------------------------------------------------------------------------- office numbers


def test_an_office_number_named_zentrale_rings_the_user(app, client, anna):
    response = client.post(f"/settings/users/{anna}/numbers", data={"number": "0221 999000", "name": "Zentrale"},
                           headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert "Rufnummer zugeordnet." in response.text
    assert re.search(r"<td>Zentrale</td>\s*<td>0221 999000</td>", response.text)
    with app.app_context():
        number = db.session.scalar(select(OfficeNumber))
        assert (number.e164, number.name, [a.user.username for a in number.assignments]) == (
            "+49221999000", "Zentrale", ["anna"])
        assert site_settings.get("calls.number_assignments") == "+49221999000:anna"
    page = client.get("/settings/telephony").text
    assert "<strong>Zentrale</strong> 0221 999000" in page


@pytest.mark.parametrize("data, message", [
    ({"number": "", "name": "Zentrale"}, "Bitte eine Rufnummer eingeben."),
    ({"number": "keine Nummer", "name": "Zentrale"}, "Bitte eine gültige Rufnummer eingeben"),
    ({"number": "0221 999000", "name": "x" * 81}, "Bitte höchstens 80 Zeichen."),
])
def test_a_wrong_number_is_answered_with_the_form(app, client, anna, data, message):
    response = client.post(f"/settings/users/{anna}/numbers", data=data, headers={"HX-Request": "true"})
    assert response.status_code == 422
    assert message in response.text
    assert f'value="{data["number"]}"' in response.text or not data["number"]
    with app.app_context():
        assert db.session.scalars(select(OfficeNumber)).all() == []


def test_the_same_number_twice_is_refused_and_a_number_can_ring_several_users(app, client, anna):
    ben = make_user(app, "ben")
    client.post(f"/settings/users/{anna}/numbers", data={"number": "0221 999000", "name": "Zentrale"})
    response = client.post(f"/settings/users/{anna}/numbers", data={"number": "+49 221 999000"},
                           headers={"HX-Request": "true"})
    assert response.status_code == 422 and "schon zugeordnet" in response.text
    assert client.post(f"/settings/users/{ben}/numbers", data={"number": "0221999000"}).status_code == 302
    with app.app_context():
        assert site_settings.get("calls.number_assignments") == "+49221999000:anna,ben"
        assert db.session.scalar(select(OfficeNumber.name)) == "Zentrale"  # the name stays


def test_removing_an_assignment(app, client, anna):
    client.post(f"/settings/users/{anna}/numbers", data={"number": "0221 999001"})
    with app.app_context():
        assignment_id = db.session.scalar(select(NumberAssignment.id))
    response = client.post(f"/settings/users/{anna}/numbers/{assignment_id}/delete", headers={"HX-Request": "true"})
    assert response.status_code == 200 and "Noch keine Rufnummer zugeordnet." in response.text
    with app.app_context():
        assert db.session.scalars(select(OfficeNumber)).all() == []  # unnamed and unused: gone
    assert client.post(f"/settings/users/{anna}/numbers/{assignment_id}/delete").status_code == 404


def test_banner_recipients_follow_the_rows(app, anna):
    carla = make_user(app, "carla")
    with app.test_request_context():
        site_settings.set_value("calls.routing", "affected")
        site_settings.set_value("placetel.accounts", "anna:777111222@fpbx.de")
        db.session.commit()
        from telephone import sip_accounts
        sip_accounts.assign_number(db.session.get(User, carla), "0221 999000", "Zentrale")
        db.session.commit()
        call = Call(call_id="a" * 64, direction="in", from_number="0613112345", to_number="0221999000",
                    status="ringing")
        assert banners.recipients(call) == frozenset({carla})
        call.status, call.peer = "accepted", "777111222@FPBX.de"
        assert banners.recipients(call) == frozenset({anna})
        assert sip_accounts.number_name("+49 221 999000") == "Zentrale"
