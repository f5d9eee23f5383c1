"""Redis killed under gunicorn with several workers: a client's limits stay within the bound.

While the shared store is down each worker counts in its own memory, with each allowance divided
by the number of workers, so what one client gets across all workers stays within the limit the
route declares (README, "Rate limits").
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.support.web import csrf_from, free_port, valid_report

ROOT = Path(__file__).resolve().parents[2]
WORKERS = 4

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server not installed"),
]


def _wait_for(url: str, server: subprocess.Popen[bytes], log: Path) -> None:
    started = time.monotonic()
    while True:
        try:
            requests.get(url, timeout=2).raise_for_status()
            return
        except requests.RequestException:
            if server.poll() is not None or time.monotonic() - started > 90:
                raise AssertionError(log.read_text()[-3000:]) from None
            time.sleep(0.3)


@pytest.fixture
def redis_port() -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    port = free_port()
    redis = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", ""],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    yield port, redis
    if redis.poll() is None:
        redis.kill()
        redis.wait()


@pytest.fixture
def portal_url(
    instance_path: Path, database_url: str, redis_port: tuple[int, subprocess.Popen[bytes]]
) -> Iterator[tuple[str, subprocess.Popen[bytes], Path]]:
    port = free_port()
    env = dict(
        os.environ,
        PORTAL_INSTANCE_PATH=str(instance_path),
        PORTAL_DATABASE_URL=database_url,
        PORTAL_RATELIMIT_STORAGE_URI=f"redis://127.0.0.1:{redis_port[0]}/0",
        PORTAL_BIND=f"127.0.0.1:{port}",
        PORTAL_WORKERS=str(WORKERS),
        PORTAL_LOG_LEVEL="warning",
        PORTAL_RECEIPT_ARGON2_TIME_COST="1",
        PORTAL_RECEIPT_ARGON2_MEMORY_KIB="256",
        # Generous except for the limits under test, so that only those can refuse.
        PORTAL_RATELIMIT_REPORT="8/hour",
        PORTAL_RATELIMIT_REPORT_WITHOUT_POW="8/hour",
        PORTAL_RATELIMIT_REPORT_WITHOUT_POW_GLOBAL="1000/hour",
        PORTAL_RATELIMIT_REPORT_ATTEMPTS="1000/hour",
        PORTAL_RATELIMIT_FOLLOWUP="8/hour",
        PORTAL_RATELIMIT_FOLLOWUP_NETWORK="1000/hour",
        PORTAL_RATELIMIT_POST="1000/minute",
    )
    env.pop("PORTAL_RATELIMIT_FALLBACK_DIVISOR", None)
    log = instance_path.parent / "gunicorn.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_for(base + "/healthz", server, log)
        yield base, server, log
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def _form(session: requests.Session, url: str) -> str:
    return csrf_from(session.get(url, timeout=10).text)


def _submit(base: str) -> int:
    # A fresh browser each time (no JavaScript, so no proof of work), and a fresh connection:
    # the requests land on whichever worker accepts them.
    with requests.Session() as session:
        data = valid_report(csrf_token=_form(session, base + "/report"))
        files = {key: (None, value) for key, value in data.items()}
        response = session.post(base + "/report", files=files, allow_redirects=False, timeout=30)
        return response.status_code


def _guess(base: str, n: int) -> int:
    with requests.Session() as session:
        token = _form(session, base + "/follow-up")
        response = session.post(
            base + "/follow-up",
            data={"csrf_token": token, "receipt": f"{n:016d}"},
            allow_redirects=False,
            timeout=30,
        )
        return response.status_code


def test_with_redis_down_a_client_stays_within_each_limit_across_workers(
    portal_url: tuple[str, subprocess.Popen[bytes], Path],
    redis_port: tuple[int, subprocess.Popen[bytes]],
) -> None:
    base, _server, log = portal_url
    _port, redis = redis_port
    assert _submit(base) == 303  # counted in Redis while it lives
    redis.kill()
    redis.wait()
    reports = [_submit(base) for _ in range(30)]
    guesses = [_guess(base, n) for n in range(30)]
    # Still serving, and still limiting: 8 per hour in all, whichever worker answers. Without
    # the division each of the four workers would have allowed its own 8.
    assert set(reports) <= {303, 429} and set(guesses) <= {400, 429}
    assert 1 <= reports.count(303) <= 8, reports
    assert 1 <= guesses.count(400) <= 8, guesses
    assert "falling back to in-memory storage" in log.read_text()
