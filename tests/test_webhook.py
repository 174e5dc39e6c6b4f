"""The Placetel Notify webhook: signature, validation, idempotency, call states, expiry."""
import logging
from datetime import timedelta
from urllib.parse import parse_qsl

import pytest
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import insert, select

from telephone import events, journal, numbers
from telephone.extensions import db
from telephone.models import Address, Call, CallEvent, utcnow
from telephone.placetel import verify_signature

from .calls_helpers import (
    ANONYMOUS_ID,
    ANONYMOUS_MISSED,
    ANSWERED_CALL,
    ANSWERED_ID,
    OUTGOING_BUSY,
    OUTGOING_ID,
    SECRET,
    SIPUID,
    XENTRAL_URL,
    configure,
    post_notify,
    stored_call,
)
from .conftest import make_user

VECTOR_BODY = (b"call_id=4a4cbb39578170aed9a2761a7bec8c7e704a541f52291ef603d6f5f152980c3c"
               b"&event=CallAccepted&from=0123456789&to=0987654321")
VECTOR_SIGNATURE = "c4f823c5b8806432fe2b83b1fc2ee714422e0cdfb4b5129152a7d0bbcd7792d0"
CALL_ID = "ab" * 32


@pytest.fixture
def published(monkeypatch):
    """The CallEvent ids announced to the banners, each checked to be committed already."""
    ids = []

    def fake_publish(call_event_id):
        with db.engine.connect() as connection:  # another connection sees only committed rows
            assert connection.execute(select(CallEvent.id).where(CallEvent.id == call_event_id)).scalar()
        ids.append(call_event_id)

    monkeypatch.setattr(events, "publish", fake_publish)
    return ids


def _call(app, call_id=ANSWERED_ID):
    return stored_call(app, call_id)


def _event_count(app):
    with app.app_context():
        return len(db.session.scalars(select(CallEvent)).all())


def _anna_with_phone(app):
    user_id = make_user(app, "anna")
    configure(app, accounts=f"anna:{SIPUID}")
    return user_id


# --------------------------------------------------------------------------- signature


def test_placetel_test_vector():
    assert verify_signature(VECTOR_BODY, VECTOR_SIGNATURE, "12345")
    assert not verify_signature(VECTOR_BODY, VECTOR_SIGNATURE, "123456")
    assert not verify_signature(VECTOR_BODY + b"&x=1", VECTOR_SIGNATURE, "12345")


def test_test_vector_request_is_accepted(app, client, published):
    configure(app, secret="12345")
    response = post_notify(client, VECTOR_BODY, signature=VECTOR_SIGNATURE)
    assert response.status_code == 200
    call = _call(app, "4a4cbb39578170aed9a2761a7bec8c7e704a541f52291ef603d6f5f152980c3c")
    assert call.status == "accepted" and call.from_number == "0123456789"


def test_signed_fixture_call_is_stored_and_published(app, client, published):
    _anna_with_phone(app)
    configure(app)
    for body in ANSWERED_CALL:
        assert post_notify(client, body).status_code == 200
    with app.app_context():
        rows = db.session.scalars(select(CallEvent).order_by(CallEvent.id)).all()
        assert [row.event for row in rows] == ["IncomingCall", "CallAccepted", "HungUp"]
        assert published == [row.id for row in rows]
        assert rows[2].payload["duration"] == 38 and rows[2].payload["type"] == "accepted"


@pytest.mark.parametrize("signature", [None, "", "0" * 64, VECTOR_SIGNATURE])
def test_missing_or_wrong_signature_is_refused_and_nothing_stored(app, client, published, caplog, signature):
    configure(app)
    caplog.set_level(logging.WARNING)
    if signature is None:
        response = post_notify(client, ANSWERED_CALL[0], secret=None)
    else:
        response = post_notify(client, ANSWERED_CALL[0], signature=signature)
    assert response.status_code == 403
    assert "Signatur" in response.text
    assert _event_count(app) == 0 and _call(app) is None and published == []
    assert "signature" in caplog.text and SECRET not in caplog.text


@pytest.mark.parametrize("secret", [None, SECRET])
def test_without_secret_or_basic_credentials_every_event_is_refused(app, client, published, caplog, secret):
    """Closed by default: nothing is configured, so neither unsigned nor signed events get in."""
    caplog.set_level(logging.WARNING)
    response = post_notify(client, ANSWERED_CALL[0], secret=secret)
    assert response.status_code == 403 and response.mimetype == "text/plain"
    assert _event_count(app) == 0 and _call(app) is None and published == []
    assert "not configured" in caplog.text


def test_xentral_url_is_the_same_webhook(app, client, published):
    configure(app)
    assert post_notify(client, ANSWERED_CALL[0], url=XENTRAL_URL).status_code == 200
    assert post_notify(client, ANSWERED_CALL[1], url=XENTRAL_URL, secret="falsch").status_code == 403
    assert post_notify(client, ANSWERED_CALL[1], url="/index.php?module=other&action=call").status_code == 404
    assert _call(app).status == "ringing"


