"""The call journal (Anrufliste): Placetel Notify events → Call rows, expiry, listing, callbacks.

Every accepted Notify request is stored once as a `CallEvent` (unique by
`(call_id, event)`); the `Call` row is then derived from *all* stored events of
that call, so events that arrive twice or out of order still give the right
state. After each commit the CallEvent id is published for the live banners.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import Select, and_, false, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload, selectinload

from . import call_rows, directory, events, numbers, search, search_index, site_settings
from .extensions import db
from .models import Call, CallEvent, CallStatus, PhoneNote, PhoneNumber, User, utcnow
from .placetel import NotifyEvent, is_sip_id
from .sip_accounts import users_for_sipuid

log = logging.getLogger(__name__)

EXPIRED_EVENT = "Expired"  # synthetic event written by expire_stale_calls()
# Synthetic event written by call_records: the end of a call as Placetel's call records tell it.
# A real HungUp wins over it, and it wins over EXPIRED_EVENT.
RECORD_EVENT = "PlacetelRecord"
STATUS_BY_HANGUP_TYPE = {
    "accepted": CallStatus.ENDED,
    "missed": CallStatus.MISSED,
    "voicemail": CallStatus.VOICEMAIL,
    "blocked": CallStatus.BLOCKED,
    "busy": CallStatus.BUSY,
    "canceled": CallStatus.CANCELED,
    "unavailable": CallStatus.UNAVAILABLE,
    "congestion": CallStatus.CONGESTION,
}
STATUS_LABELS = {
    CallStatus.RINGING.value: _l("klingelt"),
    CallStatus.ACCEPTED.value: _l("angenommen"),
    CallStatus.ENDED.value: _l("beendet"),
    CallStatus.MISSED.value: _l("verpasst"),
    CallStatus.VOICEMAIL.value: _l("Mailbox"),
    CallStatus.BUSY.value: _l("besetzt"),
    CallStatus.CANCELED.value: _l("abgebrochen"),
    CallStatus.UNAVAILABLE.value: _l("nicht erreichbar"),
    CallStatus.CONGESTION.value: _l("Netz überlastet"),
    CallStatus.BLOCKED.value: _l("blockiert"),
    CallStatus.EXPIRED.value: _l("ohne Ende-Meldung"),
    CallStatus.DIALLING.value: _l("Anruf gestartet"),
    CallStatus.DIAL_FAILED.value: _l("Anruf fehlgeschlagen"),
}
# Incoming calls nobody talked to: highlighted until called back or marked done.
MISSED_STATUSES = (CallStatus.MISSED.value, CallStatus.VOICEMAIL.value)
# A click-to-dial attempt is the same call as an OutgoingCall notified this soon after it.
DIAL_LINK_WINDOW = timedelta(minutes=2)
EXPIRE_JOB_ID = "calls.expire_stale"


def accepted_expiry() -> timedelta:
    """How long an answered call without HungUp stays open: conversations can be long."""
    return timedelta(hours=float(current_app.config.get("CALL_ACCEPTED_EXPIRY_HOURS", 4)))


def status_label(status: str) -> str:
    """German label of a call status (klingelt, angenommen, …)."""
    return str(STATUS_LABELS.get(status, status))


# --------------------------------------------------------------------------- recording events


@dataclass(frozen=True)
class Recorded:
    call_event_id: int
    created: bool  # False for a repeated (call_id, event)
    call: Call | None = None  # the call as the new event left it (not attached to the session); None for a repeat


def user_for_sipuid(sipuid: str) -> User | None:
    """The user who has a Placetel SIP account; for a shared phone the first assigned one."""
    users = users_for_sipuid(sipuid)
    return users[0] if users else None


def colleague_label(sipuid: str) -> str:
    """How an internal call's SIP id is shown: the mapped user's name, else the SIP id itself."""
    user = user_for_sipuid(sipuid)
    return user.label if user is not None else sipuid


def record_event(notify: NotifyEvent, routing: dict | None = None,
                 caller: numbers.CallerLookup | None = None) -> Recorded:
    """Store a Notify event once per (call_id, event), update its Call, commit and publish.

    `routing` is what Call Control answered for an IncomingCall (`{"routing": note,
    "blocked": bool}`); it is kept with the event. `caller` is the caller lookup Call
    Control may have done already. A repeated event changes nothing and is answered
    like the first one, also when two copies race each other (the unique constraint
    decides). The call is read with its events in one query and written with the new
    event in one statement (`call_rows`); the banner is rendered from it before the commit.
    """
    payload = {**notify.payload(), **(routing or {})}
    for attempt in range(3):
        call, stored = _call_with_events(notify.call_id)
        repeat = next((row.id for row in stored if row.event == notify.event), None)
        if repeat is not None:
            return Recorded(repeat, created=False)
        call_event = CallEvent(call_id=notify.call_id, event=notify.event, payload=payload, received_at=utcnow())
        is_new = call is None
        if is_new:
            call = _recent_dial_attempt(notify) or Call()
            call.call_id = notify.call_id
        _update_call(call, [*stored, call_event], notify, is_new, caller)
        try:
            call_event_id = call_rows.save(call, call_event)
            if call_event_id is not None:  # the banner, while the objects are loaded; sent after the commit
                events.prepare(call_event_id, call, new_call=is_new)
            db.session.commit()
        except IntegrityError:
            # The event is stored already (a repeat), or another request created the Call first.
            db.session.rollback()
            existing = _stored_event_id(notify.call_id, notify.event)
            if existing is not None:
                return Recorded(existing, created=False)
            if attempt == 2:
                raise
            continue
        if call_event_id is None:  # another event changed the call meanwhile: derive it again
            continue
        events.publish(call_event_id)
        return Recorded(call_event_id, created=True, call=call)
    raise RuntimeError(f"call {notify.call_id} kept changing while event {notify.event} was stored")


def _stored_event_id(call_id: str, event: str) -> int | None:
    return db.session.scalar(select(CallEvent.id).where(CallEvent.call_id == call_id, CallEvent.event == event))


def _call_with_events(call_id: str) -> tuple[Call | None, list[CallEvent]]:
    """The Call of `call_id` and its stored events (one query)."""
    call = _held_call(select(Call).where(Call.call_id == call_id))
    return (call, list(call.events)) if call is not None else (None, [])


def _held_call(query: Select) -> Call | None:
    """The first Call of `query` with its events, user and recording, taken out of the session:
    `call_rows` writes it (never a flush), and the banner is rendered from it without further queries."""
    call = db.session.scalars(
        query.options(joinedload(Call.events), joinedload(Call.user).joinedload(User.sip_account),
                      joinedload(Call.voicemail))
    ).unique().first()
    if call is not None:
        db.session.expunge(call)
    return call


def _update_call(call: Call, stored: list[CallEvent], notify: NotifyEvent, is_new: bool,
                 caller: numbers.CallerLookup | None) -> None:
    """Derive the Call from its events; the caller's matches when it starts (or is new)."""
    with db.session.no_autoflush:
        derive_call(call, stored)
        if is_new or notify.event in ("IncomingCall", "OutgoingCall"):
            remote = call.from_number if call.direction == "in" else call.to_number
            if caller is None or caller.number != remote:
                caller = numbers.CallerLookup(remote)
            call.matches = [] if call.remote_e164 is None else [match.stored() for match in caller.result.matches]


