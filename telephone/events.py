"""Event bus for live call banners.

The webhook stores a CallEvent, commits, then calls `publish(call_event_id)`.
Streams (`GET /events`) subscribe and render the banner for that call. The
payload that travels between processes is only the id.
"""
from __future__ import annotations


def publish(call_event_id: int) -> None:
    """Announce a stored CallEvent to every open stream (after the commit)."""
    from flask import current_app

    bus = current_app.extensions.get("telephone.events")
    if bus is not None:
        bus.publish(call_event_id)
