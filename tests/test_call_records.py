"""Calls the PBX did not finish: completed from Placetel's call records (GET /calls, /call_detail_records)."""
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from telephone import call_records, events, journal, site_settings
from telephone.extensions import db
from telephone.models import Call, CallEvent

from .calls_helpers import ANSWERED_CALL, ANSWERED_ID, OUTGOING_BUSY, OUTGOING_ID, configure, post_notify, stored_call

API = "https://api.placetel.de/v2"


@pytest.fixture
def published(monkeypatch):
    ids = []
    monkeypatch.setattr(events, "publish", ids.append)
    return ids


@pytest.fixture(autouse=True)
def setup(app, published):
    configure(app)
    with app.app_context():
        site_settings.set_value("placetel.api_token", "api-token")
        db.session.commit()


def _iso(moment: datetime) -> str:
    """A Placetel time stamp (office time with offset, as in the documented example)."""
    return moment.astimezone(timezone(timedelta(hours=1))).isoformat(timespec="seconds")


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _office_days(app) -> list[str]:
    """The office days the records job reads for a call that starts now."""
    with app.app_context():
        return [day.isoformat() for day in call_records.days_of(datetime.utcnow())]


def _run(app, later: timedelta = timedelta(minutes=2)) -> int:
    """The records job, run `later` than now (calls with an event in the last minute are left alone)."""
    with app.app_context():
        return call_records.complete_open_calls(datetime.utcnow() + later)


def _events(app, call_id: str, event: str) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(CallEvent)
                                 .where(CallEvent.call_id == call_id, CallEvent.event == event))


def test_queue_call_without_hungup_is_completed_from_the_records_once(app, client, requests_mock, published):
    for body in ANSWERED_CALL[:2]:  # IncomingCall, CallAccepted – the HungUp never comes
        assert post_notify(client, body).status_code == 200
    assert stored_call(app, ANSWERED_ID).status == "accepted"
    records = requests_mock.get(f"{API}/calls", json=[
        {"id": 7, "type": "accepted", "from_number": "+496131999999", "duration": 5,  # another caller
         "received_at": _iso(_now())},
        {"id": 8, "type": "accepted", "from_number": "06131123456", "to_number": {"number": {"number": "0221999000"}},
         "duration": 38, "received_at": _iso(_now() - timedelta(seconds=3))},
    ])
    published.clear()

    assert _run(app) == 1
    call = stored_call(app, ANSWERED_ID)
    assert (call.status, call.duration, call.hangup_type) == ("ended", 38, "accepted")
    assert call.ended_at is not None and call.answered_at is not None
    assert len(published) == 1  # the banner is updated like after a webhook event
    query = records.last_request.qs
    assert query["filter_date"][0] in _office_days(app)
    assert records.last_request.headers["Authorization"] == "Bearer api-token"

    # A second run finds nothing open: no request, no second event, no new banner
    calls_before = records.call_count
    assert _run(app) == 0
    assert records.call_count == calls_before
    assert _events(app, ANSWERED_ID, journal.RECORD_EVENT) == 1
    assert len(published) == 1


def test_outgoing_call_gets_status_and_duration_from_the_detail_records(app, client, requests_mock):
    assert post_notify(client, OUTGOING_BUSY[0]).status_code == 200  # OutgoingCall only
    assert stored_call(app, OUTGOING_ID).status == "ringing"
    requests_mock.get(f"{API}/call_detail_records", json=[
        {"amount": 0.02, "description": "Festnetz", "from": "0221999000", "to": "+4930123456", "length": 42,
         "answer_uri": "777111222", "received_at": _iso(_now() - timedelta(seconds=50))},
    ])

    assert _run(app) == 1
    call = stored_call(app, OUTGOING_ID)
    assert (call.direction, call.status, call.duration) == ("out", "ended", 42)
    assert call.answered_at == call.ended_at - timedelta(seconds=42)
    assert requests_mock.last_request.qs["date"]


def test_call_closed_by_the_expiry_is_completed_and_a_late_hungup_still_wins(app, client, requests_mock):
    post_notify(client, ANSWERED_CALL[0])
    with app.app_context():
        assert journal.expire_stale_calls(datetime.utcnow() + timedelta(minutes=5)) == 1
    assert stored_call(app, ANSWERED_ID).status == "expired"
    requests_mock.get(f"{API}/calls", json=[{"id": 9, "type": "missed", "from_number": "06131123456",
                                             "duration": 0, "received_at": _iso(_now())}])

    assert _run(app, timedelta(minutes=10)) == 1
    assert stored_call(app, ANSWERED_ID).status == "missed"
    # The expiry does not close it again, and the real HungUp (if it ever comes) decides
    with app.app_context():
        assert journal.expire_stale_calls(datetime.utcnow() + timedelta(hours=6)) == 0
    post_notify(client, ANSWERED_CALL[2])
    assert (stored_call(app, ANSWERED_ID).status, stored_call(app, ANSWERED_ID).duration) == ("ended", 38)


@pytest.mark.parametrize("record", [
    {"id": 1, "type": "accepted", "from_number": "06131123456", "duration": 38},  # no time
    {"id": 2, "type": "accepted", "from_number": "06131123456", "duration": 38, "received_at": "gestern"},
    {"id": 3, "type": "accepted", "from_number": "0899999", "duration": 38, "received_at": "NOW"},
    {"id": 4, "type": "accepted", "from_number": "06131123456", "duration": 38, "received_at": "EARLY"},
    {"id": 5, "from_number": {"number": None}, "duration": "lang", "received_at": 12},
    "kein Objekt",
])
def test_records_that_do_not_match_or_are_odd_change_nothing(app, client, requests_mock, record):
    for body in ANSWERED_CALL[:2]:
        post_notify(client, body)
    if isinstance(record, dict) and record.get("received_at") in ("NOW", "EARLY"):
        record = {**record, "received_at": _iso(_now() - (timedelta(minutes=10) if record["received_at"] == "EARLY"
                                                          else timedelta()))}
    requests_mock.get(f"{API}/calls", json=[record])
    assert _run(app) == 0
    assert stored_call(app, ANSWERED_ID).status == "accepted"