def _recent_dial_attempt(notify: NotifyEvent) -> Call | None:
    """A click-to-dial row of the dialling user to the same number, not yet tied to a call."""
    if notify.event != "OutgoingCall":
        return None
    user = user_for_sipuid(notify.peer)
    remote_e164 = _e164_of(notify.to_number)
    if user is None or remote_e164 is None:
        return None
    return _held_call(
        select(Call).where(Call.call_id.is_(None), Call.user_id == user.id, Call.remote_e164 == remote_e164,
                           Call.started_at >= utcnow() - DIAL_LINK_WINDOW)
        .order_by(Call.started_at.desc()).limit(1)
    )


def _e164_of(value: str) -> str | None:
    """E.164 of a notified number; anonymous callers and internal SIP ids have none."""
    if not value or is_sip_id(value):
        return None
    return numbers.to_e164(value)


def derive_call(call: Call, stored: list[CallEvent] | None = None) -> None:
    """Set the Call's direction, numbers, status, times and user from all its events (`stored`, in the
    order they were stored; default: read from the database)."""
    if stored is None:
        stored = db.session.scalars(
            select(CallEvent).where(CallEvent.call_id == call.call_id).order_by(CallEvent.id)
        ).all()
    by_name = {row.event: row for row in stored}
    start = by_name.get("IncomingCall") or by_name.get("OutgoingCall")
    ordered = ([start] if start else []) + [row for row in stored if row is not start]

    def field(key: str) -> str:
        return next((row.payload[key] for row in ordered if row.payload.get(key)), "")

    if "OutgoingCall" in by_name:
        call.direction = "out"
    elif "IncomingCall" in by_name or "CallAccepted" in by_name:
        call.direction = "in"
    elif field("direction"):
        call.direction = field("direction")
    call.from_number = field("from")
    call.to_number = field("to")
    call.remote_e164 = _e164_of(call.from_number if call.direction == "in" else call.to_number)

    first_seen = min(row.received_at for row in stored)
    call.started_at = min(call.started_at, first_seen) if call.started_at else first_seen

    accepted = by_name.get("CallAccepted")
    # Old bodies: `CallAccepted` with `user=voicemail` when the mailbox took the call.
    mailbox = accepted is not None and accepted.payload.get("user") == "voicemail"
    peer_event = accepted or by_name.get("OutgoingCall")
    if peer_event is not None and peer_event.payload.get("peer"):
        call.peer = peer_event.payload["peer"]
        user = user_for_sipuid(call.peer)
        if user is not None:
            call.user_id, call.user = user.id, user  # the user too: the banner shows them
    call.answered_at = accepted.received_at if accepted and not mailbox else None

    hung_up, expired = by_name.get("HungUp") or by_name.get(RECORD_EVENT), by_name.get(EXPIRED_EVENT)
    if hung_up is not None:
        call.hangup_type = hung_up.payload.get("type", "")
        # Unknown HungUp types are kept in hangup_type; the call simply counts as ended.
        status = STATUS_BY_HANGUP_TYPE.get(call.hangup_type, CallStatus.ENDED)
        call.status = (CallStatus.VOICEMAIL if mailbox and status == CallStatus.ENDED else status).value
        call.duration = hung_up.payload.get("duration")
        call.ended_at = hung_up.received_at
        if call.answered_at is None and not mailbox and call.hangup_type == "accepted" and call.duration:
            # Placetel sends no CallAccepted for outgoing calls: the duration tells when it began.
            call.answered_at = call.ended_at - timedelta(seconds=call.duration)
    elif expired is not None:
        call.status = CallStatus.EXPIRED.value
        call.ended_at = expired.received_at
        call.duration = None
    else:
        status = CallStatus.VOICEMAIL if mailbox else CallStatus.ACCEPTED if accepted else CallStatus.RINGING
        call.status = status.value
        call.ended_at = None
        call.duration = None
    # What Call Control answered Placetel for this call
    call.routing_note = (start.payload.get("routing") or "")[:200] if start else ""
    call.routing_message = start.payload.get("routing_message") if start else None
    if start is not None and start.payload.get("blocked"):
        call.status = CallStatus.BLOCKED.value


