"""Real HTTP servers on 127.0.0.1 for end-to-end tests: the app itself and a fake Placetel API."""
from __future__ import annotations

import json
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from werkzeug.serving import make_server


@dataclass
class ReceivedRequest:
    method: str
    path: str
    headers: dict
    body: bytes

    def json(self):
        return json.loads(self.body)


@dataclass
class FakePlacetel:
    """Answers like Placetel's REST API v2: POST /calls → 201 empty, GET /sip_users → the list."""

    url: str = ""
    received: list[ReceivedRequest] = field(default_factory=list)
    sip_users: list[dict] = field(default_factory=list)


def _handler(fake: FakePlacetel):
    class Handler(BaseHTTPRequestHandler):
        def _record(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            fake.received.append(ReceivedRequest(self.command, self.path, dict(self.headers), self.rfile.read(length)))

        def do_POST(self):  # noqa: N802 (http.server's naming)
            self._record()
            if self.path == "/v2/calls":
                self.send_response(201)
                self.send_header("Content-Length", "0")
                self.end_headers()
            else:
                self._json(404, {"error": "Not found"})

        def do_GET(self):  # noqa: N802
            self._record()
            if self.path == "/v2/sip_users":
                self._json(200, fake.sip_users)
            else:
                self._json(404, {"error": "Not found"})

        def _json(self, status: int, payload) -> None:
            body = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args) -> None:  # keep test output quiet
            pass

    return Handler


@contextmanager
def _running(server, serve):
    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@contextmanager
def fake_placetel():
    """A fake Placetel API on 127.0.0.1 (free port); yields FakePlacetel with its base URL."""
    fake = FakePlacetel()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    fake.url = f"http://127.0.0.1:{server.server_address[1]}/v2"
    with _running(server, server.serve_forever):
        yield fake


@contextmanager
def serve_app(app):
    """Serve the Flask app with werkzeug on 127.0.0.1 (free port, threaded); yields its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    with _running(server, server.serve_forever):
        yield f"http://127.0.0.1:{server.server_port}"
