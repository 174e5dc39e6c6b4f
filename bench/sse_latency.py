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
        try:
            while True:
                line = await reader.readline()
                if not line:
                    return
                if line.startswith(b"retry:"):
                    self.connected.set()
                elif line.startswith(b"data: <article id=\"call-"):
                    now = time.perf_counter()
                    call_id = line.split(b'id="call-', 1)[1].split(b'"', 1)[0].decode()
                    self.received.setdefault(call_id, now)
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
    latencies, missing = [], 0
    for number in range(events):
        call_id = f"{number:064x}"
        sent = time.perf_counter()
        response = await loop.run_in_executor(None, lambda: notify(
            base, SECRET, call_id=call_id, direction="in", event="IncomingCall",
            **{"from": f"0613112{number:04d}", "to": "0221999000"}))
        assert response.status_code == 200, response.text
        deadline = time.perf_counter() + 5
        while time.perf_counter() < deadline and not all(call_id in c.received for c in clients):
            await asyncio.sleep(0.002)
        for client in clients:
            if call_id in client.received:
                latencies.append((client.received[call_id] - sent) * 1000)
            else:
                missing += 1
        await asyncio.sleep(0.05)
    healthz = []
    for _ in range(events * 5):
        started = time.perf_counter()
        await loop.run_in_executor(None, lambda: requests.get(f"{base}/healthz", timeout=5))
        healthz.append((time.perf_counter() - started) * 1000)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return {"latencies": latencies, "missing": missing, "healthz": healthz}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, nargs="+", default=[100, 500])
    parser.add_argument("--events", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1000, help="gunicorn --threads (streams per worker)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        url = os.environ.get("BENCH_DATABASE_URL") or f"sqlite:///{tmp}/bench.db"
        prepare_database(url)
        print(f"database: {url.split('@')[-1]}; server: gunicorn gthread, 1 worker, {args.threads} threads; "
              f"{os.cpu_count()} cores")
        print(f"{'clients':>7} {'events':>6} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} {'max ms':>7} "
              f"{'missing':>7} | {'healthz p50':>11} {'p95':>6}")
        for count in args.clients:
            with running_server(url, threads=args.threads) as base:
                result = asyncio.run(measure(base, count, args.events))
            lat, hz = result["latencies"], result["healthz"]
            print(f"{count:>7} {args.events:>6} {statistics.median(lat):>7.1f} {percentile(lat, 95):>7.1f} "
                  f"{percentile(lat, 99):>7.1f} {max(lat):>7.1f} {result['missing']:>7} | "
                  f"{statistics.median(hz):>11.1f} {percentile(hz, 95):>6.1f}", flush=True)


if __name__ == "__main__":
    main()
