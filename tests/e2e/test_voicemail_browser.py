"""A voicemail in the journal, in a real browser at desktop and phone width.

The mailbox call's recording is downloaded after the HungUp (Placetel faked with
requests-mock); anna, for whom the call was, sees the ▶ player and it plays the stored
file (the CSP allows media from the site); bob sees only that a message exists.
"""
from __future__ import annotations

import io
import os
import wave
from datetime import datetime, timezone

import pytest

from telephone import site_settings
from telephone.extensions import db
from telephone.models import Call

from ..calls_helpers import SECRET, post_notify
from ..conftest import make_user
from ..servers import serve_app
from .conftest import log_in

SHOTS = "/work/shots/records"
VIEWPORTS = [pytest.param({"width": 1280, "height": 800}, id="1280x800"),
             pytest.param({"width": 390, "height": 844}, id="390x844")]
API = "https://api.placetel.de/v2"
FILE_URL = "https://files.placetel.example/voicemail/4711.wav?signature=abc"
CALL_ID = "c3" * 32


def _one_second_of_silence() -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as audio:
        audio.setnchannels(1)
        audio.setsampwidth(2)
        audio.setframerate(8000)
        audio.writeframes(b"\x00\x00" * 8000)
    return buffer.getvalue()


@pytest.fixture
def mailbox_call(app, tmp_path, requests_mock):
    """anna's number got a call that ended in the mailbox; its recording is stored."""
    app.config.update(VOICEMAIL_DIR=str(tmp_path / "voicemail"), VOICEMAIL_FETCH_IN_THREAD=False)
    anna = make_user(app, "anna", display_name="Anna Schmidt")
    make_user(app, "bob", display_name="Bob Berger")
    with app.app_context():
        site_settings.set_value("placetel.shared_secret", SECRET)
        site_settings.set_value("placetel.api_token", "api-token")
        db.session.commit()
    requests_mock.get(f"{API}/calls", json=[{
        "id": 4711, "type": "voicemail", "from_number": "06131123456", "file_url": FILE_URL, "duration": 9,
        "received_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}])
    requests_mock.get(FILE_URL, content=_one_second_of_silence(), headers={"Content-Type": "audio/wav"})
    client = app.test_client()
    common = f"call_id={CALL_ID}&direction=in&from=06131123456&to=0221999000"
    assert post_notify(client, f"{common}&event=IncomingCall").status_code == 200
    with app.app_context():  # the call was for anna (routing assigns it to her)
        db.session.query(Call).filter_by(call_id=CALL_ID).update({"user_id": anna})
        db.session.commit()
    assert post_notify(client, f"{common}&duration=9&event=HungUp&type=voicemail").status_code == 200
    requests_mock.stop()  # the browser must reach the local server
    yield


def _journal_row_as(browser, base: str, viewport: dict, username: str):
    """A browser context at `viewport`, logged in as `username`, on the journal; (context, page, row)."""
    context = browser.new_context(locale="de-DE", viewport=viewport)
    page = context.new_page()
    log_in(page, base, username)
    page.goto(f"{base}/calls/")
    return context, page, page.locator("tr.call-voicemail")


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_callee_plays_the_voicemail_from_the_journal(browser, app, mailbox_call, viewport):
    name = f"{viewport['width']}x{viewport['height']}"
    os.makedirs(SHOTS, exist_ok=True)
    with serve_app(app) as base:
        context, page, row = _journal_row_as(browser, base, viewport, "anna")
        assert "Mailbox" in row.inner_text()
        assert "▶ Sprachnachricht" in row.inner_text()
        player = row.locator("audio[controls]")
        player.scroll_into_view_if_needed()
        assert player.is_visible()
        box = player.bounding_box()
        assert box["width"] >= 150 and box["x"] >= 0
        duration = player.evaluate(
            "el => new Promise(done => { el.onloadedmetadata = () => done(el.duration);"
            " el.onerror = () => done(-1); el.preload = 'metadata'; el.load(); })")
        assert duration == pytest.approx(1.0, abs=0.05)  # the stored file, served to her, played by the browser
        page.screenshot(path=f"{SHOTS}/journal-voicemail-anna-{name}.png", full_page=True)
        context.close()

        context, page, row = _journal_row_as(browser, base, viewport, "bob")
        assert "Sprachnachricht vorhanden" in row.inner_text()
        assert row.locator("audio").count() == 0
        src = f"{base}/calls/{row.get_attribute('id').rsplit('-', 1)[1]}/voicemail"
        assert page.request.get(src).status == 403
        page.screenshot(path=f"{SHOTS}/journal-voicemail-bob-{name}.png", full_page=True)
        context.close()