# --------------------------------------------------------------------------- malformed requests


@pytest.mark.parametrize("body, reason", [
    ("direction=in&event=IncomingCall&from=0613112345&to=0221999000", "call_id"),
    (f"call_id={'a' * 129}&direction=in&event=IncomingCall&from=1&to=2", "call_id"),
    ("call_id=abc%00def&direction=in&event=IncomingCall&from=1&to=2", "call_id"),
    ("call_id=abc%0Adef&direction=in&event=IncomingCall&from=1&to=2", "call_id"),
    (f"call_id={CALL_ID}&direction=in&from=1&to=2", "event"),
    (f"call_id={CALL_ID}&direction=in&event=Ringing&from=1&to=2", "Ereignis"),
    (f"call_id={CALL_ID}&direction=in&duration=3.5&event=HungUp&from=1&to=2&type=accepted", "duration"),
    (f"call_id={CALL_ID}&direction=in&duration=abc&event=HungUp&from=1&to=2&type=accepted", "duration"),
    (f"call_id={CALL_ID}&direction=sideways&event=IncomingCall&from=1&to=2", "direction"),
    (f"call_id={CALL_ID}&direction=in&event=IncomingCall&from={'1' * 200}&to=2", "from"),
])
def test_malformed_events_get_400_with_reason_and_store_nothing(app, client, published, body, reason):
    configure(app)
    response = post_notify(client, body)
    assert response.status_code == 400
    assert response.mimetype == "text/plain"
    assert reason in response.text
    assert _event_count(app) == 0 and published == []
    with app.app_context():
        assert db.session.scalars(select(Call)).all() == []


def test_shorter_hex_call_id_is_accepted_and_stored_lower_case(app, client, published):
    configure(app)
    assert post_notify(client, "call_id=ABCDEF0123456789&direction=in&event=IncomingCall&from=1&to=2"
                       ).status_code == 200
    assert _call(app, "abcdef0123456789") is not None


def test_too_large_body_gets_413_and_stores_nothing(app, client, published):
    configure(app)
    response = post_notify(client, f"call_id={CALL_ID}&direction=in&event=IncomingCall&from=1&to=2&pad={'x' * 9000}")
    assert response.status_code == 413 and "groß" in response.text
    assert _event_count(app) == 0 and published == []


def test_unknown_hangup_type_is_accepted_and_stored(app, client, published):
    configure(app)
    post_notify(client, ANSWERED_CALL[0])
    response = post_notify(client, ANSWERED_CALL[2].replace(b"type=accepted", b"type=transferred"))
    assert response.status_code == 200
    call = _call(app)
    assert call.status == "ended" and call.hangup_type == "transferred"


# --------------------------------------------------------------------------- idempotency


def test_repeated_event_answers_200_and_changes_nothing(app, client, published):
    configure(app)
    for body in ANSWERED_CALL + ANSWERED_CALL[:1]:
        assert post_notify(client, body).status_code == 200
    assert _event_count(app) == 3 and len(published) == 3
    call = _call(app)
    assert call.status == "ended"


def test_racing_duplicate_is_recognised_by_the_unique_constraint(app, client, published):
    """Another process stored the same event first: our insert loses on the constraint, nothing doubles."""
    configure(app)
    fields = dict(parse_qsl(ANSWERED_CALL[0].decode()))
    with app.app_context(), db.engine.begin() as connection:
        connection.execute(insert(CallEvent).values(call_id=fields["call_id"], event=fields["event"], payload={},
                                                    received_at=utcnow()))
    assert post_notify(client, ANSWERED_CALL[0]).status_code == 200
    assert _event_count(app) == 1 and published == []


# --------------------------------------------------------------------------- call states


def test_answered_call_states(app, client, published):
    anna = _anna_with_phone(app)
    configure(app)
    post_notify(client, ANSWERED_CALL[0])
    call = _call(app)
    assert (call.status, call.direction, call.remote_e164) == ("ringing", "in", "+496131123456")
    post_notify(client, ANSWERED_CALL[1])
    call = _call(app)
    assert call.status == "accepted" and call.peer == SIPUID and call.user_id == anna
    assert call.answered_at is not None
    post_notify(client, ANSWERED_CALL[2])
    call = _call(app)
    assert call.status == "ended" and call.duration == 38 and call.ended_at is not None


