"""Migrations that fill new columns of existing rows do so with the app's rules, on a database that
holds addresses, contact persons, phonebook entries and their numbers (not just an empty schema)."""
from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask_migrate import upgrade

from telephone import create_app
from telephone.extensions import db

from .conftest import test_config as app_config
from .test_accounts_migration import keep_logging  # noqa: F401 (fixture)

ROOT_MIGRATIONS = str(Path(__file__).resolve().parents[1] / "migrations")
pytestmark = pytest.mark.filterwarnings("ignore:'get_engine' is deprecated:DeprecationWarning")  # Flask-Migrate's env.py


def insert_row(bind, table_name: str, **values) -> int:
    """A row of the table as it is at the current revision; required columns not given get a plain value."""
    table = sa.Table(table_name, sa.MetaData(), autoload_with=bind)
    for column in table.columns:
        if column.name in values or column.nullable or column.primary_key or column.server_default is not None:
            continue
        if isinstance(column.type, sa.Integer):
            values[column.name] = 0
        elif isinstance(column.type, (sa.DateTime, sa.Date)):
            values[column.name] = datetime(2026, 11, 1)
        elif isinstance(column.type, sa.Boolean):
            values[column.name] = False
        elif isinstance(column.type, sa.JSON) or column.name in ("emails", "phones", "matches"):
            values[column.name] = [] if isinstance(column.type, sa.JSON) else "[]"
        else:
            values[column.name] = ""
    return bind.execute(table.insert().values(**values)).inserted_primary_key[0]


def test_search_texts_and_the_numbers_owner_sort_are_filled_from_existing_rows(tmp_path):
    app = create_app(app_config(f"sqlite:///{tmp_path / 'fills.db'}"))
    with app.app_context():
        upgrade(directory=ROOT_MIGRATIONS, revision="records_voicemail")
        bind = db.session.connection()
        company = insert_row(bind, "address", kind="company", name="Jäger Elektro GmbH", city="Würzburg")
        person = insert_row(bind, "contact_person", address_id=company, name="Dr. Thomas Groß", first_name="Thomas",
                            last_name="Groß")
        entry = insert_row(bind, "phonebook_entry", display_name="Öztürk, Ayşe", family_name="Öztürk",
                           given_name="Ayşe", source_id=None)
        for owner in ({"address_id": company}, {"contact_person_id": person}, {"phonebook_entry_id": entry}):
            insert_row(bind, "phone_number", raw="0931 5550100", e164="+499315550100", kind="phone", **owner)
        db.session.commit()

        upgrade(directory=ROOT_MIGRATIONS)
        texts = {name: db.session.execute(sa.text(f"SELECT sort_key, search_text FROM {name}")).one()
                 for name in ("address", "contact_person")}
        assert texts["address"][0] == "jager elektro gmbh" and "wurzburg" in texts["address"][1]
        assert texts["contact_person"][0] == "gross thomas"
        assert db.session.execute(sa.text("SELECT sort_name FROM phonebook_entry")).scalar() == "ozturk ayse"
        owner_sorts = db.session.execute(sa.text(
            "SELECT owner_sort FROM phone_number ORDER BY owner_sort")).scalars().all()
        assert owner_sorts == ["gross thomas", "jager elektro gmbh", "ozturk ayse"]
        db.session.remove()
        db.engine.dispose()
