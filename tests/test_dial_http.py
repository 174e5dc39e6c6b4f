"""Click-to-dial end to end over real HTTP: browser-like session → app → (fake) Placetel."""
import pytest
import requests

from telephone import site_settings
from telephone.extensions import db

from .conftest import PASSWORD, csrf_token_from, make_user
from .servers import fake_placetel, serve_app

TOKEN = "pt-token-4711-abcdef-secret"


@pytest.mark.csrf
def test_dial_over_http_reaches_placetel(app):
    make_user(app, "anna")
    with app.app_context():
        site_settings.set_value("placetel.api_token", TOKEN)
        site_settings.set_value("placetel.accounts", "anna:777123456@fpbx.de")
        db.session.commit()
    with fake_placetel() as placetel, serve_app(app) as base, requests.Session() as browser:
        app.config["PLACETEL_API_URL"] = placetel.url
        login_page = browser.get(f"{base}/login", timeout=10)
        response = browser.post(f"{base}/login", timeout=10, data={
            "username": "anna", "password": PASSWORD, "csrf_token": csrf_token_from(login_page.text)})
        assert response.url == f"{base}/addresses/"
        phone_page = browser.get(f"{base}/calls/phone", timeout=10).text
        header_token = csrf_token_from(phone_page.split("<body", 1)[1])  # what HTMX sends

        refused = browser.post(f"{base}/calls/dial", data={"number": "0221 123456"},
                               headers={"HX-Request": "true"}, timeout=10)
        assert refused.status_code == 400 and placetel.received == []  # no CSRF token, no call

        answer = browser.post(f"{base}/calls/dial", data={"number": "0221 / 123 456"},
                              headers={"HX-Request": "true", "X-CSRFToken": header_token}, timeout=10)

    assert answer.status_code == 200
    assert "Ihr Telefon klingelt – nehmen Sie ab, um 0221 123456 anzurufen." in answer.text
    [call] = placetel.received
    assert (call.method, call.path) == ("POST", "/v2/calls")
    assert call.headers["Authorization"] == f"Bearer {TOKEN}"
    assert call.headers["Content-Type"] == "application/json"
    assert call.json() == {"sipuid": "777123456@fpbx.de", "target": "+49221123456"}
    assert TOKEN not in answer.text
