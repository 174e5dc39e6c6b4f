"""Admin settings: secrets encrypted and never rendered, account mapping validation, CLI."""
import pytest
from sqlalchemy import select

from telephone import site_settings
from telephone.extensions import db
from telephone.models import Setting

from .conftest import make_user

TOKEN = "pt-token-4711-abcdef"


def _post(client, **fields):
    data = {"default_region": "DE", "routing": "all", "expire_minutes": "10", "accounts": "", "number_assignments": ""}
    data.update(fields)
    return client.post("/settings/telephony", data=data)


def test_secrets_are_encrypted_at_rest_and_never_rendered(client, auth, app):
    auth.login("chef", admin=True)
    response = _post(client, api_token=TOKEN, shared_secret="geheimnis-xyz")
    assert response.status_code == 302
    with app.app_context():
        stored = db.session.get(Setting, "placetel.api_token").value
        assert TOKEN not in stored and stored
        assert site_settings.get("placetel.api_token") == TOKEN
        assert site_settings.get("placetel.shared_secret") == "geheimnis-xyz"
    page = client.get("/settings/telephony").text
    assert TOKEN not in page and "geheimnis-xyz" not in page
    assert "gesetzt – leer lassen" in page


def test_empty_secret_field_keeps_value_and_clear_removes_it(client, auth, app):
    auth.login("chef", admin=True)
    _post(client, api_token=TOKEN)
    _post(client, api_token="")
    with app.app_context():
        assert site_settings.get("placetel.api_token") == TOKEN
    _post(client, api_token="", clear_api_token="y")
    with app.app_context():
        assert site_settings.get("placetel.api_token") == ""
        assert not site_settings.is_set("placetel.api_token")


def test_account_mapping_errors_name_their_lines_and_keep_input(client, auth, app):
    auth.login("chef", admin=True)
    make_user(app, "anna")
    text = "anna:777123456@fpbx.de\n\nnobody:777000111@fpbx.de\nanna:777999888@fpbx.de\nchef:kein-sip\nohne-doppelpunkt"
    response = _post(client, accounts=text)
    assert response.status_code == 422
    page = response.text
    assert "Zeile 3: Benutzer „nobody“ gibt es nicht." in page
    assert "Zeile 4: Benutzer „anna“ ist schon in Zeile 1 zugeordnet." in page
    assert "Zeile 5: „kein-sip“ ist keine gültige SIP-UID" in page
    assert "Zeile 6: Format ist" in page
    assert "nobody:777000111@fpbx.de" in page  # what was typed is kept
    with app.app_context():
        assert site_settings.get("placetel.accounts") == ""


def test_valid_account_mapping_is_saved(client, auth, app):
    auth.login("chef", admin=True)
    make_user(app, "anna")
    response = _post(client, accounts="  anna : 777123456@fpbx.de \n# Kommentar\nchef:777654321@fpbx.de")
    assert response.status_code == 302
    with app.app_context():
        assert "anna : 777123456@fpbx.de" in site_settings.get("placetel.accounts")


def test_failed_save_changes_nothing(client, auth, app):
    auth.login("chef", admin=True)
    response = _post(client, api_token=TOKEN, default_region="XX")
    assert response.status_code == 422
    assert "ist kein Ländercode" in response.text
    with app.app_context():
        assert not site_settings.is_set("placetel.api_token")


def test_cli_settings_set_validates_like_the_page(runner, app):
    make_user(app, "anna")
    result = runner.invoke(args=["settings", "set", "placetel.accounts", "anna:777123456@fpbx.de"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(args=["settings", "set", "placetel.accounts", "otto:777123456@fpbx.de"])
    assert result.exit_code != 0
    assert "Zeile 1: Benutzer „otto“ gibt es nicht." in result.output
    result = runner.invoke(args=["settings", "set", "placetel.api_token", TOKEN])
    assert result.exit_code == 0
    assert TOKEN not in result.output and "gesetzt" in result.output
    result = runner.invoke(args=["settings", "set", "numbers.default_region", "at"])
    assert result.exit_code == 0
    with app.app_context():
        assert site_settings.get("numbers.default_region") == "AT"
        stored = db.session.scalar(select(Setting.value).where(Setting.key == "placetel.api_token"))
        assert TOKEN not in stored


@pytest.mark.parametrize("key,value", [("unknown.key", "x"), ("numbers.default_region", "Deutschland"),
                                       ("calls.routing", "some")])
def test_cli_settings_set_rejects_invalid(runner, key, value):
    result = runner.invoke(args=["settings", "set", key, value])
    assert result.exit_code != 0
    assert "Error" in result.output
