"""Latency of live call banners: webhook → every SSE client, at 100 and 500 clients.

Starts the production server command (gunicorn, gthread worker) on a fresh
database, opens N server-sent-event streams with asyncio, posts signed
IncomingCall webhooks and measures, for every client, the time from the
webhook's send to the banner's receipt. For comparison it measures the plain
round trip of `GET /healthz` in the same run.

    .venv/bin/python bench/sse_latency.py                 # 100 and 500 clients, SQLite
    .venv/bin/python bench/sse_latency.py --clients 500 --events 30
    BENCH_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/bench .venv/bin/python bench/sse_latency.py
"""
from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.servers import login, notify, running_server  # noqa: E402

SECRET = "bench-secret"
PASSWORD = "bench-password"


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[index]


def prepare_database(url: str) -> None:
    env = {**os.environ, "DATABASE_URL": url, "SCHEDULER_ENABLED": "0",
           "SECRET_KEY": "test-secret-key"}
    flask = [sys.executable, "-m", "flask", "--app", "app"]
    for args in (["db", "upgrade"], ["users", "create", "bench", "--password", PASSWORD],
                 ["settings", "set", "placetel.shared_secret", SECRET]):
        subprocess.run(flask + args, cwd=ROOT, env=env, check=True, capture_output=True)


class Client:
    """One SSE stream over a raw asyncio connection; records when each banner arrives."""

    def __init__(self, host: str, port: int, cookie: str):
        self.host, self.port, self.cookie = host, port, cookie
        self.received: dict[str, float] = {}
        self.connected = asyncio.Event()

    async def run(self) -> None:
        reader, writer = await asyncio.open_connection(self.host, self.port)
        writer.write((f"GET /events HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nCookie: {self.cookie}\r\n"
                      "Accept: text/event-stream\r\n\r\n").encode())
        await writer.drain()
        buffer = b""
        marker = b'<article id="call-'
        try:
            while True:
                chunk = await reader.read(65536)
                if not chunk:
                    return
                now = time.perf_counter()
                buffer += chunk
                if not self.connected.is_set() and b"retry:" in buffer:
                    self.connected.set()
                while marker in buffer:
                    start = buffer.index(marker) + len(marker)
                    end = buffer.find(b'"', start)
                    if end < 0:
                        break
                    self.received.setdefault(buffer[start:end].decode(), now)
                    buffer = buffer[end:]
                buffer = buffer[-200:]
        finally:
            writer.close()


async def measure(base: str, clients_count: int, events: int) -> dict:
    session = login(base, "bench", PASSWORD)
    cookie = "; ".join(f"{c.name}={c.value}" for c in session.cookies)
    host, port = base.removeprefix("http://").split(":")
    clients = [Client(host, int(port), cookie) for _ in range(clients_count)]
    tasks = [asyncio.create_task(client.run()) for client in clients]
    await asyncio.wait_for(asyncio.gather(*(c.connected.wait() for c in clients)), timeout=60)
    await asyncio.sleep(0.5)
    loop = asyncio.get_running_loop()
    latencies, webhook, missing = [], [], 0
    run = time.time_ns()
    for number in range(events):
        call_id = f"{run:032x}{number:032x}"
        caller = {"from": f"0613112{number:04d}", "to": "0221999000"}
        sent = time.perf_counter()
        response = await loop.run_in_executor(None, lambda: notify(
            base, SECRET, call_id=call_id, direction="in", event="IncomingCall", **caller))
        assert response.status_code == 200, response.text
        webhook.append((time.perf_counter() - sent) * 1000)
        deadline = time.perf_counter() + 5
        while time.perf_counter() < deadline and not all(call_id in c.received for c in clients):
            await asyncio.sleep(0.002)
        for client in clients:
            if call_id in client.received:
                latencies.append((client.received[call_id] - sent) * 1000)
            else:
                missing += 1
        # End the call, so that it is not in the snapshot of later connections.
        await loop.run_in_executor(None, lambda: notify(
            base, SECRET, call_id=call_id, direction="in", event="HungUp", duration="0", type="missed", **caller))
        await asyncio.sleep(0.1)
    healthz = []
    for _ in range(events * 5):
        started = time.perf_counter()
        await loop.run_in_executor(None, lambda: requests.get(f"{base}/healthz", timeout=5))
        healthz.append((time.perf_counter() - started) * 1000)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return {"latencies": latencies, "missing": missing, "healthz": healthz, "webhook": webhook}


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
                result = asyncio.run(measure(base, count, args.events))
            lat, hz, wh = result["latencies"], result["healthz"], result["webhook"]
            print(f"{count:>7} {args.events:>6} {statistics.median(lat):>7.1f} {percentile(lat, 95):>7.1f} "
                  f"{percentile(lat, 99):>7.1f} {max(lat):>7.1f} {result['missing']:>7} | "
                  f"{statistics.median(wh):>11.1f} {percentile(wh, 95):>6.1f} | "
                  f"{statistics.median(hz):>11.1f} {percentile(hz, 95):>6.1f}", flush=True)


if __name__ == "__main__":
    main()
