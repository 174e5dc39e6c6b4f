"""Placetel REST client: the request sent, every error class, the token kept secret, account mapping."""
import logging

import pytest
import requests

from telephone import placetel, site_settings
from telephone.extensions import db
from sqlalchemy import select

from telephone.models import Setting, User

from .conftest import make_user

TOKEN = "pt-token-4711-abcdef-secret"
SIP_USERS = [
    {"id": 1, "sipuid": "777123456@fpbx.de", "name": "Anna Schreibtisch", "callerid": "+49221999000",
     "type": "standard", "online": True},
    {"id": 2, "sipuid": "777654321@fpbx.de", "name": "Empfang", "callerid": "+49221999001"},
]


def configure(app, token=TOKEN, accounts=""):
    with app.app_context():
        site_settings.set_value("placetel.api_token", token)
        site_settings.set_value("placetel.accounts", accounts)
        db.session.commit()


def api(app, path):
    return app.config["PLACETEL_API_URL"] + path


def failed_call(app, requests_mock, error_class, **answer):
    """Let Placetel answer POST /calls with `answer`; return the error start_call raised."""
    configure(app)
    requests_mock.post(api(app, "/calls"), **answer)
    with app.test_request_context(), pytest.raises(error_class) as raised:
        placetel.start_call("777123456@fpbx.de", "+49221123456")
    return raised.value


def test_start_call_sends_bearer_token_and_json_body(app, requests_mock):
    configure(app)
    requests_mock.post(api(app, "/calls"), status_code=201)  # Placetel: 201 with empty body
    with app.test_request_context():
        placetel.start_call("777123456@fpbx.de", "+49221123456", from_name="Müller GmbH")
    sent = requests_mock.last_request
    assert sent.method == "POST" and sent.url == "https://api.placetel.de/v2/calls"
    assert sent.headers["Authorization"] == f"Bearer {TOKEN}"
    assert sent.json() == {"sipuid": "777123456@fpbx.de", "target": "+49221123456", "from_name": "Müller GmbH"}


def test_start_call_accepts_200_and_leaves_out_empty_from_name(app, requests_mock):
    configure(app)
    requests_mock.post(api(app, "/calls"), status_code=200, json={})
    with app.test_request_context():
        placetel.start_call("777123456@fpbx.de", "+49221123456")
    assert requests_mock.last_request.json() == {"sipuid": "777123456@fpbx.de", "target": "+49221123456"}


def test_list_sip_users_reads_the_documented_fields_and_ignores_extra_ones(app, requests_mock):
    configure(app)
    requests_mock.get(api(app, "/sip_users"), json=SIP_USERS)
    with app.test_request_context():
        users = placetel.list_sip_users()
    assert users == [
        placetel.SipUser("777123456@fpbx.de", "Anna Schreibtisch", "+49221999000", online=True),
        placetel.SipUser("777654321@fpbx.de", "Empfang", "+49221999001"),
    ]
    assert requests_mock.last_request.headers["Authorization"] == f"Bearer {TOKEN}"


def test_missing_token_sends_nothing(app, requests_mock):
    configure(app, token="")
    with app.test_request_context(), pytest.raises(placetel.TokenMissing) as raised:
        placetel.start_call("777123456@fpbx.de", "+49221123456")
    assert "kein Placetel-API-Token" in str(raised.value)
    assert requests_mock.call_count == 0


@pytest.mark.parametrize("status", [401, 403])
def test_refused_token(app, requests_mock, status):
    error = failed_call(app, requests_mock, placetel.TokenRefused,
                        status_code=status, json={"error": "Unauthorized"})
    assert "API-Token abgelehnt" in str(error)


@pytest.mark.parametrize("status", [404, 422])
def test_refused_request_shows_placetels_reason(app, requests_mock, status):
    error = failed_call(app, requests_mock, placetel.RequestRefused,
                        status_code=status, json={"error": "SIP user not found"})
    assert str(error) == "Placetel hat den Auftrag abgelehnt: SIP user not found"
    assert error.status == status


def test_refused_request_without_reason_names_the_status(app, requests_mock):
    error = failed_call(app, requests_mock, placetel.RequestRefused, status_code=400, text="")
    assert "Fehler 400" in str(error)


