"""One stream's frames: deduplication, and the hub writing to the client socket directly."""
from __future__ import annotations

import ssl
import threading
import time
from types import SimpleNamespace

import gevent.monkey
import pytest
from gevent import socket as cooperative
from gevent import ssl as cooperative_ssl
from gunicorn.http.wsgi import Response as GunicornResponse
from werkzeug.test import EnvironBuilder

from telephone import events
from telephone.banners import Banner
from telephone.sse import HEARTBEAT, Subscription, direct_socket, http_chunk

from .test_events import CALL_ID, add_event


def banner(event_id: int, call_id: str = CALL_ID, **fields) -> Banner:
    html = f'<article id="call-{call_id}">Eingehender Anruf {event_id}</article>'
    return Banner(event_id=event_id, call_id=call_id, html={"de": html}, recipients=fields.pop("recipients", None),
                  **fields)


def read_exactly(peer, size: int) -> bytes:
    data = b""
    while len(data) < size:
        received = peer.recv(size - len(data))
        assert received, "the connection was closed"
        data += received
    return data


def gunicorn_response(client, version=(1, 1), method="GET", protocol="http") -> GunicornResponse:
    """gunicorn's own response object for a request on `client`: it decides the chunking."""
    request = SimpleNamespace(version=version, method=method, should_close=lambda: False)
    return GunicornResponse(request, client, SimpleNamespace(protocol=protocol))


def next_item(subscription: Subscription):
    return subscription.next(timeout=5)


@pytest.fixture
def connection():
    """A cooperative client socket as gunicorn's gevent worker has it, and the browser's end."""
    server_side, browser_side = cooperative.socketpair()
    browser_side.settimeout(5)
    yield server_side, browser_side
    server_side.close()
    browser_side.close()


@pytest.fixture
def gevent_worker(monkeypatch):
    """Pretend to run in gunicorn's gevent worker, where gevent has patched the socket module."""
    monkeypatch.setattr(gevent.monkey, "is_module_patched", lambda name: name == "socket")


def test_http_chunk_is_size_in_hex_then_data():
    assert http_chunk(b"x" * 26) == b"1A\r\n" + b"x" * 26 + b"\r\n"


def test_a_stream_gets_each_call_state_once_and_never_an_older_one():
    subscription = Subscription(user_id=1, locale="de")
    assert subscription.accepts(banner(5))
    assert not subscription.accepts(banner(5))  # the snapshot and a live event can carry the same state
    assert not subscription.accepts(banner(4))
    assert subscription.accepts(banner(4, call_id="b" * 64))
    assert not subscription.accepts(banner(6, recipients=frozenset({2})))
    assert not subscription.accepts(banner(7, muted=frozenset({1})))


def test_banners_older_than_the_stream_carry_its_cursor_as_id():
    subscription = Subscription(user_id=1, locale="de", cursor=10)
    assert subscription.frame(banner(8)).startswith(b"id: 10\nevent: call\n")
    assert subscription.frame(banner(12)).startswith(b"id: 12\nevent: call\n")


def test_without_a_socket_the_hub_queues_for_the_stream():
    subscription = Subscription(user_id=1, locale="de")
    subscription.deliver(banner(1))
    subscription.deliver(None)
    assert next_item(subscription).event_id == 1
    assert next_item(subscription) is None  # heartbeat


def test_handed_over_socket_gets_banners_and_heartbeats_as_chunks(connection):
    server_side, browser_side = connection
    subscription = Subscription(user_id=1, locale="de")
    subscription.hand_over(server_side)
    subscription.deliver(banner(1))
    subscription.deliver(banner(1))  # already sent
    subscription.deliver(banner(2, muted=frozenset({1})))  # not for this user
    subscription.deliver(None)
    expected = http_chunk(banner(1).frame("de")) + http_chunk(HEARTBEAT)
    assert read_exactly(browser_side, len(expected)) == expected
    browser_side.setblocking(False)
    with pytest.raises(BlockingIOError):
        browser_side.recv(1)  # nothing else was written
    assert subscription._queue.empty()


def test_a_send_that_cannot_finish_hands_the_rest_back_in_order(connection):
    server_side, browser_side = connection
    subscription = Subscription(user_id=1, locale="de")
    subscription.hand_over(server_side)
    filler = b"x" * 65536
    while True:  # the browser stopped reading: fill its buffer
        try:
            server_side.send(filler, 0, 0.0)
        except BlockingIOError:
            break
    subscription.deliver(banner(1))
    subscription.deliver(banner(2, call_id="b" * 64))
    assert next_item(subscription) == http_chunk(banner(1).frame("de"))  # nothing of it was sent
    later = next_item(subscription)
    assert later.event_id == 2  # queued behind the rest, for the stream to write itself


