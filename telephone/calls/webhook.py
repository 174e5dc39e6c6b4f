"""The Placetel Notify webhook: signature check, parsing, idempotent storage – answered at once.

Two URLs lead here: `/calls/placetel/notify` and the Xentral one,
`/index.php?module=callcenter&action=call&provider=placetel`, so that offices
moving from Xentral keep the URL configured in the Placetel portal.
"""
from __future__ import annotations

import time

from flask import abort, current_app, request

from .. import journal, placetel, public, routing, site_settings
from ..extensions import csrf, db
from . import bp

XENTRAL_ARGS = {"module": "callcenter", "action": "call", "provider": "placetel"}


def _plain(text: str, status: int):
    return text, status, {"Content-Type": "text/plain; charset=utf-8"}


def _handle_notify():
    """Check size and signature on the raw body, then parse and store the event."""
    if (request.content_length or 0) > placetel.MAX_NOTIFY_BYTES:
        return _plain("Anfrage zu groß / request body too large.", 400)
    raw_body = request.get_data(cache=True)  # before request.form: the HMAC covers the raw bytes
    if len(raw_body) > placetel.MAX_NOTIFY_BYTES:
        return _plain("Anfrage zu groß / request body too large.", 400)
    secret = site_settings.get("placetel.shared_secret")
    if secret:
        header = request.headers.get(placetel.SIGNATURE_HEADER)
        if not placetel.verify_signature(raw_body, header, secret):
            current_app.logger.warning(
                "Placetel notify from %s refused: signature %s", request.remote_addr,
                "wrong" if header else "missing",
            )
            return _plain("Signatur fehlt oder ist falsch / signature missing or wrong.", 403)
    try:
        notify = placetel.parse_notify(request.form)
    except placetel.InvalidNotify as exc:
        current_app.logger.info("Placetel notify refused: %s", exc)
        return _plain(str(exc), 400)
    decision = _route(notify)
    journal.record_event(notify, {"routing": decision.note, "blocked": decision.blocked} if decision else None)
    if decision is not None:
        return decision.xml, 200, {"Content-Type": "application/xml; charset=utf-8"}
    return _plain("OK", 200)


def _route(notify: placetel.NotifyEvent) -> routing.Decision | None:
    """Call Control for an IncomingCall; None (Placetel's own routing) on any doubt or when too slow."""
    if notify.event != "IncomingCall":
        return None
    started = time.perf_counter()
    try:
        decision = routing.decide(notify.from_number, notify.to_number)
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
