"""The Alembic migration turns the stored account and number texts into rows (and back on downgrade)."""
from __future__ import annotations

import logging
from pathlib import Path

import pytest
from flask_migrate import downgrade, upgrade
from sqlalchemy import text

from telephone import create_app
from telephone.extensions import db

from .conftest import test_config as app_config

ROOT_MIGRATIONS = str(Path(__file__).resolve().parents[1] / "migrations")

# migrations/env.py is Flask-Migrate's generated one, which still calls get_engine().
pytestmark = pytest.mark.filterwarnings("ignore:'get_engine' is deprecated:DeprecationWarning")
BEFORE = "50024bece8ca"
REVISION = "accounts_rows"


@pytest.fixture(autouse=True)
def keep_logging():
    """Alembic's env.py runs logging.config.fileConfig, which disables every existing logger
    (later tests' caplog would see nothing from telephone.*): put the logging set-up back."""
    root = logging.getLogger()
    level, handlers = root.level, root.handlers[:]
    loggers = {name: (logger.disabled, logger.level, logger.handlers[:], logger.propagate)
               for name, logger in logging.Logger.manager.loggerDict.items() if isinstance(logger, logging.Logger)}
    yield
    root.setLevel(level)
    root.handlers[:] = handlers
    for name, logger in logging.Logger.manager.loggerDict.items():
        if isinstance(logger, logging.Logger):
            logger.disabled, logger.level, logger.handlers[:], logger.propagate = loggers.get(
                name, (False, logging.NOTSET, [], True))


@pytest.fixture
def migrated_app(tmp_path):
    app = create_app(app_config(f"sqlite:///{tmp_path / 'mig.db'}"))
    with app.app_context():
        upgrade(directory=ROOT_MIGRATIONS, revision=BEFORE)
        for index, name in enumerate(("anna", "ben", "carla"), start=1):
            db.session.execute(text(
                "INSERT INTO user (id, username, display_name, password_hash, role, active, call_notifications,"
                " must_change_password, created_at) VALUES (:id, :name, '', 'x', 'user', 1, 1, 0, '2026-01-01')"),
                {"id": index, "name": name})
        for key, value in (
            ("placetel.accounts", "# Büro\nkaputt\nanna:kein-sip\nanna:777123456@FPBX.de\nben : 777654321@fpbx.de\n"
                                  "anna:777000000@fpbx.de\nweg:777111111@fpbx.de"),
            ("calls.number_assignments", "0221 999000:anna,ben\nkeine nummer:carla\n+49 221 999001: carla, otto"),
            ("numbers.default_region", "DE"),
        ):
            db.session.execute(text("INSERT INTO setting (key, value, updated_at) VALUES (:k, :v, '2026-01-01')"),
                               {"k": key, "v": value})
        db.session.commit()
        upgrade(directory=ROOT_MIGRATIONS, revision=REVISION)
        yield app
        db.session.remove()
        db.engine.dispose()


def test_texts_become_rows_like_the_app_read_them(migrated_app):
    with migrated_app.app_context():
        accounts = db.session.execute(text(
            "SELECT u.username, s.sipuid FROM user_sip_account s JOIN user u ON u.id = s.user_id ORDER BY 1")).all()
        # faulty lines and unknown users skipped, the first valid line for a user wins
        assert [tuple(row) for row in accounts] == [("anna", "777123456@fpbx.de"), ("ben", "777654321@fpbx.de")]
        assignments = db.session.execute(text(
            "SELECT o.e164, u.username FROM number_assignment a JOIN office_number o ON o.id = a.office_number_id"
            " JOIN user u ON u.id = a.user_id ORDER BY 1, 2")).all()
        assert [tuple(row) for row in assignments] == [
            ("+49221999000", "anna"), ("+49221999000", "ben"), ("+49221999001", "carla")]
        keys = db.session.scalars(text("SELECT key FROM setting")).all()
        assert keys == ["numbers.default_region"]


def test_downgrade_writes_the_texts_back(migrated_app):
    with migrated_app.app_context():
        downgrade(directory=ROOT_MIGRATIONS, revision=BEFORE)
        settings = dict(db.session.execute(text("SELECT key, value FROM setting")).tuples().all())
        assert settings["placetel.accounts"] == "anna:777123456@fpbx.de\nben:777654321@fpbx.de"
        assert settings["calls.number_assignments"] == "+49221999000:anna,ben\n+49221999001:carla"
