"""Placetel's call records: completing calls the Notify API left open.

Placetel sends no HungUp for some queue calls and never a CallAccepted for outgoing
calls, so a journal row can stay "klingelt"/"angenommen" until the expiry closes it
as "ohne Ende-Meldung". With an API token set, a scheduler job (every
CALL_RECORDS_INTERVAL_MINUTES, and once at start-up) asks Placetel for those calls:

* incoming calls: `GET /calls?filter_date=YYYY-MM-DD` (documented model `Call`: `id`,
  `type`, `from_number`, `to_number` = `{"number": …}`, `file_url`, `duration`,
  `received_at`); the type becomes the status, `file_url` the voicemail;
* outgoing calls: `GET /call_detail_records?date=YYYY-MM-DD` (model
  `CallDetailRecord`: `from`, `to`, `length`, `answer_uri`, `received_at`, `amount`,
  `description`); a length > 0 means the call was answered, 0 that it was not.

Both are read page by page (`page`, `per_page`). Every field may be missing or of
another type; such records are skipped, never an error.

**Matching.** Neither documented shape carries the Notify `call_id`; a record that
does carry a `call_id` is matched by it. Otherwise a record matches a journal call
when the other party's number is the same (E.164, else the digits) and the record
starts (`received_at`) within MATCH_WINDOW of the journal's start; the closest one
wins, and one record completes at most one call (its key is kept in the event).

**Completing** goes through the journal: a synthetic RECORD_EVENT with the type and
duration is stored (unique per call, so a second run or a second process creates no
duplicate) and `derive_call` decides the status; a real HungUp still wins, and the
record wins over the expiry's "Expired" event. So the two jobs never fight: calls
the expiry closed in the last LOOKBACK are completed from the records too.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

from flask import Flask, current_app
from sqlalchemy import select

from . import journal, numbers, placetel
from .i18n import office_zone
from .extensions import db
from .models import Call, CallEvent, CallStatus, utcnow

log = logging.getLogger(__name__)

RECORDS_JOB_ID = "calls.complete_from_records"
# How far back open (and expired) calls are looked up.
LOOKBACK = timedelta(hours=24)
# A record starts at most this far from the journal's first event of the same call.
MATCH_WINDOW = timedelta(minutes=2)
# A call with an event this recent may still be going on: it is not looked up yet.
MIN_QUIET = timedelta(seconds=60)
PER_PAGE = 100
MAX_PAGES = 20  # a bound for an API that never sends a short page
CALLS_PATH = "/calls"
DETAIL_RECORDS_PATH = "/call_detail_records"
COMPLETABLE_STATUSES = (CallStatus.RINGING.value, CallStatus.ACCEPTED.value, CallStatus.EXPIRED.value)


@dataclass(frozen=True)
class CallRecord:
    """One call as Placetel's records tell it, in the journal's terms."""

    key: str  # unique per record: "calls:<id>" or "cdr:<from>:<to>:<start>"
    direction: str  # in | out
    from_number: str
    to_number: str
    started_at: datetime | None  # naive UTC
    duration: int | None
    type: str  # a HungUp type: accepted, missed, voicemail, …
    call_id: str = ""  # the Notify call id, when the record carries one
    file_url: str = ""  # the voicemail's (expiring) download URL

    @property
    def remote(self) -> str:
        """The other party's number: the caller of an incoming, the callee of an outgoing call."""
        return self.from_number if self.direction == "in" else self.to_number

    @property
    def ended_at(self) -> datetime | None:
        """When the call ended, when start and duration are known."""
        if self.started_at is None:
            return None
        return self.started_at + timedelta(seconds=self.duration or 0)


# --------------------------------------------------------------------------- parsing Placetel's shapes


def number_text(value) -> str:
    """A number from a field that is a string, a number or an object like `{"number": {"number": …}}`."""
    for _depth in range(4):
        if isinstance(value, dict):
            value = next((value[key] for key in ("number", "e164", "value") if value.get(key)), "")
        else:
            break
    if isinstance(value, (int, str)) and not isinstance(value, bool):
        return str(value).strip()[:120]
    return ""


