"""One stream's frames: deduplication, and the hub writing to the client socket directly."""
from __future__ import annotations

import threading
import time

import gevent.monkey
import pytest
from gevent import socket as cooperative

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
        data += peer.recv(size - len(data))
    return data


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
    assert subscription.next().event_id == 1
    assert subscription.next() is None  # heartbeat


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
    rest = subscription.next()
    assert isinstance(rest, bytes) and http_chunk(banner(1).frame("de")).endswith(rest)
    later = subscription.next()
    assert later.event_id == 2  # queued behind the rest, for the stream to write itself


def test_a_gone_client_hands_the_frame_back_so_the_stream_ends(connection):
    server_side, browser_side = connection
    subscription = Subscription(user_id=1, locale="de")
    subscription.hand_over(server_side)
    browser_side.close()
    for event_id in range(1, 5):  # the first send may still succeed before the reset arrives
        subscription.deliver(banner(event_id))
        if not subscription._queue.empty():
            break
    assert isinstance(subscription.next(), bytes)


def test_no_hand_over_while_the_stream_has_queued_items(connection):
    server_side, _ = connection
    subscription = Subscription(user_id=1, locale="de")
    subscription.deliver(banner(1))
    subscription.hand_over(server_side)
    subscription.deliver(banner(2))
    assert [subscription.next().event_id, subscription.next().event_id] == [1, 2]


def test_direct_socket_only_for_plain_http11_get_under_gevent(connection, gevent_worker):
    server_side, _ = connection
    environ = {"gunicorn.socket": server_side, "REQUEST_METHOD": "GET", "SERVER_PROTOCOL": "HTTP/1.1"}
    assert direct_socket(environ) is server_side
    assert direct_socket({**environ, "SERVER_PROTOCOL": "HTTP/1.0"}) is None  # not chunked
    assert direct_socket({**environ, "REQUEST_METHOD": "HEAD"}) is None
    assert direct_socket({k: v for k, v in environ.items() if k != "gunicorn.socket"}) is None


def test_direct_socket_not_outside_gevent(connection):
    server_side, _ = connection
    environ = {"gunicorn.socket": server_side, "REQUEST_METHOD": "GET", "SERVER_PROTOCOL": "HTTP/1.1"}
    assert direct_socket(environ) is None


def test_stream_hands_its_socket_to_the_hub(app, client, auth, connection, gevent_worker):
    """The view as under gunicorn's gevent worker: after the headers, the hub writes banners to the socket."""
    server_side, browser_side = connection
    app.config["SSE_HEARTBEAT_SECONDS"] = 0.05
    auth.login("anna")
    response = client.get("/events", buffered=False, environ_base={"gunicorn.socket": server_side,
                                                                   "SERVER_PROTOCOL": "HTTP/1.1"})
    chunks = iter(response.response)
    assert next(chunks).startswith(b"retry:")  # through WSGI, with the headers
    ended = []
    streaming = threading.Thread(target=lambda: ended.append(_drain(chunks)), daemon=True)
    streaming.start()
    with app.app_context():
        hub = events.hub()
    wait_until(lambda: any(s._socket is server_side for s in hub._subscriptions))

    event_id = add_event(app, "IncomingCall")
    data, frames = b"", []
    while not any(b"</article>" in frame for frame in frames):
        data += browser_side.recv(65536)
        frames, data = dechunk(data)
    [frame] = [frame for frame in frames if frame != HEARTBEAT]
    assert frame.startswith(f"id: {event_id}\nevent: call\n".encode()) and f"call-{CALL_ID}".encode() in frame

    browser_side.close()  # the browser goes away: the next heartbeat fails and the stream ends
    streaming.join(timeout=5)
    assert not streaming.is_alive() and isinstance(ended[0], OSError)
    wait_until(lambda: not hub._subscriptions)


def test_a_released_socket_is_never_written_again(connection):
    server_side, browser_side = connection
    subscription = Subscription(user_id=1, locale="de")
    subscription.hand_over(server_side)
    subscription.release()  # the stream ended; the server may use the connection otherwise
    subscription.deliver(banner(1))
    browser_side.setblocking(False)
    with pytest.raises(BlockingIOError):
        browser_side.recv(1)


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


def _drain(chunks) -> Exception | None:
    try:
        for _ in chunks:
            pass
    except OSError as exc:
        return exc
    return None


def wait_until(condition, timeout: float = 5) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.01)
