"""Sessions end on logout, password change, password reset and deactivation – cookies and streams."""
from __future__ import annotations

import time
from datetime import timedelta

import pytest
from sqlalchemy import select

from telephone.extensions import db
from telephone.models import User
from telephone.sse import END, Subscription

from .conftest import PASSWORD, make_user
from .test_events import add_event, open_stream
from .test_sse import banner, connection  # noqa: F401 (a fixture)

NEW = "ein-neues-passwort"


@pytest.fixture(autouse=True)
def fast_heartbeat(app):
    """Streams send a heartbeat often, so a stream that does not end fails the test quickly."""
    app.config["SSE_HEARTBEAT_SECONDS"] = 0.05


def user(app, name: str) -> User:
    with app.app_context():
        return db.session.scalar(select(User).where(User.username == name))


def copy_of(app, client, *names: str):
    """Another browser holding the same cookies as `client` (an attacker who copied them)."""
    other = app.test_client()
    for name in names:
        cookie = client.get_cookie(name)
        assert cookie is not None, f"no {name} cookie to copy"
        other.set_cookie(name, cookie.value)
    return other


def logged_in(client) -> bool:
    return client.get("/addresses/").status_code == 200


def login(client, name: str, password: str = PASSWORD, remember: bool = False):
    data = {"username": name, "password": password}
    if remember:
        data["remember"] = "y"
    response = client.post("/login", data=data)
    assert response.status_code == 302, response.text
    return response


def test_password_reset_ends_the_old_session_which_cannot_set_a_password(app, client, auth):
    bob = make_user(app, "bob")
    login(client, "bob")
    attacker = copy_of(app, client, "session")
    admin = app.test_client()
    make_user(app, "chef", admin=True)
    login(admin, "chef")
    page = admin.post(f"/settings/users/{bob}/reset-password").text
    one_time = page.split('class="secret-once">', 1)[1].split("<", 1)[0]

    response = attacker.get("/account?first=1")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")
    response = attacker.post("/account", data={"locale": "de", "new_password": NEW, "new_password_repeat": NEW})
    assert response.status_code == 401
    assert user(app, "bob").check_password(one_time)
    assert not logged_in(client)


def test_session_cookie_copied_before_logout_is_useless_after_it(app, client, auth):
    auth.login("anna")
    copied = copy_of(app, client, "session")
    assert logged_in(copied)
    auth.logout()
    assert not logged_in(copied)
    assert not logged_in(client)


def test_logout_ends_the_sessions_on_other_devices_too(app, client, auth):
    auth.login("anna")
    phone = app.test_client()
    login(phone, "anna")
    auth.logout()
    assert not logged_in(phone)


def remember_cookie_header(response) -> str:
    [header] = [h for h in response.headers.getlist("Set-Cookie") if h.startswith("remember_token=")]
    return header


def test_remember_cookie_lasts_14_days_httponly_samesite_lax(app, client):
    make_user(app, "anna")
    header = remember_cookie_header(login(client, "anna", remember=True))
    assert "HttpOnly" in header and "SameSite=Lax" in header
    cookie = client.get_cookie("remember_token")
    lifetime = cookie.expires - cookie.expires.now(cookie.expires.tzinfo)
    assert timedelta(days=13) < lifetime <= timedelta(days=14)


def test_without_remember_the_session_ends_with_the_browser(app, client):
    make_user(app, "anna")
    login(client, "anna")
    assert client.get_cookie("remember_token") is None
    assert client.get_cookie("session").expires is None


def test_remember_cookie_does_not_survive_logout(app, client):
    make_user(app, "anna")
    login(client, "anna", remember=True)
    remembered = copy_of(app, client, "remember_token")  # only the remember cookie, no session
    assert logged_in(remembered)
    client.post("/logout")
    assert not logged_in(copy_of(app, remembered, "remember_token"))


