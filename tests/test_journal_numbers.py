"""Every number knows whether the journal has a call with it, whichever way the rows are written
(telephone/journal_numbers.py): the journal's search by name finds the calls through that."""
from __future__ import annotations

import pytest
from flask_migrate import upgrade
from sqlalchemy import select, text, update

from telephone import create_app, events
from telephone.extensions import db
from telephone.models import Call, PhoneNumber

from .calls_helpers import configure, post_notify
from .conftest import test_config as app_config
from .phonebook_helpers import HEADER, add_source, sync
from .test_accounts_migration import ROOT_MIGRATIONS, keep_logging  # noqa: F401 (fixture)
from .test_addresses import add_contact, create_address
from .test_journal import _list, _rows

CALLER = "+4961311234567"


@pytest.fixture(autouse=True)
def no_bus(monkeypatch):
    monkeypatch.setattr(events, "publish", lambda call_event_id: None)


def _incoming(client, call_id: str, caller: str = "06131 1234567") -> None:
    body = f"call_id={call_id}&event=IncomingCall&direction=in&from={caller}&to=0221999000"
    assert post_notify(client, body).status_code == 200


def _marked(app) -> dict[str, bool]:
    """raw number → whether it is marked as in the journal"""
    with app.app_context():
        return dict(db.session.execute(select(PhoneNumber.raw, PhoneNumber.in_journal)).all())


def test_a_call_marks_its_numbers_and_a_number_stored_later_finds_its_calls(app, client, auth):
    configure(app)
    jaeger = create_address(app, name="Jäger Elektro GmbH", phone="06131 1234567", fax="")
    create_address(app, name="Bäckerei Krämer", phone="0221 555000", fax="")
    assert _marked(app) == {"06131 1234567": False, "0221 555000": False}

    _incoming(client, "ab" * 32)
    assert _marked(app) == {"06131 1234567": True, "0221 555000": False}

    _incoming(client, "cd" * 32, caller="0170 9876543")  # nobody's number yet
    add_contact(app, jaeger, name="Jörg Jäger", mobile="0170 9876543")
    sync(app, add_source(app), f"{HEADER}\n1,Schäfer Sanitär,Schäfer,,,,WORK:+4917098765 43,,\n"
                               "2,Ohne Anruf,Anruf,,,,WORK:030 123456,,\n")
    assert _marked(app) == {"06131 1234567": True, "0221 555000": False, "0170 9876543": True,
                            "+491709876543": True, "+4930123456": False}

    auth.login("anna")  # the calls from the address's number and from its contact person's, stored later
    found = _list(client, q="jaeger")
    assert _rows(found) == 2
    # the caller unknown at the time is shown as who the number belongs to now
    assert "Jörg Jäger" in found and "Jäger Elektro GmbH" in found and "unbekannt" not in found
    assert _rows(_list(client, q="Schaefer")) == 1 and _rows(_list(client, q="Krämer")) == 0


def test_a_changed_number_is_looked_up_again(app, client):
    configure(app)
    address = create_address(app, name="Jäger Elektro GmbH", phone="0221 555000", fax="")
    _incoming(client, "ab" * 32)
    with app.app_context():
        db.session.execute(update(PhoneNumber).where(PhoneNumber.address_id == address)
                           .values(raw="06131 1234567", e164=CALLER))
        db.session.commit()
    assert _marked(app) == {"06131 1234567": True}
    with app.app_context():
        db.session.execute(update(PhoneNumber).values(raw="0221 555000", e164="+49221555000"))
        db.session.commit()
    assert _marked(app) == {"0221 555000": False}


@pytest.mark.filterwarnings("ignore:'get_engine' is deprecated:DeprecationWarning")  # Flask-Migrate's env.py
def test_the_migration_marks_the_numbers_the_journal_has(tmp_path):
    app = create_app(app_config(f"sqlite:///{tmp_path / 'journal_numbers.db'}"))
    with app.app_context():
        upgrade(directory=ROOT_MIGRATIONS, revision="call_digits_trgm")
        for raw, e164 in (("06131 1234567", CALLER), ("0221 555000", "+49221555000")):
            db.session.execute(text("INSERT INTO phone_number (raw, e164, kind, owner_sort) "
                                    "VALUES (:raw, :e164, 'phone', '')"), {"raw": raw, "e164": e164})
        db.session.execute(text(
            "INSERT INTO call (call_id, direction, from_number, to_number, remote_e164, peer, status, hangup_type, "
            "started_at, outcome, matches, updated_at, routing_note) VALUES ('old', 'in', '', '', :remote, '', "
            "'missed', '', '2026-11-02 09:00:00', '', '[]', '2026-11-02 09:00:00', '')"), {"remote": CALLER})
        db.session.commit()
        upgrade(directory=ROOT_MIGRATIONS)
        assert _marked(app) == {"06131 1234567": True, "0221 555000": False}
        db.session.add(Call(direction="in", remote_e164="+49221555000", status="missed"))
        db.session.commit()  # the migration's triggers keep it current from now on
        assert _marked(app) == {"06131 1234567": True, "0221 555000": True}
        db.session.remove()
        db.engine.dispose()
