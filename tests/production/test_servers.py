"""Both servers the project documents refuse an oversized declared body at once, and slow
clients cannot take the portal down: `portal run` (the development server) and gunicorn with
the checked-in settings. The development server also says where it listens."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest

from tests.support.deployment import ROOT, free_port, stop, wait_until_up

TERABYTE = 10**12
PORTAL = Path(sys.executable).with_name("portal")


@pytest.fixture
def instance_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTAL_")}
    env["PORTAL_INSTANCE_PATH"] = str(tmp_path / "instance")
    subprocess.run([str(PORTAL), "init"], env=env, check=True, capture_output=True)
    return env


def oversized_request(port: int) -> bytes:
    """Declare a terabyte, send none of it, and read what comes back."""
    with socket.create_connection(("127.0.0.1", port), timeout=20) as sock:
        sock.sendall(
            b"POST /report HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: multipart/form-data; boundary=x\r\n"
            + f"Content-Length: {TERABYTE}\r\n\r\n".encode()
        )
        return sock.recv(4096)


@contextmanager
def slow_body(port: int, *, first: bytes = b"--x\r\n") -> Iterator[socket.socket]:
    """A client that announces a 10 MiB upload and sends its first bytes only."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=60)
    try:
        sock.sendall(
            b"POST /report HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: multipart/form-data; boundary=x\r\n"
            + f"Content-Length: {10 * 1024 * 1024}\r\n\r\n".encode()
            + first
        )
        yield sock
    finally:
        sock.close()


def test_development_server_names_its_address_and_refuses_a_terabyte_at_once(
    instance_env: dict[str, str], tmp_path: Path
) -> None:
    port = free_port()
    log = tmp_path / "run.log"
    with log.open("wb") as sink:
        server = subprocess.Popen(
            [str(PORTAL), "run", "--port", str(port)],
            env=instance_env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_until_up(f"http://127.0.0.1:{port}/healthz", server, log)
        answer = oversized_request(port)
        assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    finally:
        stop(server)
    output = log.read_text()
    # The banner gives an address one can open; the request lines name no client.
    assert f" * Running on http://127.0.0.1:{port}" in output
    request_lines = [line for line in output.splitlines() if '"GET /healthz' in line]
    assert request_lines and all("127.0.0.1" not in line for line in request_lines)


def wait_for_lines(log: Path, text: str, count: int, seconds: float = 20) -> None:
    """Until ``log`` holds ``text`` ``count`` times (workers start after the first answers)."""
    deadline = time.monotonic() + seconds
    while log.read_text().count(text) < count and time.monotonic() < deadline:
        time.sleep(0.2)


@contextmanager
def gunicorn(env: dict[str, str], log: Path) -> Iterator[int]:
    port = free_port()
    env = dict(env, PORTAL_BIND=f"127.0.0.1:{port}")
    with log.open("wb") as sink:
        server = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"],
            cwd=ROOT,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_until_up(f"http://127.0.0.1:{port}/healthz", server, log)
        yield port
    finally:
        stop(server)


def test_gunicorn_refuses_a_terabyte_before_reading_it(
    instance_env: dict[str, str], tmp_path: Path
) -> None:
    with gunicorn(dict(instance_env, PORTAL_WORKERS="1"), tmp_path / "g.log") as port:
        answer = oversized_request(port)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b"Content-Security-Policy" in answer  # the portal's own page, not a bare error


def test_gunicorn_workers_freeze_what_they_loaded_and_keep_what_they_free(
    instance_env: dict[str, str], tmp_path: Path
) -> None:
    """A full garbage collection would walk the app's own objects (some 200,000) on whichever
    request triggered it; each worker freezes them once the app is loaded. And the memory a
    dashboard frees is kept for the next request (portal.web.allocator)."""
    log = tmp_path / "g.log"
    with gunicorn(dict(instance_env, PORTAL_WORKERS="2"), log):
        wait_for_lines(log, "loaded at start frozen", 2)
    frozen = [int(n) for n in re.findall(r"(\d+) objects loaded at start frozen", log.read_text())]
    assert len(frozen) == 2, log.read_text()[-2000:]
    assert min(frozen) > 50_000, frozen
    # And each keeps the memory it frees for its next request (glibc, as here), unless told not
    # to on a host short of memory.
    assert log.read_text().count("freed memory kept for reuse up to 64 MiB") == 2
    quiet = tmp_path / "default.log"
    with gunicorn(dict(instance_env, PORTAL_WORKERS="1", PORTAL_KEEP_FREED_MEMORY="0"), quiet):
        wait_for_lines(quiet, "loaded at start frozen", 1)
    assert "loaded at start frozen" in quiet.read_text()
    assert "freed memory kept" not in quiet.read_text()


def test_gunicorn_keeps_answering_while_slow_uploads_hold_connections(
    instance_env: dict[str, str], tmp_path: Path
) -> None:
    # One process with few threads, so that the slow clients occupy most of it.
    env = dict(instance_env, PORTAL_WORKERS="1", PORTAL_THREADS="6", PORTAL_CLIENT_IO_TIMEOUT="3")
    with gunicorn(env, tmp_path / "g.log") as port, ExitStack() as stack:
        slow = [stack.enter_context(slow_body(port)) for _ in range(4)]
        time.sleep(1)
        for _ in range(5):
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=20) as r:
                assert r.status == 200
        # A client that stalls for longer than PORTAL_CLIENT_IO_TIMEOUT loses its connection
        # (an answer then a close, or a close): its thread is free again.
        stalled = slow[0]
        stalled.settimeout(30)
        received = b""
        while chunk := stalled.recv(65536):
            received += chunk
        assert not received or re.match(rb"HTTP/1\.1 [45]\d\d", received), received[:200]
        # Meanwhile a real page is served.
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/report", timeout=20) as r:
            assert r.status == 200