def test_password_change_ends_other_sessions_and_remember_cookies_but_not_this_one(app, client):
    make_user(app, "anna")
    login(client, "anna", remember=True)
    other = copy_of(app, client, "session")
    remembered = copy_of(app, client, "remember_token")
    response = client.post("/account", data={"locale": "de", "current_password": PASSWORD,
                                             "new_password": NEW, "new_password_repeat": NEW})
    assert response.status_code == 302
    assert logged_in(client)
    assert not logged_in(other)
    assert not logged_in(app.test_client()) and not logged_in(remembered)
    # the browser that changed it keeps a working remember cookie
    assert logged_in(copy_of(app, client, "remember_token"))


def test_deactivation_ends_the_users_sessions(app, client, auth):
    auth.login("anna")
    admin = app.test_client()
    make_user(app, "chef", admin=True)
    login(admin, "chef")
    anna = user(app, "anna").id
    response = admin.post(f"/settings/users/{anna}", data={"username": "anna", "locale": "de"})
    assert response.status_code == 302
    assert not logged_in(client)
    with app.app_context():  # even if reactivated, the old cookie stays dead
        db.session.get(User, anna).active = True
        db.session.commit()
    assert not logged_in(client)


def test_inactive_user_is_refused_even_with_an_unchanged_session(app, client, auth):
    auth.login("anna")
    with app.app_context():  # deactivated directly in the database, token unchanged
        db.session.scalar(select(User).where(User.username == "anna")).active = False
        db.session.commit()
    assert not logged_in(client)


@pytest.mark.parametrize("cookie_value", ["1", "x:y", "1:", "²:abc", "99:abc"])
def test_old_or_forged_session_ids_load_no_user(app, cookie_value):
    make_user(app, "anna")
    with app.test_request_context():
        assert User.for_session(cookie_value) is None


def stream_ends(stream, timeout: float = 5) -> list[str]:
    """Read the stream until the server ends it; returns the chunks read. Fails after `timeout`."""
    deadline = time.monotonic() + timeout
    chunks = []
    for chunk in stream.chunks:
        chunks.append(chunk.decode())
        assert time.monotonic() < deadline, "the stream did not end"
    return chunks


def deactivate(app, name: str) -> None:
    with app.app_context():
        account = db.session.scalar(select(User).where(User.username == name))
        account.active = False
        account.end_sessions()
        db.session.commit()


def test_open_stream_of_a_deactivated_user_ends_within_seconds(app, client, auth):
    app.config["SSE_SESSION_CHECK_SECONDS"] = 0.2
    auth.login("anna")
    stream = open_stream(client)
    next(stream.chunks)
    deactivate(app, "anna")
    started = time.monotonic()
    stream_ends(stream)
    assert time.monotonic() - started < 2
    stream.close()


def test_no_banner_reaches_a_stream_whose_session_ended(app, client, auth):
    app.config["SSE_SESSION_CHECK_SECONDS"] = 60  # the banner comes before the periodic check
    auth.login("anna")
    stream = open_stream(client)
    next(stream.chunks)
    deactivate(app, "anna")
    add_event(app, "IncomingCall")
    assert not any("call-" in chunk for chunk in stream_ends(stream))
    stream.close()


def test_logout_in_another_tab_ends_the_stream(app, client, auth):
    app.config["SSE_SESSION_CHECK_SECONDS"] = 0.2
    auth.login("anna")
    stream = open_stream(client)
    next(stream.chunks)
    other_tab = copy_of(app, client, "session")
    other_tab.post("/logout")
    stream_ends(stream)
    stream.close()


def test_streams_of_other_users_go_on(app, client, auth):
    app.config["SSE_SESSION_CHECK_SECONDS"] = 0.05
    auth.login("anna")
    stream = open_stream(client)
    make_user(app, "ben")
    deactivate(app, "ben")
    time.sleep(0.3)
    add_event(app, "IncomingCall")
    assert stream.next_events()[0]["event"] == "call"
    stream.close()


def test_an_ended_stream_gets_nothing_more_even_on_a_handed_over_socket(connection):
    server_side, browser_side = connection
    subscription = Subscription(user_id=1, locale="de", session_token="alt")
    subscription.hand_over(server_side)
    subscription.end()
    subscription.deliver(banner(5))
    subscription.deliver(None)
    assert subscription.next(timeout=1) is END  # the stream's request wakes up and returns
    browser_side.settimeout(0.2)
    with pytest.raises(TimeoutError):
        browser_side.recv(100)
