"""A missed call is called back by a later outgoing call to its number, whichever way the rows are
written: the database keeps the answer on the call (telephone/callbacks.py), and the navigation's
badge and the journal's "Rückruf offen" read it from there."""
from __future__ import annotations

from datetime import timedelta

import pytest
from flask_migrate import upgrade
from sqlalchemy import select, text

from telephone import create_app, events
from telephone.extensions import db
from telephone.journal import calls_needing_callback, open_missed_count
from telephone.models import Call, utcnow

from .calls_helpers import configure, post_notify
from .conftest import test_config as app_config
from .test_accounts_migration import ROOT_MIGRATIONS, keep_logging  # noqa: F401 (fixture)

MISSED_ID = "ab" * 32
CALLBACK_ID = "cd" * 32
CALLER = "+4961311234567"


@pytest.fixture(autouse=True)
def no_bus(monkeypatch):
    monkeypatch.setattr(events, "publish", lambda call_event_id: None)


def _notify(client, call_id: str, event: str, **fields) -> None:
    body = "&".join(f"{key}={value}" for key, value in {"call_id": call_id, "event": event, **fields}.items())
    assert post_notify(client, body).status_code == 200


def _open(app) -> tuple[int, set[int]]:
    with app.app_context():
        calls = db.session.scalars(select(Call)).all()
        return open_missed_count(), calls_needing_callback(calls)


def test_an_outgoing_call_through_the_webhook_calls_back_the_missed_call(app, client, auth):
    configure(app)
    _notify(client, MISSED_ID, "IncomingCall", direction="in", **{"from": "06131 1234567", "to": "0221999000"})
    _notify(client, MISSED_ID, "HungUp", direction="in", type="missed", duration="0",
            **{"from": "06131 1234567", "to": "0221999000"})
    count, needing = _open(app)
    assert count == 1 and len(needing) == 1
    auth.login("anna")
    assert ">1</span>" in client.get("/addresses/").text and "Rückruf offen" in client.get("/calls/").text

    _notify(client, CALLBACK_ID, "OutgoingCall", direction="out", peer="777111222%40fpbx.de",
            **{"from": "777111222%40fpbx.de", "to": "061311234567"})
    assert _open(app) == (0, set())
    page = client.get("/calls/").text
    assert "Rückruf offen" not in page and "hidden>0</span>" in page
    with app.app_context():
        missed = db.session.scalar(select(Call).where(Call.call_id == MISSED_ID))
        callback = db.session.scalar(select(Call).where(Call.call_id == CALLBACK_ID))
        assert missed.called_back_at == callback.started_at


def test_only_a_later_call_to_the_same_number_counts(app):
    now = utcnow()
    with app.app_context():
        db.session.add_all([
            Call(direction="out", remote_e164=CALLER, status="ended", started_at=now - timedelta(hours=2)),
            Call(direction="out", remote_e164="+4922100000", status="ended", started_at=now),
            Call(call_id="m1", direction="in", remote_e164=CALLER, status="missed", started_at=now - timedelta(hours=1)),
        ])
        db.session.commit()
    assert _open(app)[0] == 1
    with app.app_context():  # a click-to-dial attempt that failed is a callback attempt too
        db.session.add(Call(direction="out", remote_e164=CALLER, status="dial_failed", started_at=now))
        db.session.commit()
    assert _open(app)[0] == 0


def test_a_missed_call_stored_after_its_callback_is_called_back(app):
    """Rows written out of order (a delayed webhook, an import) find the callback that came later."""
    now = utcnow()
    with app.app_context():
        db.session.add(Call(direction="out", remote_e164=CALLER, status="ended", started_at=now))
        db.session.commit()
        db.session.add(Call(call_id="late", direction="in", remote_e164=CALLER, status="missed",
                            started_at=now - timedelta(minutes=5)))
        db.session.commit()
        assert db.session.scalar(select(Call.called_back_at).where(Call.call_id == "late")) == now
    assert _open(app)[0] == 0


