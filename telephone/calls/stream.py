"""`GET /events`: the server-sent event stream of call banners (one per browser)."""
from __future__ import annotations

from flask import Blueprint, Response, abort, current_app, request
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user

from .. import banners, events, sse
from ..extensions import db

# The stream lives at /events (CONTRACT.md), outside the /calls prefix.
stream_bp = Blueprint("events", __name__)


def _last_event_id() -> int | None:
    """The id a reconnecting EventSource sends; None for a fresh connection."""
    value = request.headers.get("Last-Event-ID") or request.args.get("lastEventId")
    try:
        return max(int(value), 0) if value not in (None, "") else None
    except ValueError:
        return None


@stream_bp.get("/events")
def stream():
    """Stream `call` events whose data is one banner's HTML, with heartbeats.

    On connect: the calls still ringing, or, when resuming with Last-Event-ID,
    every banner that changed since. The request's database session is released
    before streaming starts, so an idle stream holds no connection. Above the
    process's stream limit (Hub.stream_limit) the answer is 503 with Retry-After.
    """
    if not current_user.call_notifications:
        return Response(status=204)  # banners switched off: EventSource stops here
    headers = {"Cache-Control": "no-cache, no-transform", "X-Accel-Buffering": "no"}
    if request.method == "HEAD":  # no body, so no stream to subscribe
        return sse.EventStream(headers=headers)
    hub = events.hub()
    subscription = hub.subscribe(current_user.id, str(get_locale()), current_user.session_token)
    if subscription is None:  # all stream slots taken: the browser retries later (event-worker.js, htmx sse)
        db.session.remove()
        retry_after = str(current_app.config.get("EVENT_STREAM_RETRY_AFTER", 30))
        return sse.StreamRefused(_("Zu viele offene Verbindungen, bitte später erneut versuchen.") + "\n",
                                 headers={"Retry-After": retry_after, "Cache-Control": "no-store"})
    try:
        last_id = _last_event_id()
        locales = (subscription.locale,)
        initial = banners.replay(last_id, locales) if last_id is not None else banners.ringing_snapshot(locales)
        subscription.cursor = last_id if last_id is not None else banners.latest_event_id()
    except Exception:
        hub.unsubscribe(subscription)
        raise
    finally:
        db.session.remove()

    def generate(response: sse.EventStream):
        try:
            yield sse.RETRY  # the response headers go out with it
            pending: list = list(initial)
            while True:
                for item in pending:
                    if item is sse.END:
                        return
                    if isinstance(item, bytes):  # the rest of a direct send: write it before anything else
                        response.client.sendall(item)
                    elif item is None:
                        yield sse.HEARTBEAT
                    elif subscription.accepts(item):
                        yield subscription.frame(item)
                if response.client is not None:
                    subscription.hand_over(response.client)
                pending = [subscription.next()]
        finally:
            subscription.release()
            hub.unsubscribe(subscription)

    response = sse.EventStream(headers=headers)
    response.response = generate(response)  # the body needs to know how the server started it
    return response


@stream_bp.post("/banners/<call_id>/dismiss")
def dismiss(call_id: str):
    """The close button of a banner: the call's banner stays closed for this user in every tab and
    on every device (the snapshot and replay of a connecting stream leave it out)."""
    if len(call_id) > 128 or not banners.dismiss(current_user, call_id):
        abort(404)
    db.session.commit()
    return Response(status=204)