# --------------------------------------------------------------------------- expiry


def expire_stale_calls(now: datetime | None = None) -> int:
    """Close calls whose end was never notified; returns how many were closed.

    A ringing call is closed `calls.expire_minutes` (default 2) after its last
    event, an answered one after the app's CALL_ACCEPTED_EXPIRY_HOURS (default 4,
    at least that setting). Each gets a synthetic "Expired" CallEvent, which is
    published like a webhook's, so that the banner changes in every open tab.
    Only the few open calls are looked at (by their indexed status), each with
    an index probe for a recent event; closed calls and their events are never scanned.
    """
    now = now or utcnow()
    minutes = site_settings.get_int("calls.expire_minutes")
    ringing_limit = now - timedelta(minutes=minutes)
    accepted_limit = now - max(accepted_expiry(), timedelta(minutes=minutes))

    def quiet_since(limit: datetime):
        recent = select(CallEvent.id).where(CallEvent.call_id == Call.call_id, CallEvent.received_at >= limit)
        return ~recent.exists()

    stale = db.session.execute(
        select(Call.id).where(Call.call_id.is_not(None), or_(
            and_(Call.status == CallStatus.RINGING.value, quiet_since(ringing_limit)),
            and_(Call.status == CallStatus.ACCEPTED.value, quiet_since(accepted_limit)),
        )).order_by(Call.id)
    ).scalars().all()
    closed = 0
    for call_pk in stale:
        call = db.session.get(Call, call_pk)
        if add_synthetic_event(call, EXPIRED_EVENT, {"minutes": minutes}, now):
            log.info("call %s closed without end event after %s minutes", call.call_id, minutes)
            closed += 1
    return closed


