"""How many idle event streams the production command holds while /healthz answers within 100 ms.

Starts the README's production command (gunicorn, gevent worker, --worker-connections
10000, reading gunicorn.conf.py) on a fresh SQLite database on 127.0.0.1, opens idle
SSE streams in steps and after each step measures the round trip of `GET /healthz`
(20 requests), one signed webhook, the worker's resident memory and how many streams
were refused (503). Stops at --max streams, when /healthz p95 exceeds 100 ms, or
when streams are refused. Needs `ulimit -n` above --max (the client holds every socket).

    .venv/bin/python bench/streams_capacity.py                  # steps up to 4000 streams
    .venv/bin/python bench/streams_capacity.py --max 2000 --step 500
    .venv/bin/python bench/streams_capacity.py --worker-connections 2000   # the old command
"""
from __future__ import annotations

import argparse
import os
import resource
import selectors
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.sse_latency import PASSWORD, SECRET, percentile, prepare_database  # noqa: E402
from tests.servers import login, notify, running_server  # noqa: E402


def open_streams(host: str, port: int, cookie: str, count: int, timeout: float = 60) -> tuple[list, int, int, int]:
    """Open `count` streams; returns (open sockets, accepted, refused with 503, unanswered or closed)."""
    selector = selectors.DefaultSelector()
    pending = {}
    for _ in range(count):
        sock = socket.create_connection((host, port))
        sock.sendall((f"GET /events HTTP/1.1\r\nHost: {host}:{port}\r\nCookie: {cookie}\r\n"
                      "Accept: text/event-stream\r\n\r\n").encode())
        sock.setblocking(False)
        selector.register(sock, selectors.EVENT_READ)
        pending[sock] = b""
    opened, accepted, refused, lost = [], 0, 0, 0
    deadline = time.monotonic() + timeout
    while pending and time.monotonic() < deadline:
        for key, _mask in selector.select(timeout=1):
            sock = key.fileobj
            try:
                chunk = sock.recv(65536)
            except BlockingIOError:
                continue
            pending[sock] += chunk
            head = pending[sock]
            if head.startswith(b"HTTP/1.1 200") and b"retry:" in head:
                accepted += 1
            elif head.startswith(b"HTTP/1.1 503") or not chunk:
                refused += head.startswith(b"HTTP/1.1 503")
                lost += not head.startswith(b"HTTP/1.1 503")
                sock.close()
            else:
                continue
            selector.unregister(sock)
            if sock.fileno() >= 0:
                opened.append(sock)
            del pending[sock]
    for sock in pending:  # never answered within the timeout
        lost += 1
        selector.unregister(sock)
        sock.close()
    selector.close()
    return opened, accepted, refused, lost


def healthz_ms(base: str, samples: int = 20) -> list[float]:
    times = []
    for _ in range(samples):
        started = time.perf_counter()
        try:
            requests.get(f"{base}/healthz", timeout=5).raise_for_status()
            times.append((time.perf_counter() - started) * 1000)
        except requests.RequestException:
            times.append(5000.0)
    return times


def worker_rss_mb(port: int) -> float:
    """Resident memory of the gunicorn processes serving `port` (arbiter + worker), from /proc."""
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if f"127.0.0.1:{port}".encode() not in (entry / "cmdline").read_bytes():
                continue
            for line in (entry / "status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--max", type=int, default=4000)
    parser.add_argument("--step", type=int, default=1000)
    parser.add_argument("--worker-connections", type=int, default=10000)
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < args.max + 100:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, args.max + 1000), hard))

    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/bench.db"
        prepare_database(url)
        with running_server(url, worker_connections=args.worker_connections) as base:
            host, port = "127.0.0.1", int(base.rsplit(":", 1)[1])
            session = login(base, "bench", PASSWORD)
            cookie = "; ".join(f"{c.name}={c.value}" for c in session.cookies)
            print(f"gunicorn gevent, --worker-connections {args.worker_connections}, {os.cpu_count()} cores; "
                  f"idle RSS {worker_rss_mb(port):.0f} MB")
            print(f"{'streams':>7} {'503':>5} {'lost':>5} {'healthz p50':>11} {'p95':>6} {'max':>6} "
                  f"{'webhook ms':>10} {'RSS MB':>7} {'KB/stream':>9}")
            base_rss = worker_rss_mb(port)
            held: list[socket.socket] = []
            refused_total, lost_total, call = 0, 0, 0
            while len(held) < args.max:
                opened, _accepted, refused, lost = open_streams(host, port, cookie,
                                                                min(args.step, args.max - len(held)))
                held += opened
                refused_total += refused
                lost_total += lost
                time.sleep(1)
                times = healthz_ms(base)
                call += 1
                started = time.perf_counter()
                notify(base, SECRET, call_id=f"{call:064x}", direction="in", event="IncomingCall",
                       **{"from": "06131123456", "to": "0221999000"})
                webhook = (time.perf_counter() - started) * 1000
                rss = worker_rss_mb(port)
                print(f"{len(held):>7} {refused_total:>5} {lost_total:>5} {statistics.median(times):>11.1f} "
                      f"{percentile(times, 95):>6.1f} {max(times):>6.1f} {webhook:>10.1f} {rss:>7.0f} "
                      f"{(rss - base_rss) * 1024 / max(len(held), 1):>9.1f}", flush=True)
                if percentile(times, 95) > 100 or refused or lost:
                    break
            for sock in held:
                sock.close()


if __name__ == "__main__":
    main()
