"""Voicemail in the journal: downloaded once after the call, stored, served only to who may hear it."""
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from telephone import events, site_settings, voicemail
from telephone.extensions import db
from telephone.models import Call, CallEvent, User, Voicemail

from .calls_helpers import configure, post_notify
from .conftest import make_user

API = "https://api.placetel.de/v2"
FILE_URL = "https://storage.placetel.example/voicemails/abc.mp3?signature=xyz&expires=1200"
AUDIO = b"ID3" + b"\x00" * 2045
CALL_ID = "a1" * 32
INCOMING = f"call_id={CALL_ID}&direction=in&event=IncomingCall&from=06131123456&to=0221999000"
HUNGUP = f"call_id={CALL_ID}&direction=in&duration=14&event=HungUp&from=06131123456&to=0221999000&type=voicemail"


@pytest.fixture(autouse=True)
def setup(app, tmp_path, monkeypatch):
    monkeypatch.setattr(events, "publish", lambda call_event_id: None)
    app.config.update(VOICEMAIL_DIR=str(tmp_path / "voicemail"), VOICEMAIL_FETCH_IN_THREAD=False)
    configure(app)
    with app.app_context():
        site_settings.set_value("placetel.api_token", "api-token")
        db.session.commit()


@pytest.fixture
def placetel_calls(requests_mock):
    """Placetel lists the mailbox call with its (expiring) file URL."""
    received = datetime.now(timezone.utc).isoformat(timespec="seconds")
    return requests_mock.get(f"{API}/calls", json=[
        {"id": 11, "type": "voicemail", "from_number": "06131123456", "to_number": {"number": {"number": "0221999000"}},
         "file_url": FILE_URL, "duration": 14, "received_at": received},
    ])


def _mailbox_call(client) -> None:
    assert post_notify(client, INCOMING).status_code == 200
    assert post_notify(client, HUNGUP).status_code == 200


def _stored(app) -> list[Voicemail]:
    with app.app_context():
        rows = db.session.scalars(select(Voicemail)).all()
        for row in rows:
            db.session.expunge(row)
        return rows


def _call_pk(app) -> int:
    with app.app_context():
        return db.session.scalar(select(Call.id).where(Call.call_id == CALL_ID))


def _assign(app, username: str) -> None:
    with app.app_context():
        call = db.session.scalar(select(Call).where(Call.call_id == CALL_ID))
        call.user_id = db.session.scalar(select(User.id).where(User.username == username))
        db.session.commit()


def test_voicemail_is_downloaded_once_after_the_hungup(app, client, requests_mock, placetel_calls, tmp_path):
    audio = requests_mock.get(FILE_URL, content=AUDIO, headers={"Content-Type": "audio/mpeg"})
    _mailbox_call(client)

    rows = _stored(app)
    assert len(rows) == 1 and rows[0].content_type == "audio/mpeg" and rows[0].size == len(AUDIO)
    stored = tmp_path / "voicemail" / rows[0].file_name
    assert stored.read_bytes() == AUDIO
    assert rows[0].file_name.endswith(".mp3") and "abc" not in rows[0].file_name  # a random name
    assert audio.call_count == 1
    # The signed storage URL gets no API token; the URL is not stored anywhere
    assert "Authorization" not in audio.last_request.headers
    with app.app_context():
        payloads = db.session.scalars(select(CallEvent.payload)).all()
        assert "signature=xyz" not in repr(payloads)
        assert db.session.scalar(select(Call.status).where(Call.call_id == CALL_ID)) == "voicemail"

    # A second trigger (Placetel repeats the HungUp, the records job, a direct call) downloads nothing
    listed = placetel_calls.call_count  # once per office day the call may be filed under: two near midnight
    assert post_notify(client, HUNGUP).status_code == 200
    with app.app_context():
        voicemail.fetch_missing()
        call = db.session.scalar(select(Call).where(Call.call_id == CALL_ID))
        voicemail.fetch_for_call(call)
    assert audio.call_count == 1 and placetel_calls.call_count == listed
    assert len(_stored(app)) == 1
    assert len(list((tmp_path / "voicemail").iterdir())) == 1


def test_the_webhook_only_starts_a_thread(app, client, monkeypatch):
    started = []
    monkeypatch.setattr(voicemail, "fetch_in_background", started.append)
    _mailbox_call(client)
    assert started == [CALL_ID]
    accepted = HUNGUP.replace(CALL_ID, "b2" * 32).replace("type=voicemail", "type=accepted")
    post_notify(client, accepted)
    assert started == [CALL_ID]


