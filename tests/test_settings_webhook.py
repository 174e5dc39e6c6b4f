"""The webhook block of the Telefonie page: closed in red, its URL to copy, secret and Basic credentials."""
import base64

import pytest

from telephone import events, site_settings
from telephone import trial_call as test_calls
from telephone.extensions import db

from .calls_helpers import SIPUID

WEBHOOK_URL = "http://localhost/calls/placetel/notify"
CLOSED = "Der Webhook ist geschlossen"


def _post(client, **fields):
    data = {"default_region": "DE", "routing": "all", "expire_minutes": "10", "accounts": "", "number_assignments": ""}
    data.update(fields)
    return client.post("/settings/telephony", data=data)


def test_unconfigured_webhook_is_shown_closed_in_red_with_its_url(client, auth):
    auth.login("chef", admin=True)
    page = client.get("/settings/telephony").text
    assert CLOSED in page and 'class="webhook-closed" role="alert"' in page
    assert f'<code id="webhook-url">{WEBHOOK_URL}</code>' in page
    assert 'data-copy="webhook-url"' in page and "Adresse kopieren" in page


def test_a_long_secret_opens_the_webhook_without_warning(client, auth):
    auth.login("chef", admin=True)
    response = _post(client, shared_secret="ein-langes-geheimnis-42")
    assert response.status_code == 302
    page = client.get(response.headers["Location"]).text
    assert CLOSED not in page and "kürzer als 16 Zeichen" not in page
    assert "ein-langes-geheimnis-42" not in page and f"{WEBHOOK_URL}</code>" in page


def test_a_short_secret_is_accepted_with_a_visible_warning(client, auth, app):
    auth.login("chef", admin=True)
    response = _post(client, shared_secret="12345")
    assert response.status_code == 302
    page = client.get(response.headers["Location"]).text
    assert page.count("Das Shared Secret ist kürzer als 16 Zeichen") == 2  # the flash and the block
    assert CLOSED not in page
    with app.app_context():
        assert site_settings.get("placetel.shared_secret") == "12345"
    assert "kürzer als 16 Zeichen" in client.get("/settings/telephony").text  # stays until changed


def test_basic_credentials_are_saved_encrypted_and_the_url_carries_a_placeholder(client, auth, app):
    auth.login("chef", admin=True)
    response = _post(client, webhook_user="placetel", webhook_password="pw-nur-für-placetel")
    assert response.status_code == 302
    page = client.get("/settings/telephony").text
    assert CLOSED not in page
    assert '<code id="webhook-url">http://placetel:PASSWORT@localhost/calls/placetel/notify</code>' in page
    assert "pw-nur-für-placetel" not in page and 'value="placetel"' in page
    assert "gesetzt – leer lassen" in page and "Webhook-Passwort löschen" in page
    with app.app_context():
        from telephone.models import Setting
        assert "pw-nur-für-placetel" not in db.session.get(Setting, "placetel.webhook_password").value
        assert site_settings.get("placetel.webhook_password") == "pw-nur-für-placetel"
    # an empty password field keeps it; clearing it closes the webhook again
    _post(client, webhook_user="placetel")
    with app.app_context():
        assert site_settings.get("placetel.webhook_password") == "pw-nur-für-placetel"
    response = _post(client, webhook_user="", clear_webhook_password="y")
    assert response.status_code == 302
    assert CLOSED in client.get("/settings/telephony").text


@pytest.mark.parametrize("fields, field_id, message", [
    ({"webhook_user": "placetel"}, "webhook_password", "Bitte auch ein Passwort für den Webhook setzen."),
    ({"webhook_password": "geheim-geheim"}, "webhook_user", "Bitte auch einen Benutzernamen für den Webhook setzen."),
    ({"webhook_user": "mit leerzeichen", "webhook_password": "x"}, "webhook_user", "darf nur Buchstaben"),
])
def test_incomplete_or_wrong_basic_credentials_get_422_with_the_reason(client, auth, app, fields, field_id, message):
    auth.login("chef", admin=True)
    response = _post(client, api_token="pt-token-4711-abcdef", **fields)
    assert response.status_code == 422
    assert f'id="{field_id}-errors">' in response.text and message in response.text
    if "webhook_user" in fields:
        assert f'value="{fields["webhook_user"]}"' in response.text  # what was typed stays
    with app.app_context():
        assert not site_settings.is_set("placetel.api_token") and not site_settings.is_set("placetel.webhook_password")


@pytest.fixture
def run_inline(monkeypatch):
    """Run the test call's background sender at once and without pauses."""
    monkeypatch.setattr(test_calls, "_spawn", lambda target: target())
    monkeypatch.setattr(test_calls, "PAUSE_SECONDS", 0)
    monkeypatch.setattr(events, "publish", lambda call_event_id: None)


def test_test_call_uses_basic_credentials_when_only_they_are_set(client, auth, app, run_inline, monkeypatch):
    auth.login("chef", admin=True)
    sent = []
    original = test_calls.WebhookCredentials.headers
    monkeypatch.setattr(test_calls.WebhookCredentials, "headers",
                        lambda self, body: sent.append(original(self, body)) or sent[-1])
    with app.app_context():
        site_settings.set_value("placetel.accounts", f"chef:{SIPUID}")
        site_settings.set_value("placetel.webhook_user", "placetel")
        site_settings.set_value("placetel.webhook_password", "pw-nur-für-placetel")
        db.session.commit()
    response = client.post("/settings/telephony/test-call", data={"number": "0221 4711"},
                           headers={"HX-Request": "true"})
    assert response.status_code == 200 and "Testanruf gesendet" in response.text
    expected = "Basic " + base64.b64encode("placetel:pw-nur-für-placetel".encode()).decode()
    assert [headers.get("Authorization") for headers in sent] == [expected] * 3
    assert all("X-PLACETEL-SIGNATURE" not in headers for headers in sent)
    with app.app_context():
        from telephone.models import Call
        assert db.session.scalar(db.select(Call.status)) == "ended"


def test_test_call_explains_a_closed_webhook(client, auth, app, run_inline):
    auth.login("chef", admin=True)
    with app.app_context():
        site_settings.set_value("placetel.accounts", f"chef:{SIPUID}")
        db.session.commit()
    response = client.post("/settings/telephony/test-call", data={"number": "0221 4711"},
                           headers={"HX-Request": "true"})
    assert response.status_code == 422 and "Webhook ist noch geschlossen" in response.text
