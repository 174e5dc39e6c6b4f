"""The Placetel Notify webhook: size and authorisation first, then parsing and idempotent storage.

Two URLs lead here: `/calls/placetel/notify` and the Xentral one,
`/index.php?module=callcenter&action=call&provider=placetel`, so that offices
moving from Xentral keep the URL configured in the Placetel portal.
"""
from __future__ import annotations

import time
from urllib.parse import parse_qsl

from flask import abort, current_app, request
from werkzeug.datastructures import MultiDict

from .. import database, journal, messages, numbers, placetel, public, routing, voicemail
from ..extensions import csrf, db
from . import bp

XENTRAL_ARGS = {"module": "callcenter", "action": "call", "provider": "placetel"}
TOO_LARGE = "Anfrage zu groß / request body too large."


def _plain(text: str, status: int):
    return text, status, {"Content-Type": "text/plain; charset=utf-8"}


def read_limited_body(limit: int) -> bytes | None:
    """The raw request body, or None when it is longer than `limit` bytes.

    Reads at most limit + 1 bytes from the input stream, so a huge (e.g. chunked)
    body is never read into memory.
    """
    declared = request.content_length
    if declared is not None and declared > limit:
        return None
    stream = request.stream
    chunks, size = [], 0
    while size <= limit:
        chunk = stream.read(limit + 1 - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return None if size > limit else b"".join(chunks)


def notify_form(raw_body: bytes) -> MultiDict:
    """The form fields of a Notify body, whatever Content-Type came with it (keys in any order)."""
    text = raw_body.decode("utf-8", "replace")
    return MultiDict(parse_qsl(text, keep_blank_values=True))


def _handle_notify():
    """Check size and authorisation on the raw body, then parse and store the event."""
    raw_body = read_limited_body(placetel.MAX_NOTIFY_BYTES)
    if raw_body is None:
        return _plain(TOO_LARGE, 413)
    database.statements_commit_themselves()  # the event and its call are stored by one statement
    refusal = placetel.notify_refusal(raw_body, request.headers.get(placetel.SIGNATURE_HEADER),
                                      request.headers.get("Authorization"))
    if refusal:
        current_app.logger.warning("Placetel notify from %s refused: %s", request.remote_addr, refusal)
        return _plain("Signatur oder Zugangsdaten fehlen oder sind falsch / "
                      "signature or credentials missing or wrong.", 403)
    try:
        notify = placetel.parse_notify(notify_form(raw_body))
    except placetel.InvalidNotify as exc:
        current_app.logger.info("Placetel notify refused: %s", exc)
        return _plain(str(exc), 400)
    caller = numbers.CallerLookup(notify.from_number)  # Call Control and the journal share it
    decision = _route(notify, caller)
    recorded = journal.record_event(notify, {"routing": decision.note, "routing_message": messages.to_stored(decision.note),
                                             "blocked": decision.blocked} if decision else None, caller)
    voicemail.after_event(notify, recorded)  # a mailbox message is downloaded in the background
    if decision is not None:
        return decision.xml, 200, {"Content-Type": "application/xml; charset=utf-8"}
    return _plain("OK", 200)


def _route(notify: placetel.NotifyEvent, caller: numbers.CallerLookup) -> routing.Decision | None:
    """Call Control for an IncomingCall; None (Placetel's own routing) on any doubt or when too slow."""
    if notify.event != "IncomingCall":
        return None
    started = time.perf_counter()
    try:
        decision = routing.decide(notify.from_number, notify.to_number, lookup=caller)
    except Exception:  # a routing fault must never cost the call: Placetel's backup routing takes over
        current_app.logger.exception("Call Control failed for call %s; Placetel routes it", notify.call_id)
        db.session.rollback()
        return None
    elapsed_ms = (time.perf_counter() - started) * 1000
    if decision is not None and elapsed_ms > current_app.config["ROUTING_BUDGET_MS"]:
        current_app.logger.warning("Call Control took %.0f ms for call %s; Placetel routes it", elapsed_ms,
                                   notify.call_id)
        return None
    return decision


@bp.post("/placetel/notify", endpoint="notify")
@public
@csrf.exempt
def notify():
    """Placetel Notify API endpoint."""
    return _handle_notify()


@public
@csrf.exempt
def xentral_notify():
    """The same webhook under Xentral's URL; other query arguments are not ours."""
    if any(request.args.get(key) != value for key, value in XENTRAL_ARGS.items()):
        abort(404)
    return _handle_notify()


@bp.record_once
def _register_xentral_url(state):
    state.app.add_url_rule("/index.php", endpoint="calls.xentral_notify", view_func=xentral_notify,
                           methods=["POST"])