def _int(value) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return max(int(value), 0)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def parse_time(value) -> datetime | None:
    """`2018-08-16T11:42:47+02:00` (or with Z, or naive = the office's zone) as naive UTC."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip().replace("Z", "+00:00").replace(" ", "T", 1)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=office_zone())
    return moment.astimezone(timezone.utc).replace(tzinfo=None)


def _hangup_type(value, duration: int | None, direction: str) -> str:
    text = value.strip().lower() if isinstance(value, str) else ""
    if text in placetel.KNOWN_HANGUP_TYPES:
        return text
    if duration:
        return "accepted"
    return "missed" if direction == "in" else "canceled"


def record_from_call(item) -> CallRecord | None:
    """One element of `GET /calls` (Placetel's incoming calls), or None when it is unusable."""
    if not isinstance(item, dict):
        return None
    direction = item.get("direction") if item.get("direction") in ("in", "out") else "in"
    duration = _int(item.get("duration"))
    file_url = item.get("file_url") if isinstance(item.get("file_url"), str) else ""
    known = str(item.get("type") or "").strip().lower() in placetel.KNOWN_HANGUP_TYPES
    # An unknown type with a file is a mailbox message (the documented example: type voicemail + file_url).
    record_type = "voicemail" if file_url and not known else _hangup_type(item.get("type"), duration, direction)
    ident = item.get("id")
    started = parse_time(item.get("received_at"))
    from_number, to_number = number_text(item.get("from_number")), number_text(item.get("to_number"))
    key = f"calls:{ident}" if ident not in (None, "") else f"calls:{from_number}:{to_number}:{started}"
    return CallRecord(key=key[:200], direction=direction, from_number=from_number, to_number=to_number,
                      started_at=started, duration=duration, type=record_type,
                      call_id=str(item.get("call_id") or "")[:128], file_url=file_url.strip())


def record_from_detail(item) -> CallRecord | None:
    """One element of `GET /call_detail_records` (billed legs, used for outgoing calls)."""
    if not isinstance(item, dict):
        return None
    length = _int(item.get("length"))
    if length is None:
        length = _int(item.get("duration"))
    direction = item.get("direction") if item.get("direction") in ("in", "out") else "out"
    from_number, to_number = number_text(item.get("from")), number_text(item.get("to"))
    started = parse_time(item.get("received_at"))
    return CallRecord(key=f"cdr:{from_number}:{to_number}:{started}"[:200], direction=direction,
                      from_number=from_number, to_number=to_number, started_at=started, duration=length,
                      type=_hangup_type(item.get("type"), length, direction),
                      call_id=str(item.get("call_id") or "")[:128])


class RecordBook:
    """Placetel's records of some days, fetched once per (endpoint, day) for one run."""

    def __init__(self):
        self._days: dict[tuple[str, date], list[CallRecord]] = {}

    def records(self, direction: str, day: date) -> list[CallRecord]:
        """The records of `day` (office time) for calls of `direction`; raises PlacetelError."""
        path = CALLS_PATH if direction == "in" else DETAIL_RECORDS_PATH
        if (path, day) not in self._days:
            self._days[(path, day)] = list(self._fetch(path, day))
        return self._days[(path, day)]

    @staticmethod
    def _fetch(path: str, day: date) -> Iterable[CallRecord]:
        params = {"filter_date": day.isoformat()} if path == CALLS_PATH else {"date": day.isoformat()}
        parse = record_from_call if path == CALLS_PATH else record_from_detail
        for page in range(1, MAX_PAGES + 1):
            items = placetel.list_page(path, page, PER_PAGE, params)
            for item in items:
                record = parse(item)
                if record is not None:
                    yield record
            if len(items) < PER_PAGE:
                return
        log.warning("Placetel GET %s: stopped after %s pages", path, MAX_PAGES)


def _same_number(one: str, other: str) -> bool:
    if not one or not other:
        return False
    first, second = numbers.to_e164(one), numbers.to_e164(other)
    if first and second:
        return first == second
    digits = "".join(ch for ch in one if ch.isdigit()), "".join(ch for ch in other if ch.isdigit())
    return bool(digits[0]) and digits[0].lstrip("0") == digits[1].lstrip("0")


def days_of(moment: datetime) -> list[date]:
    """The office-time days a call starting at `moment` (naive UTC) may be filed under."""
    zone = office_zone()
    days = []
    for shifted in (moment - MATCH_WINDOW, moment, moment + MATCH_WINDOW):
        day = shifted.replace(tzinfo=timezone.utc).astimezone(zone).date()
        if day not in days:
            days.append(day)
    return days


def find_record(call: Call, book: RecordBook, used: set[str]) -> CallRecord | None:
    """The record of `call` (see the module docstring), not among the `used` keys."""
    candidates: list[tuple[timedelta, CallRecord]] = []
    remote = call.from_number if call.direction == "in" else call.to_number
    for day in days_of(call.started_at):
        for record in book.records(call.direction, day):
            if record.key in used:
                continue
            if record.call_id and record.call_id.lower() == (call.call_id or "").lower():
                return record
            if record.started_at is None or not _same_number(record.remote, remote):
                continue
            distance = abs(record.started_at - call.started_at)
            if distance <= MATCH_WINDOW:
                candidates.append((distance, record))
    return min(candidates, key=lambda pair: pair[0])[1] if candidates else None


# --------------------------------------------------------------------------- completing calls


def _used_record_keys(since: datetime) -> set[str]:
    payloads = db.session.scalars(
        select(CallEvent.payload).where(CallEvent.event == journal.RECORD_EVENT, CallEvent.received_at >= since)
    )
    return {payload.get("record") for payload in payloads if isinstance(payload, dict)}


def completable_calls(now: datetime) -> list[Call]:
    """Calls of the last LOOKBACK still ringing/accepted, or closed by the expiry: at most a few.

    Calls with an event in the last MIN_QUIET are left alone: they may still be going on.
    """
    recent = select(CallEvent.id).where(CallEvent.call_id == Call.call_id, CallEvent.received_at >= now - MIN_QUIET)
    return list(db.session.scalars(
        select(Call).where(Call.call_id.is_not(None), Call.status.in_(COMPLETABLE_STATUSES),
                           Call.started_at >= now - LOOKBACK, ~recent.exists())
        .order_by(Call.started_at)
    ))


def complete_call(call: Call, record: CallRecord, now: datetime) -> bool:
    """Close `call` as `record` tells it (through the journal's derivation); False when it was done already."""
    ended = record.ended_at or now
    ended = min(max(ended, call.started_at), now)
    fields = {"type": record.type, "record": record.key, "source": "placetel-records"}
    if record.duration is not None:
        fields["duration"] = record.duration
    return journal.add_synthetic_event(call, journal.RECORD_EVENT, fields, ended)


def _rate_limit_state() -> dict:
    return current_app.extensions.setdefault("placetel_call_records", {"not_before": 0.0})


def complete_open_calls(now: datetime | None = None) -> int:
    """Ask Placetel's records about the calls the journal still shows as open; returns how many
    were completed. Without an API token, while Placetel asked to wait (429), or when it is not
    reachable, nothing happens (the next run tries again)."""
    from . import voicemail

    now = now or utcnow()
    state = _rate_limit_state()
    if not placetel.api_token_set() or time.monotonic() < state["not_before"]:
        return 0
    calls = completable_calls(now)
    if not calls:
        return 0
    book, used, completed = RecordBook(), _used_record_keys(now - 2 * LOOKBACK), 0
    for call in calls:
        try:
            record = find_record(call, book, used)
        except placetel.RateLimited as exc:
            state["not_before"] = time.monotonic() + (exc.retry_after or 60)
            log.warning("Placetel call records: rate limited, next try in %s s", exc.retry_after or 60)
            break
        except placetel.PlacetelError as exc:
            log.warning("Placetel call records not available: %s", type(exc).__name__)
            break
        if record is None or (call.status == CallStatus.ACCEPTED.value and not record.duration):
            continue  # a conversation's record without a duration may be one still going on
        used.add(record.key)
        if complete_call(call, record, now):
            completed += 1
            log.info("call %s completed from Placetel's records as %s", call.call_id, record.type)
            if call.status == CallStatus.VOICEMAIL.value and record.file_url:
                voicemail.store_recording(call, record.file_url)
    return completed


def register_jobs(app: Flask, scheduler=None) -> None:
    """Add the records job (every CALL_RECORDS_INTERVAL_MINUTES, first run right now) and the
    voicemail jobs to the running APScheduler."""
    from . import voicemail
    from .extensions import scheduler as default_scheduler

    target = scheduler or default_scheduler

    def records_job():
        with app.app_context():
            try:
                complete_open_calls()
                voicemail.fetch_missing()
            finally:
                db.session.remove()

    target.add_job(records_job, "interval", minutes=app.config["CALL_RECORDS_INTERVAL_MINUTES"],
                   id=RECORDS_JOB_ID, replace_existing=True, coalesce=True, max_instances=1,
                   next_run_time=datetime.now(timezone.utc))
    voicemail.register_jobs(app, target)