def test_background_download_runs_in_its_own_thread(app, client, requests_mock, placetel_calls):
    requests_mock.get(FILE_URL, content=AUDIO, headers={"Content-Type": "audio/mpeg"})
    app.config["VOICEMAIL_FETCH_IN_THREAD"] = True
    threads = []
    original = voicemail.fetch_in_background
    voicemail_fetch = lambda call_id: threads.append(original(call_id))  # noqa: E731
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(voicemail, "fetch_in_background", voicemail_fetch)
        _mailbox_call(client)
    assert threads and threads[0] is not None
    threads[0].join(10)
    assert len(_stored(app)) == 1


def test_recording_not_listed_yet_is_fetched_by_the_records_job(app, client, requests_mock):
    listed = []  # not listed yet for any office day asked (near midnight there are two)
    listing = requests_mock.get(f"{API}/calls", json=lambda request, context: listed)
    requests_mock.get(FILE_URL, content=AUDIO, headers={"Content-Type": "audio/mpeg"})
    _mailbox_call(client)
    assert _stored(app) == [] and listing.called
    listed.append({"id": 11, "type": "voicemail", "from_number": "06131123456", "file_url": FILE_URL,
                   "duration": 14, "received_at": datetime.now(timezone.utc).isoformat()})
    with app.app_context():
        assert voicemail.fetch_missing() == 1
    assert len(_stored(app)) == 1


def test_voicemail_is_served_to_the_callee_and_admins_only(app, client, auth, requests_mock, placetel_calls):
    requests_mock.get(FILE_URL, content=AUDIO, headers={"Content-Type": "audio/mpeg"})
    _mailbox_call(client)
    make_user(app, "anna")
    make_user(app, "bob")
    make_user(app, "chefin", admin=True)
    _assign(app, "anna")
    url = f"/calls/{_call_pk(app)}/voicemail"

    assert client.get(url).status_code == 302  # not logged in: to the login page
    auth.login("anna")
    with client.get(url) as response:
        assert response.status_code == 200
        assert response.mimetype == "audio/mpeg" and response.data == AUDIO
        assert "no-store" in response.headers["Cache-Control"]
    with client.get(url, headers={"Range": "bytes=0-9"}) as response:  # the player seeks
        assert response.status_code == 206 and response.data == AUDIO[:10]
    journal = client.get("/calls/").get_data(as_text=True)
    assert f'<audio controls preload="none" src="{url}"' in journal
    auth.logout()

    auth.login("bob")
    assert client.get(url).status_code == 403
    journal = client.get("/calls/").get_data(as_text=True)
    assert "<audio" not in journal and "Sprachnachricht vorhanden" in journal
    auth.logout()

    auth.login("chefin")
    with client.get(url) as response:
        assert response.status_code == 200
    assert client.get("/calls/999/voicemail").status_code == 404


def test_users_of_the_dialled_number_may_hear_it(app, client, auth, requests_mock, placetel_calls):
    from telephone.models import NumberAssignment, OfficeNumber

    requests_mock.get(FILE_URL, content=AUDIO, headers={"Content-Type": "audio/mpeg"})
    _mailbox_call(client)
    anna = make_user(app, "anna")
    with app.app_context():
        db.session.add(NumberAssignment(office_number=OfficeNumber(e164="+49221999000", name="Zentrale"),
                                        user_id=anna))
        db.session.commit()
    auth.login("anna")
    with client.get(f"/calls/{_call_pk(app)}/voicemail") as response:
        assert response.status_code == 200


def test_retention_deletes_old_recordings(app, client, requests_mock, placetel_calls, tmp_path):
    requests_mock.get(FILE_URL, content=AUDIO, headers={"Content-Type": "audio/mpeg"})
    _mailbox_call(client)
    [row] = _stored(app)
    path = tmp_path / "voicemail" / row.file_name
    with app.app_context():
        assert voicemail.delete_old(datetime.utcnow() + timedelta(days=89)) == 0
        assert path.exists()
        assert voicemail.delete_old(datetime.utcnow() + timedelta(days=91)) == 1
    assert not path.exists() and _stored(app) == []
    app.config["VOICEMAIL_RETENTION_DAYS"] = 0.5  # configurable
    with app.app_context():
        old = Voicemail(call_pk=_call_pk(app), file_name="x" * 32, content_type="audio/mpeg", size=1,
                        stored_at=datetime.utcnow() - timedelta(days=1))
        db.session.add(old)
        db.session.commit()
        assert voicemail.delete_old() == 1


