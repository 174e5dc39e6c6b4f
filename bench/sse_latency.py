"""Latency of live call banners: webhook → every SSE client, at 100 and 500 clients.

Starts the production server command (gunicorn, gevent worker) on a fresh
database, opens N server-sent-event streams, posts signed IncomingCall
webhooks and measures, for every client, the time from the webhook's send to
the banner's receipt. All sockets are read in one epoll loop that takes one
timestamp per select(), so the client's own parsing is not counted as latency.
For comparison it measures the plain round trip of `GET /healthz` in the same run.

    .venv/bin/python bench/sse_latency.py                 # 100 and 500 clients, SQLite
    .venv/bin/python bench/sse_latency.py --clients 500 --events 30
    BENCH_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/bench .venv/bin/python bench/sse_latency.py
"""
from __future__ import annotations

import argparse
import os
import selectors
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from telephone.placetel import sign  # noqa: E402
from bench.stats import percentile  # noqa: E402
from tests.servers import login, running_server  # noqa: E402

SECRET = "bench-secret"
PASSWORD = "bench-password"



def prepare_database(url: str) -> None:
    env = {**os.environ, "DATABASE_URL": url, "SCHEDULER_ENABLED": "0",
           "SECRET_KEY": "test-secret-key"}
    flask = [sys.executable, "-m", "flask", "--app", "app"]
    for args in (["db", "upgrade"], ["users", "create", "bench", "--password", PASSWORD],
                 ["settings", "set", "placetel.shared_secret", SECRET]):
        subprocess.run(flask + args, cwd=ROOT, env=env, check=True, capture_output=True)


