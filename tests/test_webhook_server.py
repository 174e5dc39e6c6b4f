"""The webhook behind the production server (gunicorn): a huge chunked body is not read to its end."""
from __future__ import annotations

import select
import socket
import time
from urllib.parse import urlsplit

from sqlalchemy import func, select as sql_select

from telephone.extensions import db
from telephone.models import CallEvent

from .calls_helpers import configure
from .servers import running_server

CHUNK = 64 * 1024
BODY_SIZE = 8 * 1024 * 1024  # 8 MB, a thousand times the webhook's limit
WAIT_PER_CHUNK = 0.2  # seconds to wait for an answer after each chunk: 25 s over the whole body


def huge_body():
    """A form body of BODY_SIZE bytes, produced chunk by chunk."""
    yield b"call_id=" + b"ab" * 32 + b"&event=IncomingCall&pad="
    for _ in range(BODY_SIZE // CHUNK):
        yield b"x" * CHUNK


def _send_chunked_until_answered(base: str, body) -> tuple[bytes, int, bool]:
    """Send `body` with Transfer-Encoding: chunked, chunk by chunk, stopping as soon as the server
    answers. Returns (the answer's first bytes, body bytes sent, whether the body was sent to its end)."""
    address = urlsplit(base)
    with socket.create_connection((address.hostname, address.port), timeout=10) as sock:
        sock.sendall(f"POST /calls/placetel/notify HTTP/1.1\r\nHost: {address.netloc}\r\n"
                     "Content-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n".encode())
        sent = 0
        for chunk in body:
            try:
                sock.sendall(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
            except OSError:  # the server closed the connection: its answer is waiting
                break
            sent += len(chunk)
            readable, _, _ = select.select([sock], [], [], WAIT_PER_CHUNK)
            if readable:
                return sock.recv(4096), sent, False
        else:
            sock.sendall(b"0\r\n\r\n")
            return sock.recv(4096), sent, True
        return sock.recv(4096), sent, False


def test_chunked_body_of_megabytes_gets_413_before_it_is_read(app, database_url):
    configure(app)
    with running_server(database_url) as base:
        started = time.monotonic()
        answer, sent, complete = _send_chunked_until_answered(base, huge_body())
        elapsed = time.monotonic() - started
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert not complete and sent < BODY_SIZE // 4, (sent, elapsed)
    with app.app_context():
        assert db.session.scalar(sql_select(func.count(CallEvent.id))) == 0