@pytest.mark.parametrize("headers", [{"Content-Length": "5000"}, {}])
def test_too_large_recording_is_refused(app, client, requests_mock, placetel_calls, tmp_path, headers):
    app.config["VOICEMAIL_MAX_BYTES"] = 1000
    requests_mock.get(FILE_URL, content=b"x" * 5000, headers={"Content-Type": "audio/mpeg", **headers})
    _mailbox_call(client)
    assert _stored(app) == []
    folder = tmp_path / "voicemail"
    assert not folder.exists() or list(folder.iterdir()) == []


@pytest.mark.parametrize("answer", [
    {"status_code": 404, "text": "expired"},
    {"status_code": 200, "text": "<html>login</html>", "headers": {"Content-Type": "text/html"}},
    {"status_code": 200, "content": b"", "headers": {"Content-Type": "audio/mpeg"}},
])
def test_failed_downloads_store_nothing(app, client, requests_mock, placetel_calls, answer):
    requests_mock.get(FILE_URL, **answer)
    _mailbox_call(client)
    assert _stored(app) == []


def test_download_deadline(app, client, requests_mock, placetel_calls, monkeypatch):
    app.config["VOICEMAIL_DOWNLOAD_SECONDS"] = -1  # already over when the first bytes arrive
    requests_mock.get(FILE_URL, content=AUDIO, headers={"Content-Type": "audio/mpeg"})
    _mailbox_call(client)
    assert _stored(app) == []


def test_api_token_only_goes_to_placetel_itself(app, client, requests_mock):
    own = f"{API}/recordings/11/file"
    requests_mock.get(f"{API}/calls", json=[{"id": 11, "type": "voicemail", "from_number": "06131123456",
                                             "file_url": own, "received_at": datetime.now(timezone.utc).isoformat()}])
    audio = requests_mock.get(own, content=AUDIO, headers={"Content-Type": "audio/wav"})
    _mailbox_call(client)
    assert audio.last_request.headers["Authorization"] == "Bearer api-token"
    assert _stored(app)[0].file_name.endswith(".wav")


def test_banner_marks_a_call_with_voicemail(app, client, requests_mock, placetel_calls):
    from telephone import banners

    requests_mock.get(FILE_URL, content=AUDIO, headers={"Content-Type": "audio/mpeg"})
    _mailbox_call(client)
    with app.app_context(), app.test_request_context():
        event_id = db.session.scalar(select(CallEvent.id).where(CallEvent.event == voicemail.VOICEMAIL_EVENT))
        banner = banners.banner_for_event(event_id, ("de",))
        html = banner.fragment("de")
    assert "Anruf auf der Mailbox" in html and "Sprachnachricht hinterlassen" in html


def test_csp_allows_the_audio_element(client, auth):
    auth.login("anna")
    assert "media-src 'self'" in client.get("/calls/").headers["Content-Security-Policy"]


def test_webhook_answers_even_when_the_download_cannot_start(app, client, monkeypatch):
    def broken(call_id):
        raise RuntimeError("no threads left")

    monkeypatch.setattr(voicemail, "fetch_in_background", broken)
    assert post_notify(client, INCOMING).status_code == 200
    assert post_notify(client, HUNGUP).status_code == 200
    with app.app_context():
        assert db.session.scalar(select(Call.status).where(Call.call_id == CALL_ID)) == "voicemail"


def test_full_storage_refuses_further_recordings(app, client, requests_mock, placetel_calls, tmp_path):
    app.config["VOICEMAIL_STORAGE_BYTES"] = len(AUDIO) + 100
    with app.app_context():
        call = Call(call_id="older", direction="in", status="voicemail")
        db.session.add(call)
        db.session.flush()
        db.session.add(Voicemail(call_pk=call.id, file_name="y" * 32, size=200))
        db.session.commit()
    requests_mock.get(FILE_URL, content=AUDIO, headers={"Content-Type": "audio/mpeg"})
    _mailbox_call(client)
    assert len(_stored(app)) == 1  # only the older one
    folder = tmp_path / "voicemail"
    assert not folder.exists() or list(folder.iterdir()) == []