class Stream:
    """One SSE stream on a plain non-blocking socket; remembers when each call's banner arrived."""

    MARKER = b'<article id="call-'

    def __init__(self, host: str, port: int, cookie: str):
        self.sock = socket.create_connection((host, port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.sendall((f"GET /events HTTP/1.1\r\nHost: {host}:{port}\r\nCookie: {cookie}\r\n"
                           "Accept: text/event-stream\r\n\r\n").encode())
        self.sock.setblocking(False)
        self.connected = False
        self.received: dict[str, float] = {}
        self._buffer = b""

    def read(self, now: float) -> None:
        """Read what the kernel holds; `now` is when select() reported it (data arrived before)."""
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("stream closed by the server")
        buffer = self._buffer + chunk
        self.connected = self.connected or b"retry:" in buffer
        while (start := buffer.find(self.MARKER)) >= 0:
            start += len(self.MARKER)
            end = buffer.find(b'"', start)
            if end < 0:
                break
            self.received.setdefault(buffer[start:end].decode(), now)
            buffer = buffer[end:]
        self._buffer = buffer[-200:]


class Webhook:
    """One signed Notify request on its own connection, sent without blocking the streams' loop."""

    def __init__(self, host: str, port: int, **fields):
        body = urlencode(sorted(fields.items()))
        self.request = (f"POST /calls/placetel/notify HTTP/1.1\r\nHost: {host}:{port}\r\n"
                        "Content-Type: application/x-www-form-urlencoded\r\n"
                        f"X-PLACETEL-SIGNATURE: {sign(body.encode(), SECRET)}\r\n"
                        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n{body}").encode()
        self.sock = socket.create_connection((host, port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.response = b""
        self.answered: float | None = None

    def send(self) -> float:
        self.sock.sendall(self.request)
        self.sock.setblocking(False)
        return time.perf_counter()

    def read(self, now: float) -> None:
        chunk = self.sock.recv(65536)
        self.response += chunk
        if not chunk:
            self.answered = now
            self.sock.close()
            if not self.response.startswith(b"HTTP/1.1 200"):
                raise RuntimeError(f"webhook refused: {self.response[:300]!r}")


def run_until(selector: selectors.BaseSelector, done, timeout: float = 5) -> None:
    """Read every ready socket until `done()` or the timeout; one timestamp per select()."""
    deadline = time.perf_counter() + timeout
    while not done() and time.perf_counter() < deadline:
        ready = selector.select(timeout=0.05)
        now = time.perf_counter()
        for key, _ in ready:
            key.data.read(now)


def post_and_wait(selector, host: str, port: int, until=lambda: True, **fields) -> tuple[float, float]:
    """Post one webhook and read every socket until it has answered and `until()` holds.

    Returns when it was sent and when its answer arrived.
    """
    webhook = Webhook(host, port, **fields)
    selector.register(webhook.sock, selectors.EVENT_READ, webhook)
    sent = webhook.send()
    run_until(selector, lambda: webhook.answered is not None and until())
    selector.unregister(webhook.sock)
    if webhook.answered is None:
        raise RuntimeError("the webhook did not answer within 5 s")
    return sent, webhook.answered


def measure(base: str, clients_count: int, events: int) -> dict:
    session = login(base, "bench", PASSWORD)
    cookie = "; ".join(f"{c.name}={c.value}" for c in session.cookies)
    host, port = base.removeprefix("http://").split(":")
    port = int(port)
    selector = selectors.DefaultSelector()
    streams = [Stream(host, port, cookie) for _ in range(clients_count)]
    for stream in streams:
        selector.register(stream.sock, selectors.EVENT_READ, stream)
    run_until(selector, lambda: all(s.connected for s in streams), timeout=60)
    run_until(selector, lambda: False, timeout=0.5)
    latencies, webhook_times, missing = [], [], 0
    run = time.time_ns()
    for number in range(events):
        call_id = f"{run:032x}{number:032x}"
        caller = {"from": f"0613112{number:04d}", "to": "0221999000"}
        sent, answered = post_and_wait(selector, host, port, until=lambda: all(call_id in s.received for s in streams),
                                       call_id=call_id, direction="in", event="IncomingCall", **caller)
        webhook_times.append((answered - sent) * 1000)
        for stream in streams:
            if call_id in stream.received:
                latencies.append((stream.received[call_id] - sent) * 1000)
            else:
                missing += 1
        # End the call, so that it is not in the snapshot of later connections.
        post_and_wait(selector, host, port, call_id=call_id, direction="in", event="HungUp", duration="0",
                      type="missed", **caller)
        run_until(selector, lambda: False, timeout=0.1)
    healthz = []
    for _ in range(events * 5):
        started = time.perf_counter()
        requests.get(f"{base}/healthz", timeout=5)
        healthz.append((time.perf_counter() - started) * 1000)
    for stream in streams:
        selector.unregister(stream.sock)
        stream.sock.close()
    return {"latencies": latencies, "missing": missing, "healthz": healthz, "webhook": webhook_times}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, nargs="+", default=[100, 500])
    parser.add_argument("--events", type=int, default=20)
    parser.add_argument("--worker-class", default="gevent", choices=["gevent", "gthread"])
    parser.add_argument("--workers", type=int, default=1,
                        help="gunicorn --workers; more than one needs EVENT_BUS_URL (redis:// or postgresql://)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        url = os.environ.get("BENCH_DATABASE_URL") or f"sqlite:///{tmp}/bench.db"
        prepare_database(url)
        print(f"database: {url.split('@')[-1]}; event bus: {os.environ.get('EVENT_BUS_URL') or 'in-process'}; "
              f"server: gunicorn {args.worker_class}, {args.workers} worker(s); {os.cpu_count()} cores")
        print(f"{'clients':>7} {'events':>6} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} {'max ms':>7} "
              f"{'missing':>7} | {'webhook p50':>11} {'p95':>6} | {'healthz p50':>11} {'p95':>6}")
        for count in args.clients:
            with running_server(url, workers=args.workers, worker_class=args.worker_class) as base:
                result = measure(base, count, args.events)
            lat, hz, wh = result["latencies"], result["healthz"], result["webhook"]
            print(f"{count:>7} {args.events:>6} {statistics.median(lat):>7.1f} {percentile(lat, 95):>7.1f} "
                  f"{percentile(lat, 99):>7.1f} {max(lat):>7.1f} {result['missing']:>7} | "
                  f"{statistics.median(wh):>11.1f} {percentile(wh, 95):>6.1f} | "
                  f"{statistics.median(hz):>11.1f} {percentile(hz, 95):>6.1f}", flush=True)


if __name__ == "__main__":
    main()