def add_synthetic_event(call: Call, event: str, fields: dict, received_at: datetime) -> bool:
    """Store an event the app derived itself (expiry, call records) for `call`, re-derive the
    call, commit and publish it like a webhook's; False when that event is stored already
    (another process was quicker), which changes nothing."""
    call_event = CallEvent(call_id=call.call_id, event=event, received_at=received_at,
                           payload={"event": event, "call_id": call.call_id, **fields})
    try:
        db.session.add(call_event)
        db.session.flush()
        derive_call(call)
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        return False
    events.publish(call_event.id)
    return True


def register_jobs(app, scheduler=None) -> None:
    """Add the interval job that closes stale calls to the (running) APScheduler."""
    from .extensions import scheduler as default_scheduler

    def expire_job():
        with app.app_context():
            expire_stale_calls()

    (scheduler or default_scheduler).add_job(
        expire_job, "interval", minutes=1, id=EXPIRE_JOB_ID, replace_existing=True,
        coalesce=True, max_instances=1,
    )


# --------------------------------------------------------------------------- listing


@dataclass
class JournalFilter:
    """What the journal shows: all calls, or only mine / missed / one direction / days / a search."""

    mine: bool = False
    missed: bool = False
    direction: str = ""  # "", in, out
    date_from: date | None = None
    date_to: date | None = None
    search: str = ""


def local_day_start(day: date, tz) -> datetime:
    """Naive UTC of midnight at the start of `day` in the time zone `tz`."""
    midnight = datetime.combine(day, time.min)
    aware = tz.localize(midnight) if hasattr(tz, "localize") else midnight.replace(tzinfo=tz)
    return aware.astimezone(timezone.utc).replace(tzinfo=None)


# The journal's order, newest first (the last key unique, for keyset paging: telephone/paging.py).
JOURNAL_ORDER = (Call.started_at.desc(), Call.id.desc())


def journal_query(filters: JournalFilter, user_id: int, tz) -> Select:
    """The calls matching `filters`, unordered (the journal sorts by JOURNAL_ORDER; `tz` = the user's
    zone for the date range)."""
    query = (
        select(Call)
        .options(selectinload(Call.user), selectinload(Call.notes).selectinload(PhoneNote.author),
                 selectinload(Call.voicemail))
    )
    if filters.mine:
        query = query.where(Call.user_id == user_id)
    if filters.missed:
        query = query.where(Call.direction == "in", Call.status.in_(MISSED_STATUSES))
    if filters.direction in ("in", "out"):
        query = query.where(Call.direction == filters.direction)
    if filters.date_from:
        query = query.where(Call.started_at >= local_day_start(filters.date_from, tz))
    if filters.date_to:
        query = query.where(Call.started_at < local_day_start(filters.date_to + timedelta(days=1), tz))
    if filters.search.strip():
        query = query.where(_search_condition(filters.search.strip()))
    return query


# The journal's numbers of matching owners handed to its query as values, up to this many
CALLED_NUMBERS_AT_MOST = 5_000


