"""Real server processes for end-to-end tests: the production gunicorn command on a free port."""
from __future__ import annotations

import hashlib
import hmac
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
SECRET_KEY = "test-secret-key"  # the same as the test app, so secrets stored by tests are readable


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def gunicorn_command(port: int, workers: int = 1, threads: int = 64) -> list[str]:
    """The production command of README.md, bound to localhost."""
    return [sys.executable, "-m", "gunicorn", "--worker-class", "gthread", "--workers", str(workers),
            "--threads", str(threads), "--bind", f"127.0.0.1:{port}", "--timeout", "60",
            "--graceful-timeout", "2", "app:app"]


@contextmanager
def running_server(database_url: str, workers: int = 1, threads: int = 64, **env):
    """Start the app with gunicorn against `database_url`; yields its base URL."""
    port = free_port()
    environment = {**os.environ, "DATABASE_URL": database_url, "SECRET_KEY": SECRET_KEY,
                   "SCHEDULER_ENABLED": "0", **{k: str(v) for k, v in env.items()}}
    environment.pop("TEST_DATABASE_URL", None)
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(gunicorn_command(port, workers, threads), cwd=ROOT, env=environment,
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
    page = session.get(f"{base}/login", timeout=5).text
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    response = session.post(f"{base}/login", data={"username": username, "password": password, "csrf_token": token},
                            allow_redirects=False, timeout=5)
    assert response.status_code == 302, response.text
    return session


def signed(body: str, secret: str) -> dict[str, str]:
    """Headers of a Notify request as Placetel signs it."""
    signature = hmac.new(secret.encode(), body.encode(), hashlib.sha256).hexdigest()
    return {"Content-Type": "application/x-www-form-urlencoded", "X-PLACETEL-SIGNATURE": signature}


def notify(base: str, secret: str, **fields) -> requests.Response:
    """Post one Notify event (keys in alphabetical order, as Placetel sends them)."""
    from urllib.parse import urlencode

    body = urlencode(sorted(fields.items()))
    return requests.post(f"{base}/calls/placetel/notify", data=body, headers=signed(body, secret), timeout=5)
