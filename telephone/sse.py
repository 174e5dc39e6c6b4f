"""One open server-sent event stream: its framing, what it has seen and how frames reach it.

Frames reach a stream one of two ways:

- Through WSGI (everywhere): the hub queues each banner and the stream's own
  request yields it, so the server writes it.
- Directly (gunicorn's gevent worker): once the stream has written everything
  queued, it hands its client socket to the hub, which then writes each frame
  itself, as an HTTP chunk, without waiting. Waking one greenlet per stream to
  write costs ~50 µs per stream, this loop ~12 µs (bench/README.md). A send
  that cannot finish at once hands its unsent bytes back; the stream writes
  them and takes the WSGI way until it has caught up.
"""
from __future__ import annotations

import queue
import socket
import sys
from typing import TYPE_CHECKING, Callable, Union

from flask import Response

if TYPE_CHECKING:
    from .banners import Banner

RETRY = b"retry: 3000\n\n"  # the browser reconnects after 3 s
HEARTBEAT = b": heartbeat\n\n"

# What a stream finds in its queue: a banner, None for a heartbeat, bytes a
# direct send could not finish (to be written before anything else), or END.
Item = Union["Banner", None, bytes, object]
# The user's session has ended (logout elsewhere, new password, deactivated): the stream stops.
END = object()


def format_sse(data: str, event: str | None = None, event_id: int | None = None) -> str:
    """One server-sent event; multi-line data becomes several `data:` lines."""
    lines = []
    if event_id is not None:
        lines.append(f"id: {event_id}")
    if event:
        lines.append(f"event: {event}")
    lines.extend(f"data: {line}" for line in data.splitlines() or [""])
    return "\n".join(lines) + "\n\n"


def http_chunk(data: bytes) -> bytes:
    """`data` in HTTP/1.1 chunked transfer coding, as the server frames what a stream yields."""
    return b"%X\r\n%s\r\n" % (len(data), data)


def direct_socket(environ: dict, server_write: Callable) -> socket.socket | None:
    """The client socket the hub may write to itself, or None for the WSGI way.

    Only under gunicorn's gevent worker, and only when gunicorn sends this body
    in HTTP chunks (`server_write` is what its `start_response` returned): every
    greenlet runs in one OS thread, so the hub's writes never interleave with
    the stream's; the hub frames its writes as gunicorn would; and gevent can
    send without waiting. The development server, the gthread worker, TLS,
    HTTP/1.0, HTTP/2 and gunicorn's uwsgi protocol take the WSGI way.
    """
    client = environ.get("gunicorn.socket")
    monkey = sys.modules.get("gevent.monkey")
    if client is None or monkey is None or not monkey.is_module_patched("socket"):
        return None
    from gevent import socket as cooperative

    if type(client) is not cooperative.socket:  # TLS sockets are a subclass
        return None
    server_response = getattr(server_write, "__self__", None)
    return client if getattr(server_response, "chunked", False) is True else None


class EventStream(Response):
    """A `text/event-stream` response that learns, as the server starts it, whether the hub may
    write its frames directly (`client`: the socket, or None)."""

    default_mimetype = "text/event-stream"
    client: socket.socket | None = None

    def __call__(self, environ, start_response):
        app_iter, status, headers = self.get_wsgi_response(environ)
        self.client = direct_socket(environ, start_response(status, headers))
        return app_iter


class StreamRefused(Response):
    """503 for a stream above the process's limit. Its connection is closed after the answer so that
    the slot is free at once: gunicorn ignores an app's `Connection: close`, so the server's own
    response object (whose `write` `start_response` returned) is told directly."""

    default_status = 503
    default_mimetype = "text/plain"

    def __call__(self, environ, start_response):
        app_iter, status, headers = self.get_wsgi_response(environ)
        server_response = getattr(start_response(status, headers), "__self__", None)
        if hasattr(server_response, "must_close"):  # gunicorn.http.wsgi.Response
            server_response.must_close = True
        return app_iter


class Subscription:
    """One open stream of one user: its queue, the newest event sent per call, its direct socket."""

    def __init__(self, user_id: int, locale: str, cursor: int = 0, session_token: str | None = None):
        self.user_id = user_id
        self.locale = locale
        # The user's session token when the stream opened; once it changes the stream ends.
        self.session_token = session_token
        self.ended = False
        # The newest event id when the stream opened: older banners are sent with this id,
        # so that a reconnect resumes after everything this stream has seen.
        self.cursor = cursor
        self._queue: queue.SimpleQueue[Item] = queue.SimpleQueue()
        self._sent: dict[str, int] = {}  # call_id → newest event id sent
        self._socket: socket.socket | None = None

    def accepts(self, banner: Banner) -> bool:
        """Whether the banner is for this user and newer than what they have; if so, counts it as sent."""
        if banner.for_user(self.user_id, self.locale) is None or banner.event_id <= self._sent.get(banner.call_id, 0):
            return False
        self._sent[banner.call_id] = banner.event_id
        return True

    def frame(self, banner: Banner) -> bytes:
        return banner.frame(self.locale, event_id=max(banner.event_id, self.cursor))

    def deliver(self, banner: Banner | None) -> None:
        """From the hub: a banner, or None for a heartbeat."""
        client = self._socket
        if self.ended:
            return
        if client is None:
            self._queue.put(banner)
            return
        if banner is not None and not self.accepts(banner):
            return
        chunk = http_chunk(self.frame(banner) if banner is not None else HEARTBEAT)
        try:
            sent = client.send(chunk, 0, 0.0)  # gevent: a timeout of 0 never waits
        except OSError:  # the client's buffer is full, or the client is gone
            sent = 0
        if sent < len(chunk):
            self._socket = None
            self._queue.put(chunk[sent:])

    def hand_over(self, client: socket.socket) -> None:
        """Let the hub write to `client` directly, once the stream has written everything queued."""
        if self._queue.empty():
            self._socket = client

    def end(self) -> None:
        """From the hub: the user's session has ended; nothing more is sent and the stream stops."""
        self.ended = True
        self._socket = None
        self._queue.put(END)

    def release(self) -> None:
        """The stream ends: its socket is the server's again, the hub must not write to it."""
        self._socket = None

    def next(self, timeout: float | None = None) -> Item:
        """Wait for the next item; streams wait without a timeout, the hub sends the heartbeats."""
        return self._queue.get(timeout=timeout)