@pytest.mark.parametrize("order", [(2, 1, 0), (2, 0, 1), (1, 0, 2), (1, 2, 0), (0, 2, 1)])
def test_out_of_order_events_end_in_the_same_call(app, client, published, order):
    anna = _anna_with_phone(app)
    configure(app)
    for index in order:
        assert post_notify(client, ANSWERED_CALL[index]).status_code == 200
    call = _call(app)
    assert (call.status, call.direction, call.duration, call.user_id) == ("ended", "in", 38, anna)
    assert call.from_number == "06131123456" and call.remote_e164 == "+496131123456"
    assert call.answered_at is not None and call.ended_at is not None


def test_call_accepted_before_incoming_stays_accepted(app, client, published):
    configure(app)
    post_notify(client, ANSWERED_CALL[1])
    assert _call(app).status == "accepted"
    post_notify(client, ANSWERED_CALL[0])
    assert _call(app).status == "accepted"


def test_anonymous_missed_call(app, client, published):
    configure(app)
    for body in ANONYMOUS_MISSED:
        assert post_notify(client, body).status_code == 200
    call = _call(app, ANONYMOUS_ID)
    assert call.from_number == "anonymous" and call.remote_e164 is None and call.matches == []
    assert call.status == "missed" and call.duration == 0


def test_internal_call_with_sip_ids(app, client, published):
    configure(app)
    body = f"call_id={CALL_ID}&direction=in&event=IncomingCall&from=777222333%40fpbx.de&to=777111222%40fpbx.de"
    assert post_notify(client, body).status_code == 200
    call = _call(app, CALL_ID)
    assert call.from_number == "777222333@fpbx.de" and call.to_number == SIPUID
    assert call.remote_e164 is None and call.matches == []


def test_caller_lookup_is_stored_with_the_call(app, client, published):
    configure(app)
    with app.test_request_context():
        address = Address(name="Müller GmbH", phone="06131 123456")
        db.session.add(address)
        numbers.index_numbers(address, [("phone", address.phone)])
        db.session.commit()
    post_notify(client, ANSWERED_CALL[0])
    call = _call(app)
    assert [match["name"] for match in call.matches] == ["Müller GmbH"]
    assert call.matches[0]["url"].startswith("/addresses/")


@pytest.mark.parametrize("hangup_type, status", [
    ("busy", "busy"), ("canceled", "canceled"), ("unavailable", "unavailable"),
    ("congestion", "congestion"), ("blocked", "blocked"), ("voicemail", "voicemail"), ("missed", "missed"),
])
def test_hangup_types_map_to_statuses(app, client, published, hangup_type, status):
    configure(app)
    post_notify(client, OUTGOING_BUSY[0])
    post_notify(client, OUTGOING_BUSY[1].replace(b"type=busy", f"type={hangup_type}".encode()))
    assert _call(app, OUTGOING_ID).status == status


def test_outgoing_call_belongs_to_the_dialling_user(app, client, published):
    anna = _anna_with_phone(app)
    configure(app)
    post_notify(client, OUTGOING_BUSY[0])
    call = _call(app, OUTGOING_ID)
    assert (call.direction, call.user_id, call.remote_e164, call.status) == ("out", anna, "+4930123456", "ringing")
    post_notify(client, OUTGOING_BUSY[1])
    assert _call(app, OUTGOING_ID).status == "busy"


def test_outgoing_call_is_linked_to_a_recent_click_to_dial_attempt(app, client, published):
    anna = _anna_with_phone(app)
    configure(app)
    with app.app_context():
        old = Call(direction="out", to_number="030 123456", remote_e164="+4930123456", user_id=anna,
                   status="dialling", started_at=utcnow() - timedelta(minutes=5))
        recent = Call(direction="out", to_number="030 123456", remote_e164="+4930123456", user_id=anna,
                      status="dialling", started_at=utcnow() - timedelta(seconds=20))
        db.session.add_all([old, recent])
        db.session.commit()
        recent_id, old_id = recent.id, old.id
    post_notify(client, OUTGOING_BUSY[0])
    post_notify(client, OUTGOING_BUSY[1])
    with app.app_context():
        assert len(db.session.scalars(select(Call)).all()) == 2
        assert db.session.get(Call, recent_id).call_id == OUTGOING_ID
        assert db.session.get(Call, recent_id).status == "busy"
        assert db.session.get(Call, old_id).call_id is None


def test_outgoing_accepted_call_gets_answer_time_from_duration(app, client, published):
    configure(app)
    post_notify(client, OUTGOING_BUSY[0])
    post_notify(client, OUTGOING_BUSY[1].replace(b"duration=0", b"duration=60").replace(b"type=busy", b"type=accepted"))
    call = _call(app, OUTGOING_ID)
    assert call.status == "ended" and call.ended_at - call.answered_at == timedelta(seconds=60)


def test_webhook_makes_no_outbound_request(app, client, published, requests_mock):
    configure(app)
    for body in ANSWERED_CALL:
        post_notify(client, body)
    assert requests_mock.call_count == 0


# --------------------------------------------------------------------------- expiry


