"""A whole office day of Placetel webhook traffic, replayed: every journal row ends as planned.

The day is generated from a seeded random: incoming calls (answered, missed, anonymous, taken
by the mailbox in the new and the old format), outgoing calls (new and old format), internal
calls; events out of order, some repeated, some calls without HungUp. The expected final state
of every call is written down by the generator from its own plan and Placetel's documentation
(HungUp type → status), not computed by the app's code.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import timedelta
from urllib.parse import urlencode

import pytest
from sqlalchemy import select

from telephone import events, journal
from telephone.extensions import db
from telephone.models import Call, User, utcnow

from .calls_helpers import configure, post_notify
from .conftest import make_user

OUR_NUMBER = "0221999000"
PHONES = {"anna": "777111001@fpbx.de", "ben": "777111002@fpbx.de", "chef": "777111003@fpbx.de"}
# What each HungUp type means in the journal (Placetel's documented types; German labels aside).
STATUS_OF_HANGUP = {"accepted": "ended", "missed": "missed", "voicemail": "voicemail", "busy": "busy",
                    "canceled": "canceled", "unavailable": "unavailable", "congestion": "congestion",
                    "blocked": "blocked"}
KINDS = {  # kind → how many calls of the day
    "in_answered": 70, "in_missed": 40, "in_anonymous": 20, "in_voicemail": 25, "in_voicemail_old": 15,
    "out": 60, "out_old": 20, "internal": 30,
}


@dataclass
class PlannedCall:
    call_id: str
    kind: str
    events: list[dict]  # the Notify bodies' fields, in Placetel's order
    status: str  # expected final status before expiry
    direction: str
    from_number: str
    to_number: str
    remote_e164: str | None
    username: str | None = None
    peer: str = ""
    duration: int | None = None
    hung_up: bool = True
    sent: list[dict] = field(default_factory=list)


def _caller(rng: random.Random) -> tuple[str, str]:
    """A German landline or mobile number as Placetel writes it, and its E.164."""
    area = rng.choice(["221", "30", "6131", "89", "170", "151"])
    # valid numbers only (the app keeps invalid ones as typed, without E.164): mobile numbers have 8 digits
    subscriber = str(rng.randrange(10_000_000, 99_999_999) if area in ("170", "151") else rng.randrange(2_000_000, 9_999_999))
    notation = rng.choice(["national", "national", "plus", "double_zero"])
    raw = {"national": f"0{area}{subscriber}", "plus": f"+49{area}{subscriber}",
           "double_zero": f"0049{area}{subscriber}"}[notation]
    return raw, f"+49{area}{subscriber}"


def plan_day(seed: int) -> list[PlannedCall]:
    """The calls of one day with their events and expected end state."""
    rng = random.Random(seed)
    calls: list[PlannedCall] = []
    kinds = [kind for kind, count in KINDS.items() for _ in range(count)]
    rng.shuffle(kinds)
    for number, kind in enumerate(kinds):
        call_id = f"{rng.getrandbits(256):064x}" if rng.random() < 0.8 else f"{1700000000 + number}-{rng.randrange(9)}"
        user = rng.choice(sorted(PHONES))
        sip = PHONES[user]
        caller, caller_e164 = _caller(rng)
        duration = rng.randrange(1, 1800)
        base_in = {"call_id": call_id, "direction": "in", "from": caller, "to": OUR_NUMBER}
        if kind in ("in_answered", "internal"):
            if kind == "internal":
                other = rng.choice([phone for name, phone in PHONES.items() if name != user])
                base_in = {"call_id": call_id, "direction": "in", "from": other, "to": sip}
                caller, caller_e164 = other, None
            planned = PlannedCall(call_id, kind, [
                {**base_in, "event": "IncomingCall"},
                {**base_in, "event": "CallAccepted", "peer": sip},
                {**base_in, "event": "HungUp", "type": "accepted", "duration": duration},
            ], "ended", "in", caller, base_in["to"], caller_e164, user, sip, duration)
        elif kind in ("in_missed", "in_anonymous"):
            if kind == "in_anonymous":
                base_in["from"], caller, caller_e164 = "anonymous", "anonymous", None
            planned = PlannedCall(call_id, kind, [
                {**base_in, "event": "IncomingCall"},
                {**base_in, "event": "HungUp", "type": "missed", "duration": 0},
            ], "missed", "in", caller, OUR_NUMBER, caller_e164, duration=0)
        elif kind == "in_voicemail":
            planned = PlannedCall(call_id, kind, [
                {**base_in, "event": "IncomingCall"},
                {**base_in, "event": "HungUp", "type": "voicemail", "duration": duration},
            ], "voicemail", "in", caller, OUR_NUMBER, caller_e164, duration=duration)
        elif kind == "in_voicemail_old":  # the mailbox "accepts" the call: CallAccepted with user=voicemail
            planned = PlannedCall(call_id, kind, [
                {**base_in, "event": "IncomingCall"},
                {**base_in, "event": "CallAccepted", "user": "voicemail"},
                {**base_in, "event": "HungUp", "type": "accepted", "duration": duration},
            ], "voicemail", "in", caller, OUR_NUMBER, caller_e164, duration=duration)
        else:  # outgoing; the old format names the dialling SIP id in `from` and has no `peer`
            hangup_type = rng.choice(["accepted", "accepted", "busy", "canceled", "unavailable"])
            duration = duration if hangup_type == "accepted" else 0
            start = {"call_id": call_id, "direction": "out", "to": caller}
            first = {**start, "event": "OutgoingCall", "from": OUR_NUMBER, "peer": sip}
            if kind == "out_old":
                first = {**start, "event": "OutgoingCall", "from": sip}
            planned = PlannedCall(call_id, kind, [
                first,
                {**start, "event": "HungUp", "from": first["from"], "type": hangup_type, "duration": duration},
            ], STATUS_OF_HANGUP[hangup_type], "out", first["from"], caller, caller_e164, user, sip, duration)
        if rng.random() < 0.06:  # Placetel's known gap: no HungUp
            planned.events = planned.events[:-1]
            planned.hung_up, planned.duration = False, None
            accepted = any(event["event"] == "CallAccepted" for event in planned.events)
            mailbox = any(event.get("user") == "voicemail" for event in planned.events)
            planned.status = "voicemail" if mailbox else "accepted" if accepted else "ringing"
        calls.append(planned)
    return calls


def traffic(calls: list[PlannedCall], seed: int) -> list[dict]:
    """All events of the day in arrival order: calls overlap, events of a call may swap places,
    about one in ten arrives twice (Placetel retrying)."""
    rng = random.Random(seed + 1)
    timed = []
    for index, call in enumerate(calls):
        start = index * 60 + rng.randrange(0, 600)  # several calls ring at the same time
        for position, event in enumerate(call.events):
            arrival = start + position * 20 + rng.randrange(-25, 25)  # neighbours may swap
            timed.append((arrival, event))
            if rng.random() < 0.1:
                timed.append((arrival + rng.randrange(1, 900), event))
    timed.sort(key=lambda item: item[0])
    return [event for _arrival, event in timed]


def _body(event: dict) -> str:
    return urlencode(sorted((key, str(value)) for key, value in event.items()))


@pytest.fixture(autouse=True)
def no_bus(monkeypatch):
    monkeypatch.setattr(events, "publish", lambda call_event_id: None)


def test_a_day_of_webhook_traffic_ends_in_the_planned_journal(app, client):
    for username in PHONES:
        make_user(app, username)
    configure(app, accounts="\n".join(f"{name}:{sip}" for name, sip in PHONES.items()))
    calls = plan_day(seed=20261201)
    arrivals = traffic(calls, seed=20261201)
    assert len(calls) >= 200 and {call.kind for call in calls} == set(KINDS)
    assert any(not call.hung_up for call in calls) and len(arrivals) > sum(len(call.events) for call in calls)

    for event in arrivals:
        response = post_notify(client, _body(event))
        assert response.status_code == 200, (event, response.text)

    with app.app_context():
        users = {user.id: user.username for user in db.session.scalars(select(User))}
        rows = {row.call_id: row for row in db.session.scalars(select(Call))}
        assert len(rows) == len(calls)  # repeats and reordering made no extra rows
        for call in calls:
            row = rows[call.call_id]
            actual = (row.status, row.direction, row.from_number, row.to_number, row.remote_e164,
                      users.get(row.user_id), row.duration)
            expected = (call.status, call.direction, call.from_number, call.to_number, call.remote_e164,
                        call.username, call.duration)
            assert actual == expected, (call.kind, call.call_id, call.events)
            if call.peer and call.kind != "in_voicemail_old":
                assert row.peer == call.peer
            assert (row.ended_at is not None) == call.hung_up, call.kind
            talked = call.hung_up and call.status == "ended" and call.duration
            assert (row.answered_at is not None) == bool(talked or call.status == "accepted"), call.kind

        # Later the expiry job closes what never got a HungUp; the rest stays as it is.
        journal.expire_stale_calls(now=utcnow() + timedelta(hours=5))
        db.session.expire_all()
        for call in calls:
            row = db.session.scalar(select(Call).where(Call.call_id == call.call_id))
            open_ended = not call.hung_up and call.status in ("ringing", "accepted")
            assert row.status == ("expired" if open_ended else call.status), (call.kind, call.call_id)