def test_a_changed_or_deleted_outgoing_call_moves_the_callback(app):
    """The triggers follow an outgoing call's number both ways: the new number's missed call is called
    back, the old one's is open again (or called back by the next later call); so does a deletion."""
    now = utcnow()
    other = "+4922100000"
    with app.app_context():
        db.session.add_all([
            Call(call_id="m1", direction="in", remote_e164=CALLER, status="missed", started_at=now - timedelta(minutes=5)),
            Call(call_id="m2", direction="in", remote_e164=other, status="missed", started_at=now - timedelta(minutes=5)),
        ])
        attempt = Call(direction="out", remote_e164=other, status="dialling", started_at=now)
        db.session.add(attempt)
        db.session.commit()
        assert open_missed_count() == 1
        attempt.remote_e164 = CALLER
        db.session.commit()
        called_back = dict(db.session.execute(select(Call.call_id, Call.called_back_at).where(Call.direction == "in")).all())
        assert called_back == {"m1": now, "m2": None}

        later = Call(direction="out", remote_e164=CALLER, status="ended", started_at=now + timedelta(minutes=1))
        db.session.add(later)
        db.session.commit()
        db.session.delete(attempt)
        db.session.commit()
        assert db.session.scalar(select(Call.called_back_at).where(Call.call_id == "m1")) == later.started_at
        later.direction = "in"  # no outgoing call to the number is left
        db.session.commit()
        assert db.session.scalar(select(Call.called_back_at).where(Call.call_id == "m1")) is None
        assert open_missed_count() == 2


def test_the_stored_call_shows_its_callback_before_the_commit(app):
    """The ORM reads the value the trigger set instead of keeping what the INSERT sent."""
    now = utcnow()
    with app.app_context():
        db.session.add(Call(direction="out", remote_e164=CALLER, status="ended", started_at=now))
        db.session.flush()
        missed = Call(call_id="late", direction="in", remote_e164=CALLER, status="missed",
                      started_at=now - timedelta(minutes=5))
        db.session.add(missed)
        db.session.flush()
        assert missed.called_back_at == now
        assert calls_needing_callback([missed]) == set()
        db.session.rollback()


@pytest.mark.filterwarnings("ignore:'get_engine' is deprecated:DeprecationWarning")  # Flask-Migrate's env.py
def test_the_migration_fills_in_the_existing_calls(tmp_path):
    app = create_app(app_config(f"sqlite:///{tmp_path / 'callbacks.db'}"))
    with app.app_context():
        upgrade(directory=ROOT_MIGRATIONS, revision="search_index")
        insert = text("INSERT INTO call (call_id, direction, from_number, to_number, remote_e164, peer, status, "
                      "hangup_type, started_at, outcome, matches, updated_at, routing_note) VALUES (:call_id, "
                      ":direction, '', '', :remote, '', :status, '', :started, '', '[]', :started, '')")
        for call_id, direction, remote, status, started in (
            ("old-out", "out", CALLER, "ended", "2026-11-01 09:00:00"),
            ("missed", "in", CALLER, "missed", "2026-11-02 09:00:00"),
            ("callback", "out", CALLER, "ended", "2026-11-02 10:00:00"),
            ("still-open", "in", "+4922100000", "missed", "2026-11-02 11:00:00"),
        ):
            db.session.execute(insert, {"call_id": call_id, "direction": direction, "remote": remote,
                                        "status": status, "started": started})
        db.session.commit()
        upgrade(directory=ROOT_MIGRATIONS)
        called_back = dict(db.session.execute(select(Call.call_id, Call.called_back_at)
                                              .where(Call.direction == "in")).all())
        assert str(called_back["missed"]) == "2026-11-02 10:00:00" and called_back["still-open"] is None
        assert open_missed_count() == 1
        db.session.add(Call(direction="out", remote_e164="+4922100000", status="ended", started_at=utcnow()))
        db.session.commit()  # the migration's triggers keep it current from now on
        assert open_missed_count() == 0
        db.session.remove()
        db.engine.dispose()
