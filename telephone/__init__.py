"""The telephone intranet app: address master, company phonebook and Placetel telephony."""
from __future__ import annotations

import logging
import os

from flask import Flask, jsonify, redirect, request, url_for
from flask_login import current_user
from sqlalchemy import event, text
from sqlalchemy.engine import Engine

from . import database, events, security  # database: the retry on a dropped connection
from .config import Config, default_database_url, load_secret_key
from .extensions import babel, csrf, db, htmx, login_manager, migrate

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def public(view):
    """Mark a view as reachable without login (login page, health check, webhook)."""
    view.is_public = True
    return view


def create_app(test_config: dict | None = None) -> Flask:
    app = Flask(
        __name__,
        instance_path=os.path.join(ROOT, "instance"),
        template_folder=os.path.join(ROOT, "templates"),
        static_folder=os.path.join(ROOT, "static"),
    )
    app.config.from_object(Config)
    if test_config:
        app.config.from_mapping(test_config)
    os.makedirs(app.instance_path, exist_ok=True)
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = load_secret_key(app.instance_path)
    app.config["SQLALCHEMY_DATABASE_URI"] = _database_url(app)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    _init_extensions(app)
    events.init_app(app)
    _register_blueprints(app)
    _register_cli(app)
    _register_request_hooks(app)
    _start_scheduler(app)

    @app.get("/")
    def index():
        return redirect(url_for("addresses.index"))

    @app.get("/healthz")
    @public
    def healthz():
        try:
            db.session.execute(text("SELECT 1"))
        except Exception:  # any database failure means "not healthy"
            app.logger.exception("health check: database unreachable")
            return jsonify(status="error", reason="database unreachable"), 503
        finally:
            db.session.remove()
        return jsonify(status="ok")

    @app.get("/favicon.ico")
    @public
    def favicon():
        """Browsers ask for /favicon.ico whatever the page links; the icon is an SVG."""
        return redirect(url_for("static", filename="favicon.svg"), code=301)

    return app


def _database_url(app: Flask) -> str:
    url = app.config.get("SQLALCHEMY_DATABASE_URI") or default_database_url(app.instance_path)
    # Flask-SQLAlchemy resolves relative SQLite paths against instance/ already.
    return url.replace("sqlite:///instance/", "sqlite:///", 1)


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection, _record):
    """Enforce foreign keys, let readers work while the webhook writes, fold umlauts (SQLite only)."""
    if type(dbapi_connection).__module__.startswith("sqlite3"):
        # SQLite's lower() folds ASCII only; Python's lets „MÜLLER“ find „Müller“ as on PostgreSQL.
        dbapi_connection.create_function(
            "lower", 1, lambda value: value.lower() if isinstance(value, str) else value, deterministic=True
        )
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        # In WAL mode NORMAL keeps the database consistent and saves an fsync per commit.
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=5000")
        cursor.close()


def _init_extensions(app: Flask) -> None:
    from .i18n import select_locale, select_timezone

    from . import callbacks, journal_numbers, search_documents, search_index  # noqa: F401 (their triggers and indexes)

    db.init_app(app)
    migrate.init_app(app, db, directory=os.path.join(ROOT, "migrations"), render_as_batch=True,
                     include_name=search_index.include_name)
    csrf.init_app(app)
    htmx.init_app(app)
    babel.init_app(app, locale_selector=select_locale, timezone_selector=select_timezone,
                   default_translation_directories=os.path.join(ROOT, "translations"))
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = None
    login_manager.session_protection = "basic"

    from .models import User

    @login_manager.user_loader
    def load_user(session_id: str):
        """The user of a session or remember cookie, unless it has ended (see `User.get_id`)."""
        return User.for_session(session_id)

    @login_manager.unauthorized_handler
    def unauthorized():
        """Pages redirect to the login; HTMX gets HX-Redirect, the API and streams a plain 401."""
        if request.path.startswith("/api/"):
            return jsonify(error="Anmeldung erforderlich."), 401
        if htmx:
            return "", 401, {"HX-Redirect": url_for("auth.login")}
        if request.method != "GET" or request.accept_mimetypes.best == "text/event-stream":
            return "Anmeldung erforderlich.", 401
        return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))


def _register_blueprints(app: Flask) -> None:
    from .addresses import bp as addresses_bp
    from .api import bp as api_bp
    from .auth import bp as auth_bp
    from .calls import bp as calls_bp
    from .call_control import bp as call_control_bp
    from .calls.stream import stream_bp
    from .phonebook import bp as phonebook_bp
    from .phones import bp as phones_bp
    from .settings import bp as settings_bp

    app.register_blueprint(auth_bp)
    app.register_blueprint(addresses_bp)
    app.register_blueprint(calls_bp)
    app.register_blueprint(stream_bp)
    app.register_blueprint(phonebook_bp)
    app.register_blueprint(settings_bp)
    app.register_blueprint(api_bp)
    app.register_blueprint(phones_bp)
    app.register_blueprint(call_control_bp)

    from .i18n import register_template_helpers
    from .paging import page_url

    register_template_helpers(app)
    app.add_template_global(page_url, "page_url")


def _register_cli(app: Flask) -> None:
    from .auth.cli import users_cli
    from .phonebook.cli import phonebook_cli
    from .call_control.cli import routing_cli
    from .phones.cli import directory_token, placetel_cli
    from .settings.cli import settings_cli

    app.cli.add_command(users_cli)
    app.cli.add_command(settings_cli)
    phonebook_cli.add_command(directory_token)
    app.cli.add_command(phonebook_cli)
    app.cli.add_command(placetel_cli)
    app.cli.add_command(routing_cli)


def _start_scheduler(app: Flask) -> None:
    """The in-process scheduler: phonebook syncs and closing calls that never ended."""
    from . import call_records, journal
    from .sync import schedule

    if schedule.init_app(app):
        journal.register_jobs(app)
        call_records.register_jobs(app)  # completing open calls from Placetel's records, voicemail


def _register_request_hooks(app: Flask) -> None:
    from .errors import register_error_handlers

    register_error_handlers(app)

    @app.before_request
    def require_login():
        """Every page needs a login, except views marked @public and static files."""
        if request.endpoint is None or request.endpoint == "static":
            return None
        view = app.view_functions.get(request.endpoint)
        if getattr(view, "is_public", False):
            return None
        if not current_user.is_authenticated:
            return login_manager.unauthorized()
        if current_user.must_change_password and request.endpoint not in ("auth.account", "auth.logout"):
            return redirect(url_for("auth.account", first=1))
        return None

    security.init_app(app)  # proxies, Secure cookies on HTTPS, HSTS, Content-Security-Policy