def test_rate_limit_honours_retry_after(app, requests_mock):
    error = failed_call(app, requests_mock, placetel.RateLimited, status_code=429, headers={"Retry-After": "30"},
                        json={"error": "Too many requests"})
    assert error.retry_after == 30
    assert "in 30 Sekunden erneut" in str(error)


def test_rate_limit_without_retry_after(app, requests_mock):
    error = failed_call(app, requests_mock, placetel.RateLimited, status_code=429)
    assert error.retry_after is None
    assert "gleich noch einmal" in str(error)


@pytest.mark.parametrize("failure", [
    {"status_code": 500, "json": {"error": "Internal Server Error"}},
    {"status_code": 503, "text": "<html>Service Unavailable</html>"},
    {"exc": requests.exceptions.ConnectTimeout},
    {"exc": requests.exceptions.ReadTimeout},
    {"exc": requests.exceptions.ConnectionError},
], ids=["500", "503", "connect-timeout", "read-timeout", "connection-error"])
def test_unreachable_placetel(app, requests_mock, failure):
    error = failed_call(app, requests_mock, placetel.PlacetelUnreachable, **failure)
    assert "nicht erreichbar" in str(error)


@pytest.mark.parametrize("body", [{"text": "not json"}, {"json": {"error": "oops"}}], ids=["invalid-json", "no-list"])
def test_unexpected_sip_user_answer_counts_as_unreachable(app, requests_mock, body):
    configure(app)
    requests_mock.get(api(app, "/sip_users"), status_code=200, **body)
    with app.test_request_context(), pytest.raises(placetel.PlacetelUnreachable):
        placetel.list_sip_users()


def test_timeouts_come_from_config(app, requests_mock):
    configure(app)
    requests_mock.post(api(app, "/calls"), status_code=201)
    with app.test_request_context():
        placetel.start_call("777123456@fpbx.de", "+49221123456")
    assert requests_mock.last_request.timeout == app.config["PLACETEL_TIMEOUT"]


@pytest.mark.parametrize("failure", [
    {"status_code": 401, "json": {"error": "Unauthorized"}},
    {"status_code": 422, "json": {"error": "invalid target"}},
    {"exc": requests.exceptions.ConnectionError},
])
def test_token_never_in_messages_or_logs(app, requests_mock, caplog, failure):
    caplog.set_level(logging.DEBUG)
    error = failed_call(app, requests_mock, placetel.PlacetelError, **failure)
    assert TOKEN not in str(error) and TOKEN not in repr(error)
    assert caplog.records, "the failure is logged"
    assert all(TOKEN not in record.getMessage() for record in caplog.records)


def test_token_that_is_not_a_header_value_is_not_leaked(app, requests_mock, caplog):
    configure(app, token="pt-token with\nnewline-secret")
    caplog.set_level(logging.DEBUG)
    with app.test_request_context(), pytest.raises(placetel.TokenRefused) as raised:
        placetel.start_call("777123456@fpbx.de", "+49221123456")
    assert "newline-secret" not in str(raised.value)
    assert raised.value.__cause__ is None and raised.value.__suppress_context__
    assert all("newline-secret" not in record.getMessage() for record in caplog.records)
    assert requests_mock.call_count == 0


def test_sipuid_for_reads_the_assigned_rows_and_follows_a_renamed_user(app):
    make_user(app, "anna")
    make_user(app, "ben")
    with app.app_context():
        site_settings.set_value("placetel.accounts", "# Büro\nanna:777123456@fpbx.de\nben : 777654321@FPBX.de")
        db.session.commit()
        assert placetel.sipuid_for("anna") == "777123456@fpbx.de"
        assert placetel.sipuid_for("ben") == "777654321@fpbx.de"
        assert placetel.sipuid_for("chef") is None
        assert placetel.account_usernames_for(" 777654321@fpbx.DE") == ["ben"]
        # The mapping is a foreign key, not text: renaming a user keeps their phone.
        db.session.scalar(select(User).where(User.username == "anna")).username = "anna.schmidt"
        db.session.commit()
        assert placetel.sipuid_for("anna.schmidt") == "777123456@fpbx.de"
        assert placetel.stored_accounts() == {"anna.schmidt": "777123456@fpbx.de", "ben": "777654321@fpbx.de"}


def test_sipuid_for_without_mapping(app):
    with app.app_context():
        assert placetel.sipuid_for("anna") is None