def test_ringing_call_without_end_is_expired(app, client, published):
    configure(app)
    post_notify(client, ANSWERED_CALL[0])
    published.clear()
    with app.app_context():
        assert journal.expire_stale_calls(now=utcnow() + timedelta(minutes=1)) == 0
        assert journal.expire_stale_calls(now=utcnow() + timedelta(minutes=3)) == 1
        expired = db.session.scalar(select(CallEvent).where(CallEvent.event == "Expired"))
        assert published == [expired.id]
        assert journal.expire_stale_calls(now=utcnow() + timedelta(minutes=30)) == 0
    call = _call(app)
    assert call.status == "expired" and call.ended_at is not None


def test_expiry_follows_the_setting_and_spares_ongoing_conversations(app, client, published):
    configure(app)
    with app.app_context():
        from telephone import site_settings
        site_settings.set_value("calls.expire_minutes", "3")
        db.session.commit()
    post_notify(client, ANSWERED_CALL[0])
    post_notify(client, ANONYMOUS_MISSED[0])
    post_notify(client, BODY_ACCEPTED_ANONYMOUS)
    with app.app_context():
        assert journal.expire_stale_calls(now=utcnow() + timedelta(minutes=4)) == 1
    assert _call(app).status == "expired"
    assert _call(app, ANONYMOUS_ID).status == "accepted"
    with app.app_context():
        assert journal.expire_stale_calls(now=utcnow() + timedelta(hours=5)) == 1
    assert _call(app, ANONYMOUS_ID).status == "expired"


def test_accepted_calls_close_after_the_configured_hours(app, client, published):
    configure(app)
    app.config["CALL_ACCEPTED_EXPIRY_HOURS"] = 1
    post_notify(client, ANONYMOUS_MISSED[0])
    post_notify(client, BODY_ACCEPTED_ANONYMOUS)
    with app.app_context():
        assert journal.expire_stale_calls(now=utcnow() + timedelta(minutes=50)) == 0
        assert journal.expire_stale_calls(now=utcnow() + timedelta(minutes=70)) == 1
    assert _call(app, ANONYMOUS_ID).status == "expired"


def test_expiry_looks_only_at_open_calls(app, client, published):
    """No GROUP BY over every call event: the open calls are found by status, each probed by index."""
    from sqlalchemy import event as sa_event

    configure(app)
    for body in ANSWERED_CALL + ANONYMOUS_MISSED:
        post_notify(client, body)
    post_notify(client, OUTGOING_BUSY[0])
    statements = []
    with app.app_context():
        def record(conn, cursor, statement, *args):
            statements.append(statement)
        sa_event.listen(db.engine, "before_cursor_execute", record)
        try:
            assert journal.expire_stale_calls(now=utcnow() + timedelta(minutes=3)) == 1
        finally:
            sa_event.remove(db.engine, "before_cursor_execute", record)
    assert statements and not any("GROUP BY" in statement.upper() for statement in statements)
    assert _call(app, OUTGOING_ID).status == "expired" and _call(app).status == "ended"


BODY_ACCEPTED_ANONYMOUS = (f"call_id={ANONYMOUS_ID}&direction=in&event=CallAccepted&from=anonymous"
                           f"&peer=777111222%40fpbx.de&to=0221999000").encode()


def test_late_hangup_after_expiry_wins(app, client, published):
    configure(app)
    post_notify(client, ANSWERED_CALL[0])
    with app.app_context():
        journal.expire_stale_calls(now=utcnow() + timedelta(minutes=3))
    post_notify(client, ANSWERED_CALL[2])
    assert _call(app).status == "ended"


def test_expiry_job_is_registered_and_runs(app, client, published):
    configure(app)
    post_notify(client, ANSWERED_CALL[0])
    with app.app_context():
        db.session.execute(CallEvent.__table__.update().values(received_at=utcnow() - timedelta(hours=1)))
        db.session.commit()
    scheduler = BackgroundScheduler(timezone="UTC")
    journal.register_jobs(app, scheduler)
    job = scheduler.get_job(journal.EXPIRE_JOB_ID)
    job.func()
    assert _call(app).status == "expired"


def test_unmapped_peer_leaves_call_without_user(app, client, published):
    """A CallAccepted from a SIP account nobody is mapped to leaves the call without user."""
    make_user(app, "ben")
    configure(app, accounts="ben:777999999@fpbx.de")
    post_notify(client, ANSWERED_CALL[0])
    post_notify(client, ANSWERED_CALL[1])
    call = _call(app)
    assert call.status == "accepted" and call.user_id is None and call.peer == SIPUID


@pytest.mark.csrf
def test_webhook_needs_no_csrf_token(app, client, published):
    configure(app)
    assert post_notify(client, ANSWERED_CALL[0]).status_code == 200
    assert post_notify(client, ANSWERED_CALL[1], url=XENTRAL_URL).status_code == 200
