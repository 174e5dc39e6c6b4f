"""Live banners: the SSE stream, snapshot, replay, routing, opt-out, escaping."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from telephone import events, site_settings
from telephone.sse import format_sse
from telephone.extensions import db
from telephone.models import Call, CallEvent, User

from .conftest import make_user

CALL_ID = "9f2b6c1e0d4a7b3c5e8f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d"


@pytest.fixture(autouse=True)
def fast_heartbeat(app):
    app.config["SSE_HEARTBEAT_SECONDS"] = 0.05


def add_event(app, event: str, call_id: str = CALL_ID, publish: bool = True, **call_fields) -> int:
    """Store a CallEvent and bring the Call into the given state, like the webhook does."""
    with app.test_request_context("/"):
        call = db.session.scalar(select(Call).where(Call.call_id == call_id))
        if call is None:
            call = Call(call_id=call_id, direction="in", from_number="06131123456", to_number="0221999000",
                        remote_e164="+496131123456", status="ringing")
            db.session.add(call)
        for key, value in call_fields.items():
            setattr(call, key, value)
        row = CallEvent(call_id=call_id, event=event, payload={})
        db.session.add(row)
        db.session.commit()
        if publish:
            events.publish(row.id)
        return row.id


class Stream:
    """Reads server-sent events from a streaming test-client response."""

    def __init__(self, response):
        self.response = response
        self.chunks = iter(response.response)
        self.buffer = ""

    def next_events(self, count: int = 1, max_chunks: int = 100) -> list[dict]:
        found = []
        for _ in range(max_chunks):
            while "\n\n" in self.buffer and len(found) < count:
                block, self.buffer = self.buffer.split("\n\n", 1)
                parsed = parse_block(block)
                if parsed.get("event"):
                    found.append(parsed)
            if len(found) >= count:
                return found
            self.buffer += next(self.chunks).decode()
        return found

    def close(self):
        self.response.close()


def parse_block(block: str) -> dict:
    parsed = {"data": [], "comments": []}
    for line in block.splitlines():
        if line.startswith(":"):
            parsed["comments"].append(line)
        else:
            key, _, value = line.partition(": ")
            if key == "data":
                parsed["data"].append(value)
            else:
                parsed[key] = value
    parsed["data"] = "\n".join(parsed["data"])
    return parsed


def open_stream(client, **headers) -> Stream:
    response = client.get("/events", headers=headers, buffered=False)
    assert response.status_code == 200
    return Stream(response)


def test_format_sse_splits_lines():
    assert format_sse("a\nb", event="call", event_id=7) == "id: 7\nevent: call\ndata: a\ndata: b\n\n"


def test_stream_needs_login(client):
    assert client.get("/events").status_code in (302, 401)


def test_stream_headers_and_heartbeat(client, auth):
    auth.login("anna")
    stream = open_stream(client)
    assert stream.response.mimetype == "text/event-stream"
    assert stream.response.headers["X-Accel-Buffering"] == "no"
    assert stream.response.headers["Cache-Control"].startswith("no-cache")
    text = "".join(next(stream.chunks).decode() for _ in range(3))
    assert text.startswith("retry: 3000")
    assert ": heartbeat" in text
    stream.close()


def test_head_request_opens_no_stream(app, client, auth):
    auth.login("anna")
    response = client.head("/events")
    assert response.status_code == 200 and response.mimetype == "text/event-stream"
    with app.app_context():
        assert events.hub().stream_count == 0


def test_published_event_reaches_the_stream_as_one_banner_per_call(app, client, auth):
    auth.login("anna")
    stream = open_stream(client)
    first = add_event(app, "IncomingCall")
    ringing = stream.next_events()[0]
    assert ringing["event"] == "call" and ringing["id"] == str(first)
    assert f'id="call-{CALL_ID}"' in ringing["data"]
    assert "Eingehender Anruf" in ringing["data"]
    assert "Unbekannte Nummer" in ringing["data"]
    assert "Adresse anlegen" in ringing["data"]

    with app.app_context():
        anna_id = db.session.scalar(select(User.id).where(User.username == "anna"))
    add_event(app, "CallAccepted", status="accepted", peer="777111222@fpbx.de", user_id=anna_id)
    accepted = stream.next_events()[0]
    assert f'id="call-{CALL_ID}"' in accepted["data"]
    assert "Anruf angenommen von Anna" in accepted["data"]

    add_event(app, "HungUp", status="ended", duration=151)
    ended = stream.next_events()[0]
    assert "Anruf beendet (2:31)" in ended["data"]
    assert 'data-dismiss-after="20"' in ended["data"]
    stream.close()


def test_missed_call_banner(app, client, auth):
    auth.login("anna")
    stream = open_stream(client)
    add_event(app, "HungUp", status="missed", duration=0, from_number="anonymous", remote_e164=None)
    banner = stream.next_events()[0]["data"]
    assert "Verpasster Anruf" in banner
    assert "Unterdrückte Nummer" in banner
    assert "Adresse anlegen" not in banner
    stream.close()


def test_matched_caller_shows_each_candidate_with_address_link(app, client, auth):
    auth.login("anna")
    stream = open_stream(client)
    matches = [{"kind": "address", "name": "Müller GmbH", "company": "", "url": "/addresses/1"},
               {"kind": "contact", "name": "Anna Schmidt", "company": "Weber AG", "url": "/addresses/2#contact-3"}]
    add_event(app, "IncomingCall", matches=matches)
    banner = stream.next_events()[0]["data"]
    assert "Müller GmbH" in banner and "Anna Schmidt" in banner and "Weber AG" in banner
    assert 'href="/addresses/1"' in banner and 'href="/addresses/2#contact-3"' in banner
    assert "Telefonnotiz anlegen" in banner and "/calls/notes/new?call=" in banner
    assert "Adresse anlegen" not in banner
    stream.close()


def test_snapshot_on_connect_shows_calls_still_ringing(app, client, auth):
    auth.login("anna")
    add_event(app, "IncomingCall", publish=False)
    add_event(app, "IncomingCall", call_id="a" * 64, publish=False)
    add_event(app, "HungUp", call_id="a" * 64, publish=False, status="missed")
    stream = open_stream(client)
    snapshot = stream.next_events()
    assert f'id="call-{CALL_ID}"' in snapshot[0]["data"]
    assert not stream.next_events(max_chunks=5)  # the ended call is not in the snapshot
    stream.close()


def test_last_event_id_replays_what_was_missed(app, client, auth):
    auth.login("anna")
    seen = add_event(app, "IncomingCall", publish=False)
    add_event(app, "CallAccepted", publish=False, status="accepted")
    other = add_event(app, "IncomingCall", call_id="b" * 64, publish=False)
    stream = open_stream(client, **{"Last-Event-ID": str(seen)})
    replayed = stream.next_events(2)
    assert [e["data"].count("call-") >= 1 for e in replayed] == [True, True]
    assert "Anruf angenommen" in replayed[0]["data"]
    assert replayed[1]["id"] == str(other)
    stream.close()


def test_caller_text_is_escaped(app, client, auth):
    auth.login("anna")
    stream = open_stream(client)
    evil = '<img src=x onerror=alert(1)>'
    add_event(app, "IncomingCall", from_number=evil, remote_e164=None,
              matches=[{"kind": "address", "name": "<script>alert(2)</script>", "company": "", "url": "/addresses/1"}])
    banner = stream.next_events()[0]["data"]
    assert "<img" not in banner and "<script>" not in banner
    assert "&lt;script&gt;" in banner
    stream.close()


def test_users_with_banners_off_get_no_stream_and_no_banner(app, client, auth):
    make_user(app, "otto", call_notifications=False)
    auth.login("otto", create=False)
    assert client.get("/events").status_code == 204
    assert 'sse-connect' not in client.get("/account").text


def test_switching_banners_off_applies_to_open_stream(app, client, auth):
    auth.login("anna")
    stream = open_stream(client)
    with app.app_context():
        db.session.scalar(select(User).where(User.username == "anna")).call_notifications = False
        db.session.commit()
    add_event(app, "IncomingCall")
    assert stream.next_events(max_chunks=10) == []
    stream.close()


def test_routing_affected_sends_only_to_mapped_and_assigned_users(app, client, auth):
    make_user(app, "ben")
    make_user(app, "carla")
    with app.app_context():
        site_settings.set_value("calls.routing", "affected")
        site_settings.set_value("placetel.accounts", "ben:777111222@fpbx.de\ncarla:777333444@fpbx.de")
        site_settings.set_value("calls.number_assignments", "0221 999000:carla")
        db.session.commit()
    streams = {}
    for name in ("anna", "ben", "carla"):
        user_client = app.test_client()
        user_client.post("/login", data={"username": name, "password": "geheim-123"}) if name != "anna" else None
        if name == "anna":
            auth.login("anna")
            user_client = client
        streams[name] = open_stream(user_client)
    add_event(app, "IncomingCall")  # ringing: users assigned to the dialled number
    assert streams["carla"].next_events()
    assert streams["ben"].next_events(max_chunks=10) == []
    assert streams["anna"].next_events(max_chunks=10) == []
    add_event(app, "CallAccepted", status="accepted", peer="777111222@fpbx.de")  # answered by ben's phone
    assert "Anruf angenommen" in streams["ben"].next_events()[0]["data"]
    assert streams["anna"].next_events(max_chunks=10) == []
    for stream in streams.values():
        stream.close()


def test_routing_all_is_the_default(app, client, auth):
    with app.app_context():
        assert site_settings.get("calls.routing") == "all"


def test_idle_stream_holds_no_database_connection(app, client, auth):
    auth.login("anna")
    add_event(app, "IncomingCall", publish=False)
    stream = open_stream(client)
    assert stream.next_events()  # snapshot read from the database
    next(stream.chunks)  # now idle, waiting for events
    with app.app_context():
        assert db.engine.pool.checkedout() == 0
    stream.close()


def test_number_assignment_setting_is_validated(app, runner):
    make_user(app, "anna")
    from telephone.banners import parse_number_assignments
    with app.app_context():
        assert parse_number_assignments("0221 999000: anna", {"anna"}) == {"+49221999000": {"anna"}}
        with pytest.raises(ValueError, match="Zeile 1: Benutzer otto gibt es nicht"):
            parse_number_assignments("0221999000:otto", {"anna"})
    result = runner.invoke(args=["settings", "set", "calls.number_assignments", "keine nummer:anna"])
    assert result.exit_code != 0 and "Zeile 1" in result.output


def test_stream_is_shared_between_tabs_by_a_shared_worker(client, auth):
    auth.login("anna")
    page = client.get("/account").text
    assert re.search(r'sse-connect="/events"', page) and 'hx-preserve="true"' in page
    with client.get("/static/js/app.js") as response:
        script = response.text
    assert "new SharedWorker" in script and "htmx.createEventSource" in script


def test_expired_call_updates_the_banner_in_every_open_tab(app, client, auth):
    """The scheduler's expiry publishes through the bus like the webhook: every stream gets the change."""
    from datetime import timedelta

    from telephone import journal
    from telephone.models import utcnow

    auth.login("anna")
    tabs = [open_stream(client), open_stream(client)]
    add_event(app, "IncomingCall")
    for tab in tabs:
        assert 'data-call-status="ringing"' in tab.next_events()[0]["data"]
    with app.test_request_context("/"):
        assert journal.expire_stale_calls(now=utcnow() + timedelta(minutes=3)) == 1
    for tab in tabs:
        banner = tab.next_events()[0]["data"]
        assert f'id="call-{CALL_ID}"' in banner and 'data-call-status="expired"' in banner
        tab.close()


def test_replay_sends_the_newest_changes_in_order(app, client, auth):
    """With more changed calls than the replay limit, the newest are sent (oldest of them first)."""
    from telephone import banners

    auth.login("anna")
    with app.app_context():
        db.session.add_all(Call(call_id=f"{n:064x}", direction="in", from_number="06131123456",
                                to_number="0221999000", remote_e164="+496131123456", status="ringing")
                           for n in range(210))
        db.session.add_all(CallEvent(call_id=f"{n:064x}", event="IncomingCall", payload={}) for n in range(210))
        db.session.commit()
        ids = db.session.scalars(select(CallEvent.id).order_by(CallEvent.id)).all()
    stream = open_stream(client, **{"Last-Event-ID": str(ids[0] - 1)})
    replayed = stream.next_events(banners.REPLAY_LIMIT, max_chunks=1000)
    stream.close()
    assert [int(event["id"]) for event in replayed] == ids[-banners.REPLAY_LIMIT:]
    assert f'id="call-{209:064x}"' in replayed[-1]["data"]