class HalfSending:
    """A socket that takes half of what it is given, like one with little room left."""

    def __init__(self):
        self.sent = b""

    def send(self, data, flags, timeout):
        self.sent += data[:len(data) // 2]
        return len(data) // 2


def test_a_partly_sent_frame_is_finished_by_the_stream_before_anything_else():
    client = HalfSending()
    subscription = Subscription(user_id=1, locale="de")
    subscription.hand_over(client)
    subscription.deliver(banner(1))
    subscription.deliver(None)
    chunk = http_chunk(banner(1).frame("de"))
    assert client.sent + next_item(subscription) == chunk
    assert next_item(subscription) is None  # the heartbeat waits for the stream, behind the rest
    assert client.sent == chunk[:len(chunk) // 2]


def test_a_gone_client_hands_the_frame_back_so_the_stream_ends(connection):
    server_side, browser_side = connection
    subscription = Subscription(user_id=1, locale="de")
    subscription.hand_over(server_side)
    browser_side.close()
    for event_id in range(1, 5):  # the first send may still succeed before the reset arrives
        subscription.deliver(banner(event_id))
        if not subscription._queue.empty():
            break
    assert isinstance(next_item(subscription), bytes)


def test_no_hand_over_while_the_stream_has_queued_items(connection):
    server_side, _ = connection
    subscription = Subscription(user_id=1, locale="de")
    subscription.deliver(banner(1))
    subscription.hand_over(server_side)
    subscription.deliver(banner(2))
    assert [next_item(subscription).event_id, next_item(subscription).event_id] == [1, 2]


def test_direct_socket_only_where_gunicorn_chunks_the_body(connection, gevent_worker):
    server_side, _ = connection
    environ = {"gunicorn.socket": server_side}

    def started(**request):
        return gunicorn_response(server_side, **request).start_response("200 OK", [])

    assert direct_socket(environ, started()) is server_side
    assert direct_socket(environ, started(version=(1, 0))) is None  # HTTP/1.0: not chunked
    assert direct_socket(environ, started(method="HEAD")) is None
    assert direct_socket(environ, started(protocol="uwsgi")) is None  # nginx frames the body itself
    assert direct_socket({}, started()) is None  # not gunicorn
    assert direct_socket(environ, [].append) is None  # a server that does not say how it frames


def test_direct_socket_not_for_tls(connection, gevent_worker):
    server_side, _ = connection
    context = cooperative_ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    tls = context.wrap_socket(server_side, do_handshake_on_connect=False, server_hostname="telefon.example.de")
    try:
        write = gunicorn_response(tls).start_response("200 OK", [])
        assert direct_socket({"gunicorn.socket": tls}, write) is None
    finally:
        tls.close()


def test_direct_socket_not_outside_gevent(connection):
    server_side, _ = connection
    write = gunicorn_response(server_side).start_response("200 OK", [])
    assert direct_socket({"gunicorn.socket": server_side}, write) is None


def test_stream_hands_its_socket_to_the_hub(app, client, auth, connection, gevent_worker):
    """The view served as gunicorn's worker serves it: after the headers, the hub writes the banners."""
    server_side, browser_side = connection
    app.config["SSE_HEARTBEAT_SECONDS"] = 0.05
    auth.login("anna")
    session = client.get_cookie("session")
    environ = EnvironBuilder(path="/events", headers={"Cookie": f"session={session.value}"}).get_environ()
    environ["gunicorn.socket"] = server_side
    server_response = gunicorn_response(server_side)
    body = app(environ, server_response.start_response)
    served = []

    def serve():  # gunicorn's worker: write every item the app yields
        try:
            for item in body:
                server_response.write(item)
        except OSError as exc:
            served.append(exc)
        finally:
            body.close()

    worker = threading.Thread(target=serve, daemon=True)
    worker.start()
    with app.app_context():
        hub = events.hub()
    wait_until(lambda: any(s._socket is server_side for s in hub._subscriptions))
    [subscription] = hub._subscriptions

    event_id = add_event(app, "IncomingCall")
    head, frames = b"", []
    while b"\r\n\r\n" not in head:
        head += read_exactly(browser_side, 1)
    assert b"Transfer-Encoding: chunked" in head and b"text/event-stream" in head
    data = b""
    while not any(b"</article>" in frame for frame in frames):
        received = browser_side.recv(65536)
        assert received, "the server closed the stream"
        chunks, data = dechunk(data + received)
        frames += chunks
    assert frames[0].startswith(b"retry:")
    [frame] = [frame for frame in frames[1:] if frame != HEARTBEAT]
    assert frame.startswith(f"id: {event_id}\nevent: call\n".encode()) and f"call-{CALL_ID}".encode() in frame

    browser_side.close()  # the browser goes away: the next heartbeat fails and the stream ends
    worker.join(timeout=5)
    assert not worker.is_alive() and isinstance(served[0], OSError)
    wait_until(lambda: not hub._subscriptions)
    assert subscription._socket is None  # released: the hub never writes to this connection again


def dechunk(data: bytes) -> tuple[list[bytes], bytes]:
    """The complete HTTP chunks at the start of `data`, and what follows them."""
    chunks = []
    while b"\r\n" in data:
        size, _, rest = data.partition(b"\r\n")
        length = int(size, 16)
        if len(rest) < length + 2:
            break
        assert rest[length:length + 2] == b"\r\n", "malformed chunk"
        chunks.append(rest[:length])
        data = rest[length + 2:]
    return chunks, data


def wait_until(condition, timeout: float = 5) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.01)
