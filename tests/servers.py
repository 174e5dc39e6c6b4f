"""Real HTTP servers on 127.0.0.1 for end-to-end tests.

- `running_server`: the production gunicorn command in a subprocess (browser and multi-process tests);
- `serve_app`: the app under test served by werkzeug in a thread;
- `fake_placetel`: a fake Placetel REST API in a thread.
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import requests
from werkzeug.serving import make_server

from telephone.placetel import sign

from .conftest import csrf_token_from

ROOT = Path(__file__).resolve().parents[1]
SECRET_KEY = "test-secret-key"  # the same as the test app, so secrets stored by tests are readable


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def gunicorn_command(port: int, workers: int = 1, worker_class: str = "gevent",
                     worker_connections: int = 10000) -> list[str]:
    """The production command of README.md, bound to localhost (it reads ./gunicorn.conf.py too)."""
    capacity = (["--worker-connections", str(worker_connections)] if worker_class == "gevent"
                else ["--threads", "1000"])
    return [sys.executable, "-m", "gunicorn", "--worker-class", worker_class, "--workers", str(workers), *capacity,
            "--bind", f"127.0.0.1:{port}", "--timeout", "60", "--graceful-timeout", "2", "app:app"]


@contextmanager
def running_server(database_url: str, workers: int = 1, worker_class: str = "gevent",
                   worker_connections: int = 10000, **env):
    """Start the app with gunicorn against `database_url`; yields its base URL."""
    port = free_port()
    environment = {**os.environ, "DATABASE_URL": database_url, "SECRET_KEY": SECRET_KEY,
                   "SCHEDULER_ENABLED": "0", **{k: str(v) for k, v in env.items()}}
    environment.pop("TEST_DATABASE_URL", None)
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(gunicorn_command(port, workers, worker_class, worker_connections), cwd=ROOT,
                                   env=environment,
                                   stdout=log, stderr=subprocess.STDOUT)
        base = f"http://127.0.0.1:{port}"
        try:
            _wait_until_healthy(base, process, log)
            yield base
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_until_healthy(base: str, process: subprocess.Popen, log) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log.seek(0)
            raise RuntimeError(f"server exited with {process.returncode}:\n{log.read().decode()[-3000:]}")
        try:
            if requests.get(f"{base}/healthz", timeout=2).status_code == 200:
                return
        except (requests.ConnectionError, requests.Timeout):  # still booting
            pass
        time.sleep(0.1)
    raise RuntimeError("server did not become healthy within 30 s")


def login(base: str, username: str, password: str) -> requests.Session:
    """A requests session logged in through the real login form (with its CSRF token)."""
    session = requests.Session()
    token = csrf_token_from(session.get(f"{base}/login", timeout=5).text)
    response = session.post(f"{base}/login", data={"username": username, "password": password, "csrf_token": token},
                            allow_redirects=False, timeout=5)
    assert response.status_code == 302, response.text
    return session


def signed(body: str, secret: str) -> dict[str, str]:
    """Headers of a Notify request as Placetel signs it."""
    return {"Content-Type": "application/x-www-form-urlencoded", "X-PLACETEL-SIGNATURE": sign(body.encode(), secret)}


def notify(base: str, secret: str, **fields) -> requests.Response:
    """Post one Notify event (keys in alphabetical order, as Placetel sends them)."""
    from urllib.parse import urlencode

    body = urlencode(sorted(fields.items()))
    return requests.post(f"{base}/calls/placetel/notify", data=body, headers=signed(body, secret), timeout=5)


# --------------------------------------------------------------------------- in-thread servers


@dataclass
class ReceivedRequest:
    method: str
    path: str
    headers: dict
    body: bytes

    def json(self):
        return json.loads(self.body)


def sip_users_page(sip_users: list[dict], query: dict[str, list[str]]) -> list[dict]:
    """One page of GET /sip_users as Placetel pages it: `page` from 1, `per_page` 25 by default, 100 at most."""
    def number(key: str, default: int) -> int:
        value = (query.get(key) or [""])[0]
        return int(value) if value.isdigit() and int(value) > 0 else default

    per_page = min(number("per_page", 25), 100)
    start = (number("page", 1) - 1) * per_page
    return sip_users[start:start + per_page]


def many_sip_users(count: int) -> list[dict]:
    """`count` SIP users as Placetel lists them (every third offline), for paging tests."""
    return [{"id": index, "sipuid": f"7770{index:05d}@fpbx.de", "name": f"Telefon {index:03d}",
             "callerid": f"+4922199{index:04d}", "did": str(100 + index), "online": index % 3 != 0,
             "type": "standard", "username": f"7770{index:05d}", "domain": "fpbx.de"}
            for index in range(1, count + 1)]


def paged_sip_users(sip_users: list[dict]):
    """A requests-mock callback answering GET /sip_users from `sip_users`, paged like Placetel."""
    def answer(request, context):
        return sip_users_page(sip_users, parse_qs(urlsplit(request.url).query))
    return answer


@dataclass
class FakePlacetel:
    """Answers like Placetel's REST API v2: POST /calls → 201 empty, GET /sip_users → the list, /contacts."""

    url: str = ""
    received: list[ReceivedRequest] = field(default_factory=list)
    sip_users: list[dict] = field(default_factory=list)
    # Placetel's own phonebook (/contacts): id → contact; new ids count up from 1000
    contacts: dict[int, dict] = field(default_factory=dict)


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
            elif self.path == "/v2/contacts":
                contact_id = max(fake.contacts, default=999) + 1
                fake.contacts[contact_id] = {"id": contact_id, **fake.received[-1].json()}
                self._json(201, fake.contacts[contact_id])
            else:
                self._json(404, {"error": "Not found"})

        def do_GET(self):  # noqa: N802
            self._record()
            url = urlsplit(self.path)
            if url.path == "/v2/sip_users":
                self._json(200, sip_users_page(fake.sip_users, parse_qs(url.query)))
            else:
                self._json(404, {"error": "Not found"})

        def do_PUT(self):  # noqa: N802
            self._record()
            contact_id = self._contact_id()
            if contact_id in fake.contacts:
                fake.contacts[contact_id] = {"id": contact_id, **fake.received[-1].json()}
                self._json(200, fake.contacts[contact_id])
            else:
                self._json(404, {"error": "Not found"})

        def do_DELETE(self):  # noqa: N802
            self._record()
            if fake.contacts.pop(self._contact_id(), None) is None:
                self._json(404, {"error": "Not found"})
            else:
                self.send_response(204)
                self.end_headers()

        def _contact_id(self) -> int | None:
            prefix = "/v2/contacts/"
            rest = self.path[len(prefix):] if self.path.startswith(prefix) else ""
            return int(rest) if rest.isdigit() else None

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