def _search_condition(text: str):
    """Numbers in any notation (the rule of `search.number_digits`), the names and places of the
    addresses, contact persons and phonebook entries the other party's number belongs to, and who
    answered or dialled.

    Everything that needs other tables is looked up first, so that the calls are found
    along the journal's own indexes: the colleagues, and the matching owners' numbers that
    are in the journal at all (a few dozen of the 8,000 numbers a common name has in a
    100,000-address book; `journal_numbers`). As subqueries inside the calls' condition, both databases
    joined every call with every matching number (75 ms on SQLite and 200–300 ms on
    PostgreSQL at 100,000 calls; minutes on PostgreSQL before the owners were listed).
    """
    found = search.terms(text)
    conditions = []
    owners_numbers = directory.journal_numbers_of_matches(found)
    if owners_numbers is not None:
        called = db.session.scalars(owners_numbers.limit(CALLED_NUMBERS_AT_MOST + 1)).all()
        if len(called) > CALLED_NUMBERS_AT_MOST:  # a word in most names: not as a list of parameters
            conditions.append(Call.remote_e164.in_(owners_numbers))
        elif called:
            conditions.append(search.one_of(Call.remote_e164, called))
    if found.number:
        conditions.append(search.matching(Call.__tablename__, Call.id, search_index.digits(Call.remote_e164), found))
    pattern = f"%{text}%"
    colleagues = db.session.scalars(
        select(User.id).where(or_(User.username.ilike(pattern), User.display_name.ilike(pattern)))).all()
    if colleagues:
        conditions.append(Call.user_id.in_(colleagues))
    return or_(*conditions) if conditions else false()


def calls_needing_callback(calls: list[Call]) -> set[int]:
    """Ids of the missed calls among `calls` that nobody has called back or marked done yet.

    A later outgoing call or click-to-dial attempt to the same number counts as a callback
    (kept on the call by the database: `Call.called_back_at`, see telephone/callbacks.py).
    """
    return {call.id for call in calls if call.direction == "in" and call.status in MISSED_STATUSES
            and call.done_at is None and call.called_back_at is None}


def owners_found_since(calls: list[Call]) -> dict[str, list[dict]]:
    """For the calls among `calls` whose caller was unknown when they were stored: who their number
    belongs to now (E.164 → matches as the journal keeps them), in one query for the page.

    The journal keeps who a number belonged to at the time of the call (a contact who has
    changed companies stays who they were); a number entered since then is shown with
    its owner, as the search already finds the call by that owner's name.
    """
    unknown = {call.remote_e164 for call in calls if call.remote_e164 and not call.matches}
    if not unknown:
        return {}
    owners: dict[str, list[numbers.Match | None]] = {}
    for row in db.session.execute(select(PhoneNumber.e164, *numbers.owner_columns())
                                  .where(PhoneNumber.e164.in_(unknown)).order_by(PhoneNumber.id)):
        owners.setdefault(row.e164, []).append(numbers.owner_match(row))
    return {e164: [match.public() for match in numbers.unique_matches(matches)] for e164, matches in owners.items()}


# The navigation counts open missed calls up to this many and then says "99+".
MISSED_COUNT_CAP = 99


def open_missed_count() -> int:
    """How many missed calls still need a callback (the same rule as `calls_needing_callback`),
    counted up to MISSED_COUNT_CAP + 1: every page shows the count, so it must not grow with the
    journal. The index `ix_call_open_missed` holds exactly these conditions: a range per status."""
    open_missed = (
        select(Call.id)
        .where(Call.status.in_(MISSED_STATUSES), Call.direction == "in", Call.done_at.is_(None),
               Call.called_back_at.is_(None))
        .limit(MISSED_COUNT_CAP + 1).subquery()
    )
    return db.session.scalar(select(func.count()).select_from(open_missed)) or 0


def missed_count_label(count: int) -> str:
    """The navigation badge's text: the count, or "99+" beyond the cap."""
    return f"{MISSED_COUNT_CAP}+" if count > MISSED_COUNT_CAP else str(count)


def mark_done(call: Call, user: User) -> None:
    """Mark a missed call as dealt with ("erledigt"); caller commits."""
    if call.done_at is None:
        call.done_at = utcnow()
        call.done_by_id = user.id
