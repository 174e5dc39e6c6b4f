"""Admin settings: secrets encrypted and never rendered, account mapping validation, CLI."""
import pytest
from sqlalchemy import select

from telephone import site_settings
from telephone.extensions import db
from telephone.models import Setting, SipAccount, User

from .conftest import make_user

TOKEN = "pt-token-4711-abcdef"


def _post(client, **fields):
    data = {"default_region": "DE", "routing": "all", "expire_minutes": "10"}
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


def test_account_mapping_errors_name_their_lines_and_change_nothing(runner, app):
    make_user(app, "anna")
    make_user(app, "chef", admin=True)
    assert runner.invoke(args=["settings", "set", "placetel.accounts", "anna:777000111@fpbx.de"]).exit_code == 0
    text = "anna:777123456@fpbx.de\n\nnobody:777000111@fpbx.de\nanna:777999888@fpbx.de\nchef:kein-sip\nohne-doppelpunkt"
    result = runner.invoke(args=["settings", "set", "placetel.accounts", text])
    assert result.exit_code != 0
    assert "Zeile 3: Benutzer „nobody“ gibt es nicht." in result.output
    assert "Zeile 4: Benutzer „anna“ ist schon in Zeile 1 zugeordnet." in result.output
    assert "Zeile 5: „kein-sip“ ist keine gültige SIP-UID" in result.output
    assert "Zeile 6: Format ist" in result.output
    with app.app_context():
        assert site_settings.get("placetel.accounts") == "anna:777000111@fpbx.de"


def test_account_mapping_text_is_stored_as_rows(runner, app):
    make_user(app, "anna")
    make_user(app, "chef", admin=True)
    result = runner.invoke(args=["settings", "set", "placetel.accounts",
                                 "  anna : 777123456@fpbx.de \\n# Kommentar\\nchef:777654321@FPBX.de"])
    assert result.exit_code == 0, result.output
    assert "anna:777123456@fpbx.de" in result.output
    with app.app_context():
        rows = db.session.execute(select(User.username, SipAccount.sipuid).join(SipAccount.user)
                                  .order_by(User.username)).tuples().all()
        assert rows == [("anna", "777123456@fpbx.de"), ("chef", "777654321@fpbx.de")]
        assert db.session.scalar(select(Setting).where(Setting.key == "placetel.accounts")) is None
        assert site_settings.get("placetel.accounts") == "anna:777123456@fpbx.de\nchef:777654321@fpbx.de"
    # Setting it again replaces the rows.
    assert runner.invoke(args=["settings", "set", "placetel.accounts", "chef:777000222@fpbx.de"]).exit_code == 0
    with app.app_context():
        assert site_settings.get("placetel.accounts") == "chef:777000222@fpbx.de"


def test_telephony_page_lists_the_assignments_and_links_the_user_pages(client, auth, app, runner):
    auth.login("chef", admin=True)
    anna = make_user(app, "anna", display_name="Anna Schmidt")
    runner.invoke(args=["settings", "set", "placetel.accounts", "anna:777123456@fpbx.de"])
    runner.invoke(args=["settings", "set", "calls.number_assignments", "0221 999000:anna"])
    page = client.get("/settings/telephony").text
    assert "<textarea" not in page  # no free-text mapping any more
    assert f'href="/settings/users/{anna}">Anna Schmidt</a>' in page
    assert "777123456@fpbx.de" in page and "0221 999000" in page
    # Saving the page leaves the assignments alone.
    assert _post(client, accounts="", number_assignments="").status_code == 302
    with app.app_context():
        assert site_settings.get("placetel.accounts") == "anna:777123456@fpbx.de"
        assert site_settings.get("calls.number_assignments") == "+49221999000:anna"


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
