"""Telefonie settings: "Verbindung testen" with Placetel's SIP accounts, and the lookup API token field."""
import pytest

from telephone import site_settings
from telephone.extensions import db

from .conftest import make_user

TOKEN = "pt-token-4711-abcdef-secret"
SIP_USERS_URL = "https://api.placetel.de/v2/sip_users"
SIP_USERS = [
    {"sipuid": "777123456@fpbx.de", "name": "Anna <b>Schreibtisch</b>", "callerid": "+49221999000", "online": True},
    {"sipuid": "777654321@fpbx.de", "name": "Empfang", "callerid": "+49221999001"},
]


@pytest.fixture
def admin(app, auth):
    auth.login("chef", admin=True)
    make_user(app, "anna")
    with app.app_context():
        site_settings.set_value("placetel.api_token", TOKEN)
        site_settings.set_value("placetel.accounts", "anna:777123456@fpbx.de\nchef:777000999@fpbx.de")
        db.session.commit()


def test_settings_page_offers_the_connection_test(client, admin):
    page = client.get("/settings/telephony").text
    assert "Verbindung testen" in page
    assert 'hx-post="/settings/telephony/test-connection"' in page


def test_connection_test_lists_sip_users_and_unknown_mappings(client, admin, requests_mock):
    requests_mock.get(SIP_USERS_URL, json=SIP_USERS)
    response = client.post("/settings/telephony/test-connection", headers={"HX-Request": "true"})
    assert response.status_code == 200
    html = response.text
    assert "Placetel kennt 2 SIP-Benutzer" in html
    assert "Anna &lt;b&gt;Schreibtisch&lt;/b&gt;" in html
    for value in ("777123456@fpbx.de", "+49221999000", "777654321@fpbx.de", "Empfang"):
        assert value in html
    assert "gibt es bei Placetel nicht" in html
    assert "<code>chef:777000999@fpbx.de</code>" in html
    assert "anna:777123456" not in html
    assert requests_mock.last_request.headers["Authorization"] == f"Bearer {TOKEN}"


def test_connection_test_without_unknown_mappings_has_no_hint(client, admin, app, requests_mock):
    with app.app_context():
        site_settings.set_value("placetel.accounts", "anna:777123456@fpbx.de")
        db.session.commit()
    requests_mock.get(SIP_USERS_URL, json=SIP_USERS)
    html = client.post("/settings/telephony/test-connection").text
    assert "Placetel kennt 2 SIP-Benutzer" in html and "gibt es bei Placetel nicht" not in html


@pytest.mark.parametrize("failure, shown", [
    ({"status_code": 401, "json": {"error": "Unauthorized"}}, "API-Token abgelehnt"),
    ({"status_code": 502, "text": "Bad Gateway"}, "nicht erreichbar"),
])
def test_connection_test_shows_the_error(client, admin, requests_mock, failure, shown):
    requests_mock.get(SIP_USERS_URL, **failure)
    html = client.post("/settings/telephony/test-connection").text
    assert shown in html and 'role="alert"' in html
    assert TOKEN not in html


def test_connection_test_without_token(client, admin, app, requests_mock):
    with app.app_context():
        site_settings.set_value("placetel.api_token", "")
        db.session.commit()
    html = client.post("/settings/telephony/test-connection").text
    assert "kein Placetel-API-Token" in html
    assert requests_mock.call_count == 0


def test_connection_test_is_for_admins_only(client, auth, requests_mock):
    auth.login("anna")
    assert client.post("/settings/telephony/test-connection").status_code == 403
    assert requests_mock.call_count == 0


def test_lookup_token_is_write_only_and_validated(client, admin, app):
    form = {"default_region": "DE", "routing": "all", "expire_minutes": "10",
}
    response = client.post("/settings/telephony", data={**form, "lookup_token": "kurz"})
    assert response.status_code == 422
    assert "mindestens 16 Zeichen" in response.text
    response = client.post("/settings/telephony", data={**form, "lookup_token": "lookup-token-0123456789"})
    assert response.status_code == 302
    page = client.get("/settings/telephony").text
    assert "lookup-token-0123456789" not in page
    assert "API-Token der Nummernsuche löschen" in page  # shown only when set
    with app.app_context():
        assert site_settings.get("api.token") == "lookup-token-0123456789"
