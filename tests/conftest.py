"""Test fixtures: a fresh app per test on SQLite or, with TEST_DATABASE_URL, PostgreSQL.

The schema is created once per run; after each test every table is emptied.
Under CI (`CI` set) an unreachable database fails the run instead of skipping it.
"""
from __future__ import annotations

import html
import os
import re

import pytest
from sqlalchemy import create_engine, text

from telephone import create_app, events
from telephone.extensions import db
from telephone.models import User

PASSWORD = "geheim-123"


def _database_url(tmp_path_factory) -> str:
    url = os.environ.get("TEST_DATABASE_URL")
    if not url:
        return "sqlite:///" + str(tmp_path_factory.mktemp("db") / "test.db")
    probe = create_engine(url)
    try:
        with probe.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as exc:  # unreachable server, wrong credentials, missing database
        message = f"TEST_DATABASE_URL={url} is not reachable: {exc}"
        if os.environ.get("CI"):
            pytest.exit(message, returncode=3)
        pytest.skip(message, allow_module_level=True)
    finally:
        probe.dispose()
    return url


@pytest.fixture(scope="session")
def database_url(tmp_path_factory) -> str:
    url = _database_url(tmp_path_factory)
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "test"})
    with app.app_context():
        db.drop_all()
        db.create_all()
        db.engine.dispose()
    return url


def test_config(database_url: str, **overrides) -> dict:
    config = {
        "TESTING": True,
        "SECRET_KEY": "test-secret-key",
        "SQLALCHEMY_DATABASE_URI": database_url,
        "SCHEDULER_ENABLED": False,
        "WTF_CSRF_ENABLED": False,
        "SERVER_NAME": None,
        # A loaded test machine must not make Call Control fall back to Placetel's routing
        "ROUTING_BUDGET_MS": 10_000,
    }
    config.update(overrides)
    return config


def _empty_tables() -> None:
    tables = list(reversed(db.metadata.sorted_tables))
    if db.engine.dialect.name == "postgresql":
        names = ", ".join(f'"{table.name}"' for table in tables)
        db.session.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    else:
        for table in tables:
            db.session.execute(table.delete())
    db.session.commit()


@pytest.fixture
def app(database_url, request):
    """The app under test. Mark a test `@pytest.mark.csrf` to keep CSRF protection on."""
    overrides = {"WTF_CSRF_ENABLED": True} if request.node.get_closest_marker("csrf") else {}
    app = create_app(test_config(database_url, **overrides))
    yield app
    with app.app_context():
        events.hub().close()  # no banner dispatch or session check may touch the tables while they are emptied
        db.session.remove()
        _empty_tables()
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


def make_user(app, username: str, admin: bool = False, **fields) -> int:
    """Create a user with password PASSWORD; returns its id."""
    with app.app_context():
        user = User(username=username, display_name=fields.pop("display_name", username.title()),
                    role="admin" if admin else "user", **fields)
        user.set_password(PASSWORD)
        db.session.add(user)
        db.session.commit()
        return user.id


class AuthActions:
    def __init__(self, app, client):
        self._app = app
        self._client = client

    def login(self, username: str = "anna", password: str = PASSWORD, admin: bool = False, create: bool = True):
        """Log in as `username` (created first unless it exists or create=False)."""
        if create:
            with self._app.app_context():
                exists = db.session.query(User.id).filter_by(username=username).scalar()
            if not exists:
                make_user(self._app, username, admin=admin)
        return self._client.post("/login", data={"username": username, "password": password})

    def logout(self):
        return self._client.post("/logout")


@pytest.fixture
def auth(app, client):
    return AuthActions(app, client)


def csrf_token_from(html: str) -> str:
    """The CSRF token a rendered page carries (hidden field or HTMX header)."""
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html) or re.search(r'"X-CSRFToken": "([^"]+)"', html)
    assert match, "page carries no CSRF token"
    return match.group(1)


def pager_link(page_html: str, rel: str) -> str | None:
    """The URL of the pager's link `rel` (first, prev, next, last) on a rendered list; None without it."""
    match = re.search(rf'<a href="([^"]*)" rel="{rel}">', page_html)
    return html.unescape(match.group(1)) if match else None
