"""Guessing passwords: failed logins limited per user name and address; user names do not leak by timing."""
from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from telephone.auth import accounts
from telephone.extensions import db
from telephone.models import LoginFailure, User

from .conftest import PASSWORD, make_user

TOO_MANY = "Zu viele Fehlversuche. Bitte versuchen Sie es in 15 Minuten erneut."


def attempt(client, name: str, password: str = "falsch", address: str = "192.0.2.10"):
    return client.post("/login", data={"username": name, "password": password},
                       environ_base={"REMOTE_ADDR": address})


def age_failures(app, by: timedelta) -> None:
    """Move every recorded failure `by` into the past."""
    with app.app_context():
        for failure in db.session.scalars(select(LoginFailure)):
            failure.at -= by
        db.session.commit()


def test_limits_are_configured(app):
    assert app.config["LOGIN_FAILURES_PER_USERNAME"] == 5
    assert app.config["LOGIN_FAILURES_PER_ADDRESS"] == 20
    assert app.config["LOGIN_FAILURE_WINDOW"] == timedelta(minutes=15)


def test_sixth_attempt_for_a_name_is_refused_with_429_even_with_the_right_password(app, client):
    make_user(app, "anna")
    for _ in range(5):
        assert "Benutzername oder Passwort ist falsch." in attempt(client, "anna").text
    response = attempt(client, "anna", PASSWORD)
    assert response.status_code == 429
    assert TOO_MANY in response.text
    assert 'value="anna"' in response.text and 'name="password"' in response.text  # the form, name kept
    assert client.get("/addresses/").status_code == 302
    # the limit counts the name, not how it is typed, and holds from another address too
    assert attempt(client, " ANNA ", PASSWORD, address="198.51.100.7").status_code == 429


def test_the_wait_shrinks_and_ends_with_the_window(app, client):
    make_user(app, "anna")
    for _ in range(5):
        attempt(client, "anna")
    age_failures(app, timedelta(minutes=14))
    assert "in 1 Minute erneut." in attempt(client, "anna", PASSWORD).text
    age_failures(app, timedelta(minutes=1, seconds=1))
    assert attempt(client, "anna", PASSWORD).status_code == 302


def test_one_address_trying_many_names_is_limited(app, client):
    make_user(app, "anna")
    for number in range(20):
        assert attempt(client, f"user{number}").status_code == 200
    assert attempt(client, "anna", PASSWORD).status_code == 429
    other = app.test_client()
    assert attempt(other, "anna", PASSWORD, address="198.51.100.7").status_code == 302


def test_successful_login_clears_the_names_failures(app, client):
    make_user(app, "anna")
    for _ in range(4):
        attempt(client, "anna")
    assert attempt(client, "anna", PASSWORD).status_code == 302
    client.post("/logout")
    for _ in range(4):
        attempt(client, "anna")
    assert attempt(client, "anna", PASSWORD).status_code == 302


def test_refused_attempts_do_not_check_the_password_nor_count(app, client, monkeypatch):
    make_user(app, "anna")
    for _ in range(5):
        attempt(client, "anna")
    checks = []
    monkeypatch.setattr(accounts, "authenticate", lambda *args: checks.append(args))
    attempt(client, "anna")
    assert checks == []
    with app.app_context():
        assert db.session.scalar(select(func.count(LoginFailure.id))) == 5


def test_failed_login_is_logged_with_the_client_address(app, client, caplog):
    make_user(app, "anna")
    with caplog.at_level(logging.WARNING):
        attempt(client, "anna\nfake log line", address="203.0.113.5")
    [record] = [r for r in caplog.records if "failed login" in r.getMessage()]
    assert record.levelno == logging.WARNING
    assert "203.0.113.5" in record.getMessage() and "\n" not in record.getMessage()


def test_old_failures_are_deleted(app, client):
    make_user(app, "anna")
    attempt(client, "anna")
    age_failures(app, timedelta(hours=1))
    attempt(client, "ben")
    with app.app_context():
        assert db.session.scalars(select(LoginFailure.username)).all() == ["ben"]


@pytest.fixture
def hash_checks(monkeypatch):
    """Every password hash check made, as (hash algorithm, password)."""
    import telephone.models

    checks = []
    for module in (telephone.models, accounts):
        original = module.check_password_hash

        def counting(pwhash, password, original=original):
            checks.append((pwhash.split("$", 1)[0], password))
            return original(pwhash, password)

        monkeypatch.setattr(module, "check_password_hash", counting)
    return checks


@pytest.mark.parametrize("name", ["nobody", "otto", "anna"])
def test_every_login_checks_one_hash_of_the_same_kind(app, client, hash_checks, name):
    make_user(app, "anna")
    make_user(app, "otto", active=False)
    attempt(client, name, "falsch")
    with app.app_context():
        stored = db.session.scalar(select(User.password_hash).where(User.username == "anna"))
    assert hash_checks == [(stored.split("$", 1)[0], "falsch")]
