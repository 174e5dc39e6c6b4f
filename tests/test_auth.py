"""Accounts: login, logout, login required everywhere, roles, CSRF and the users CLI."""
import pytest
from sqlalchemy import select

from telephone.extensions import db
from telephone.models import User

from .conftest import PASSWORD, csrf_token_from, make_user

PAGES_FOR_USERS = ["/addresses/", "/account"]
ADMIN_PAGES = ["/settings/telephony", "/settings/users", "/settings/users/new"]


def test_login_page_is_public_and_german(client):
    response = client.get("/login")
    assert response.status_code == 200
    assert "Bitte melden Sie sich an." in response.text
    assert 'lang="de"' in response.text


def test_healthz_is_public(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok"}


@pytest.mark.parametrize("path", PAGES_FOR_USERS + ADMIN_PAGES)
def test_pages_redirect_to_login_when_anonymous(client, path):
    response = client.get(path)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")


def test_root_leads_to_login_then_addresses(client, auth):
    assert client.get("/").headers["Location"].startswith("/login")
    auth.login("anna")
    assert client.get("/").headers["Location"] == "/addresses/"


def test_htmx_request_without_login_gets_hx_redirect(client):
    response = client.get("/addresses/", headers={"HX-Request": "true"})
    assert response.status_code == 401
    assert response.headers["HX-Redirect"] == "/login"


def test_every_registered_view_needs_login_except_the_public_ones(app, client):
    public = {"auth.login", "auth.language", "healthz", "static"}
    for rule in app.url_map.iter_rules():
        if rule.endpoint in public or getattr(app.view_functions[rule.endpoint], "is_public", False):
            continue
        url = rule.rule
        for arg in rule.arguments:
            url = url.replace(f"<int:{arg}>", "1").replace(f"<{arg}>", "x")
        method = "GET" if "GET" in rule.methods else "POST"
        response = client.open(url, method=method)
        assert response.status_code in (302, 401), f"{method} {url} answered {response.status_code} without login"


def test_login_wrong_password_keeps_username(client, app):
    make_user(app, "anna")
    response = client.post("/login", data={"username": "anna", "password": "falsch"})
    assert response.status_code == 200
    assert "Benutzername oder Passwort ist falsch." in response.text
    assert 'value="anna"' in response.text


def test_login_and_logout(client, auth):
    response = auth.login("anna")
    assert response.status_code == 302
    assert client.get("/addresses/").status_code == 200
    auth.logout()
    assert client.get("/addresses/").status_code == 302


def test_login_follows_only_local_next(client, app):
    make_user(app, "anna")
    response = client.post("/login?next=https://evil.example/", data={"username": "anna", "password": PASSWORD})
    assert response.headers["Location"] == "/addresses/"
    client.post("/logout")
    response = client.post("/login?next=/account", data={"username": "anna", "password": PASSWORD})
    assert response.headers["Location"] == "/account"


def test_deactivated_user_cannot_log_in(client, app):
    make_user(app, "otto", active=False)
    response = client.post("/login", data={"username": "otto", "password": PASSWORD})
    assert "deaktiviert" in response.text
    assert client.get("/addresses/").status_code == 302


@pytest.mark.parametrize("path", ADMIN_PAGES)
def test_admin_pages_forbidden_for_users(client, auth, path):
    auth.login("anna")
    response = client.get(path)
    assert response.status_code == 403
    assert "Berechtigung" in response.text


@pytest.mark.parametrize("path", ADMIN_PAGES)
def test_admin_pages_open_for_admins(client, auth, path):
    auth.login("chef", admin=True)
    assert client.get(path).status_code == 200


@pytest.mark.csrf
def test_post_without_csrf_token_is_rejected(client, app):
    make_user(app, "anna")
    response = client.post("/login", data={"username": "anna", "password": PASSWORD})
    assert response.status_code == 400
    assert "Formular ist abgelaufen" in response.text


@pytest.mark.csrf
def test_htmx_post_with_csrf_header_is_accepted(client, app):
    make_user(app, "anna")
    token = csrf_token_from(client.get("/login").text)
    response = client.post("/login", data={"username": "anna", "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 302
    page = client.get("/account").text
    header_token = csrf_token_from(page.split("<body", 1)[1])
    response = client.post("/logout", headers={"X-CSRFToken": header_token, "HX-Request": "true"})
    assert response.status_code == 302
    response = client.post("/language", data={"lang": "en"}, headers={"HX-Request": "true"})
    assert response.status_code == 400


def test_account_page_switches_notifications_and_language(client, auth, app):
    auth.login("anna")
    response = client.post("/account", data={"display_name": "Anna Schmidt", "locale": "en"})
    assert response.status_code == 302
    with app.app_context():
        user = db.session.scalar(select(User).filter_by(username="anna"))
        assert user.call_notifications is False
        assert user.locale == "en"
        assert user.display_name == "Anna Schmidt"
    assert "My settings" in client.get("/account").text or 'lang="en"' in client.get("/account").text


def test_password_change_needs_current_password(client, auth, app):
    auth.login("anna")
    response = client.post("/account", data={"locale": "de", "call_notifications": "y",
                                              "current_password": "falsch",
                                              "new_password": "neues-passwort", "new_password_repeat": "neues-passwort"})
    assert response.status_code == 422
    assert "Das aktuelle Passwort ist falsch." in response.text
    response = client.post("/account", data={"locale": "de", "call_notifications": "y",
                                              "current_password": PASSWORD,
                                              "new_password": "neues-passwort", "new_password_repeat": "neues-passwort"})
    assert response.status_code == 302
    with app.app_context():
        assert db.session.scalar(select(User).filter_by(username="anna")).check_password("neues-passwort")


def test_admin_creates_user_with_one_time_password_that_must_be_changed(client, auth, app):
    auth.login("chef", admin=True)
    response = client.post("/settings/users/new", data={"username": "ben", "display_name": "Ben", "locale": "de",
                                                        "active": "y"})
    assert response.status_code == 200
    password = response.text.split('class="secret-once">', 1)[1].split("<", 1)[0]
    auth.logout()
    client.post("/login", data={"username": "ben", "password": password})
    response = client.get("/addresses/")
    assert response.status_code == 302 and "/account" in response.headers["Location"]
    client.post("/account", data={"locale": "de", "new_password": "bens-passwort", "new_password_repeat": "bens-passwort"})
    assert client.get("/addresses/").status_code == 200


def test_admin_deactivates_and_resets_user(client, auth, app):
    auth.login("chef", admin=True)
    ben = make_user(app, "ben")
    response = client.post(f"/settings/users/{ben}", data={"username": "ben", "locale": "de"})
    assert response.status_code == 302
    with app.app_context():
        assert db.session.get(User, ben).active is False
    response = client.post(f"/settings/users/{ben}/reset-password")
    assert "Einmal-Passwort" in response.text
    with app.app_context():
        assert db.session.get(User, ben).must_change_password


def test_admin_cannot_demote_self(client, auth, app):
    auth.login("chef", admin=True)
    with app.app_context():
        chef = db.session.scalar(select(User.id).filter_by(username="chef"))
    response = client.post(f"/settings/users/{chef}", data={"username": "chef", "locale": "de", "active": "y"})
    assert response.status_code == 422
    assert "nicht selbst" in response.text


def test_cli_creates_user_and_refuses_duplicate(runner, app):
    result = runner.invoke(args=["users", "create", "anna", "--password", "sicheres-pw", "--admin"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        user = db.session.scalar(select(User).filter_by(username="anna"))
        assert user.is_admin and user.check_password("sicheres-pw")
    result = runner.invoke(args=["users", "create", "anna", "--password", "anderes-pw"])
    assert result.exit_code != 0
    assert "gibt es schon" in result.output


def test_cli_refuses_short_password(runner):
    result = runner.invoke(args=["users", "create", "anna", "--password", "kurz"])
    assert result.exit_code != 0
    assert "mindestens 8 Zeichen" in result.output


def test_cli_bootstrap_prints_one_time_password_once(runner, client):
    assert "Noch kein Benutzer angelegt" in client.get("/login").text
    result = runner.invoke(args=["users", "bootstrap"])
    assert result.exit_code == 0
    password = result.output.split("Einmal-Passwort: ", 1)[1].split()[0]
    assert client.post("/login", data={"username": "admin", "password": password}).status_code == 302
    again = runner.invoke(args=["users", "bootstrap"])
    assert "nichts zu tun" in again.output
