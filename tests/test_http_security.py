"""Behind a reverse proxy: client address, Secure cookies, HSTS; the Content-Security-Policy."""
from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest

from telephone import create_app
from telephone.extensions import db

from . import conftest
from .conftest import PASSWORD, make_user

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
PROXY_HEADERS = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9", "X-Forwarded-Host": "tel.example.de"}


@pytest.fixture
def proxied_app(app, database_url):
    """The app as run behind one reverse proxy (TRUSTED_PROXIES=1); `app` empties the tables after."""
    proxied = create_app(conftest.test_config(database_url, TRUSTED_PROXIES=1))
    yield proxied
    with proxied.app_context():
        db.session.remove()
        db.engine.dispose()


def login(client, **kwargs):
    return client.post("/login", data={"username": "anna", "password": PASSWORD, "remember": "y"}, **kwargs)


def set_cookies(response) -> dict[str, str]:
    return {header.split("=", 1)[0]: header for header in response.headers.getlist("Set-Cookie")}


def test_behind_a_trusted_proxy_https_cookies_are_secure_and_hsts_is_sent(proxied_app):
    make_user(proxied_app, "anna")
    response = login(proxied_app.test_client(), headers=PROXY_HEADERS)
    assert response.status_code == 302
    cookies = set_cookies(response)
    assert "; Secure" in cookies["session"] and "; Secure" in cookies["remember_token"]
    assert "SameSite=Lax" in cookies["remember_token"]
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")
    assert response.headers["Location"] == "/addresses/"


def test_plain_http_keeps_cookies_usable_without_secure(proxied_app):
    make_user(proxied_app, "anna")
    response = login(proxied_app.test_client(), headers={"X-Forwarded-Proto": "http"})
    assert "Secure" not in " ".join(set_cookies(response).values())
    assert "Strict-Transport-Security" not in response.headers


def test_direct_https_gets_secure_cookies(app, client):
    make_user(app, "anna")
    response = login(client, base_url="https://localhost")
    assert all("; Secure" in header for header in set_cookies(response).values())
    assert "Strict-Transport-Security" in response.headers


def test_without_trusted_proxies_forwarded_headers_are_ignored(app, client):
    make_user(app, "anna")
    response = login(client, headers=PROXY_HEADERS)
    assert "Secure" not in " ".join(set_cookies(response).values())
    assert "Strict-Transport-Security" not in response.headers


def test_trusted_proxy_gives_the_client_address_to_logs_and_limits(proxied_app, caplog):
    make_user(proxied_app, "anna")
    client = proxied_app.test_client()
    with caplog.at_level(logging.WARNING):
        client.post("/login", data={"username": "anna", "password": "falsch"}, headers=PROXY_HEADERS)
    assert any("from 203.0.113.9" in record.getMessage() for record in caplog.records)


def test_untrusted_forwarded_for_is_not_believed(app, client, caplog):
    make_user(app, "anna")
    with caplog.at_level(logging.WARNING):
        client.post("/login", data={"username": "anna", "password": "falsch"}, headers=PROXY_HEADERS)
    messages = " ".join(record.getMessage() for record in caplog.records)
    assert "from 127.0.0.1" in messages and "203.0.113.9" not in messages


def test_pages_carry_a_content_security_policy_without_unsafe_inline_or_eval(client, auth):
    auth.login("anna")
    for path in ("/login", "/addresses/", "/account", "/static/js/event-worker.js"):
        with client.get(path) as response:
            policy = response.headers["Content-Security-Policy"]
        assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
        assert "unsafe-inline" not in policy and "unsafe-eval" not in policy


INLINE = [
    (re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I), "inline <script>"),
    (re.compile(r"\sstyle\s*=", re.I), "style attribute"),
    (re.compile(r"\son[a-z]+\s*=", re.I), "event handler attribute"),
    (re.compile(r"\shx-on[:-]", re.I), "hx-on (needs eval)"),
    (re.compile(r"javascript:", re.I), "javascript: URL"),
]


@pytest.mark.parametrize("template", sorted(p.relative_to(TEMPLATES).as_posix() for p in TEMPLATES.rglob("*.html")))
def test_templates_have_nothing_the_policy_blocks(template):
    text = (TEMPLATES / template).read_text()
    found = [label for pattern, label in INLINE if pattern.search(text)]
    assert not found, f"{template}: {', '.join(found)}"
