"""`GET /events`: the server-sent event stream of call banners (one per browser)."""
from __future__ import annotations

from flask import Blueprint, Response, request
from flask_babel import get_locale
from flask_login import current_user

from .. import banners, events
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
    before streaming starts, so an idle stream holds no connection.
    """
    if not current_user.call_notifications:
        return Response(status=204)  # banners switched off: EventSource stops here
    user_id, locale = current_user.id, str(get_locale())
    hub = events.hub()
    subscription = hub.subscribe(user_id, locale)
    try:
        last_id = _last_event_id()
        initial = banners.replay(last_id, (locale,)) if last_id is not None else banners.ringing_snapshot((locale,))
        cursor = last_id if last_id is not None else banners.latest_event_id()
    except Exception:
        hub.unsubscribe(subscription)
        raise
    finally:
        db.session.remove()

    def generate():
        sent: dict[str, int] = {}
        try:
            yield b"retry: 3000\n\n"
            pending = list(initial)
            while True:
                for banner in pending:
                    html = banner.for_user(user_id, locale)
                    if html is None or banner.event_id <= sent.get(banner.call_id, 0):
                        continue
                    sent[banner.call_id] = banner.event_id
                    # Resume after everything this stream has seen, also for snapshot banners.
                    yield (banner.frame(locale) if banner.event_id >= cursor
                           else events.format_sse(html, event="call", event_id=cursor).encode())
                banner = subscription.get()
                pending = [banner] if banner else []
                if banner is None:
                    yield b": heartbeat\n\n"
        finally:
            hub.unsubscribe(subscription)

    return Response(generate(), mimetype="text/event-stream",
                    headers={"Cache-Control": "no-cache, no-transform", "X-Accel-Buffering": "no"})