def test_record_carrying_the_call_id_is_matched_by_it(app, client, requests_mock):
    for body in ANSWERED_CALL[:2]:
        post_notify(client, body)
    requests_mock.get(f"{API}/calls", json=[{"id": 3, "call_id": ANSWERED_ID.upper(), "type": "voicemail",
                                             "duration": 12}])
    assert _run(app) == 1
    assert stored_call(app, ANSWERED_ID).status == "voicemail"


def test_one_record_completes_only_one_call(app, client, requests_mock):
    for body in ANSWERED_CALL[:2]:
        post_notify(client, body)
    second = ANSWERED_CALL[0].replace(ANSWERED_ID.encode(), b"second-call-1")
    post_notify(client, second)
    requests_mock.get(f"{API}/calls", json=[{"id": 8, "type": "accepted", "from_number": "06131123456",
                                             "duration": 38, "received_at": _iso(_now())}])
    assert _run(app) == 1
    assert _run(app) == 0  # the record is used already
    statuses = {stored_call(app, ANSWERED_ID).status, stored_call(app, "second-call-1").status}
    assert statuses == {"ended", "ringing"}


def test_without_token_nothing_is_asked(app, client, requests_mock):
    post_notify(client, ANSWERED_CALL[0])
    with app.app_context():
        site_settings.set_value("placetel.api_token", "")
        db.session.commit()
    assert _run(app) == 0
    assert requests_mock.call_count == 0


@pytest.mark.parametrize("answer", [
    {"status_code": 429, "headers": {"Retry-After": "120"}, "json": {"error": "too many"}},
    {"status_code": 500, "text": "oops"},
    {"status_code": 200, "json": {"error": "not a list"}},
    {"status_code": 401, "json": {"error": "bad token"}},
])
def test_placetel_errors_leave_the_call_open_and_never_raise(app, client, requests_mock, answer):
    post_notify(client, ANSWERED_CALL[0])
    records = requests_mock.get(f"{API}/calls", **answer)
    assert _run(app) == 0
    assert stored_call(app, ANSWERED_ID).status == "ringing"
    if answer["status_code"] == 429:  # Retry-After is honoured: the next run does not ask
        count = records.call_count
        assert _run(app) == 0
        assert records.call_count == count


def test_records_are_read_page_by_page(app, client, requests_mock):
    post_notify(client, ANSWERED_CALL[0])
    filler = [{"id": 1000 + n, "type": "missed", "from_number": "0301111", "received_at": _iso(_now())}
              for n in range(call_records.PER_PAGE)]
    wanted = {"id": 8, "type": "missed", "from_number": "06131123456", "duration": 0, "received_at": _iso(_now())}
    requests_mock.get(f"{API}/calls", [{"json": filler}, {"json": [wanted]}])
    assert _run(app) == 1
    pages = {}  # near midnight the call may be filed under two office days, each read from page 1
    for request in requests_mock.request_history:
        pages.setdefault(request.qs["filter_date"][0], []).append(request.qs["page"][0])
    assert list(pages.values())[0] == ["1", "2"] and all(later == ["1"] for later in list(pages.values())[1:])
    assert stored_call(app, ANSWERED_ID).status == "missed"


def test_scheduler_job_runs_at_start_and_every_five_minutes(app):
    from apscheduler.schedulers.background import BackgroundScheduler

    scheduler = BackgroundScheduler()
    call_records.register_jobs(app, scheduler)
    job = scheduler.get_job(call_records.RECORDS_JOB_ID)
    assert job.trigger.interval == timedelta(minutes=5)
    assert job.next_run_time is not None  # once right at start-up
    assert scheduler.get_job("calls.voicemail_retention") is not None


def test_parsing_is_liberal():
    record = call_records.record_from_detail({"from": 221999000, "to": "030123", "length": "7"})
    assert (record.from_number, record.to_number, record.duration, record.type) == ("221999000", "030123", 7,
                                                                                  "accepted")
    assert call_records.record_from_detail({"to": "030123", "length": 0}).type == "canceled"
    assert call_records.record_from_call({"type": "weird", "file_url": "https://x/y.mp3"}).type == "voicemail"
    assert call_records.record_from_call({"type": True, "duration": None}).type == "missed"
    assert call_records.number_text({"number": {"number": "+4930123"}}) == "+4930123"
    assert call_records.number_text([1, 2]) == ""


def test_calls_that_may_still_be_going_on_are_left_alone(app, client, requests_mock):
    for body in ANSWERED_CALL[:2]:
        post_notify(client, body)
    records = requests_mock.get(f"{API}/calls", json=[{"id": 8, "type": "accepted", "from_number": "06131123456",
                                                       "duration": 0, "received_at": _iso(_now())}])
    assert _run(app, timedelta()) == 0  # the last event is not a minute old
    assert records.call_count == 0
    assert _run(app) == 0  # a conversation's record without duration: maybe still going on
    assert stored_call(app, ANSWERED_ID).status == "accepted"


def test_unreadable_token_is_like_no_token(app, client, requests_mock, monkeypatch):
    from telephone.crypto import SecretUnreadable

    post_notify(client, ANSWERED_CALL[0])

    def unreadable(key):
        raise SecretUnreadable()

    monkeypatch.setattr(site_settings, "get", unreadable)
    assert _run(app) == 0
    assert requests_mock.call_count == 0
