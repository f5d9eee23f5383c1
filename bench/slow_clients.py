"""Slow clients against the production shape: does a legitimate reporter still get through?

Starts the documented shape on this machine: gunicorn (gunicorn.conf.py: gthread workers) on
PostgreSQL and Redis, behind nginx with the checked-in recipe (deploy/nginx/portal.conf) and a
self-signed certificate. Measures a legitimate reporter (the form, a report with a 200 KiB
photo, the receipt page, over https; the proof of work is solved as a browser would while the
reporter types, and not timed) with no other client, then again while N slow clients (default
50) each hold an upload open: each announces a 10 MiB body and sends 1 KiB every 2 seconds,
from its own loopback address (127.0.0.x) so that nginx sees 50 distinct clients. Prints the
legitimate reporter's median and p95 in both phases and the p95 ratio (goal <= 1.5x).

The chosen database is wiped (schema dropped, migrated again) and the Redis db flushed: use
ones that hold nothing else. Needs nginx (Debian: nginx-light).

    .venv/bin/python bench/slow_clients.py [--database URL] [--redis URL] [--slow 50]
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import ExitStack
from pathlib import Path

import requests
import urllib3
from requests.adapters import HTTPAdapter

urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "production"))

from deployment import (  # noqa: E402
    free_port,
    nginx_in_front,
    self_signed_certificate,
    stop,
    wait_until_up,
)

from portal.web import pow as proof_of_work  # noqa: E402

CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
CHALLENGE = re.compile(r'name="pow_challenge" type="hidden" value="([^"]+)"')
REPORT = {
    "category": "fraud",
    "urls": "https://shop.example/offer\n",
    "platform": "facebook",
    "description": "A fake shop took my money and never delivered.",
    "territory": "MA-RAB",
    "good_faith": "y",
}
PHOTO = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + os.urandom(200 * 1024) + b"\xff\xd9"


def prepare(database_url: str, redis_url: str, instance: Path) -> None:
    import redis
    from sqlalchemy import text

    from portal.crypto.instance_secrets import ensure_secrets
    from portal.crypto.keyring import create_master_key
    from portal.db import make_engine, make_session_factory
    from portal.services import schema
    from portal.services.reference_data import sync_reference_data

    instance.mkdir(mode=0o700)
    ensure_secrets(instance)
    create_master_key(instance)
    engine = make_engine(database_url)
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    schema.upgrade(engine)
    with make_session_factory(engine)() as session:
        sync_reference_data(session)
        session.commit()
    engine.dispose()
    redis.Redis.from_url(redis_url).flushdb()


class FromAddress(HTTPAdapter):
    """Connections from a chosen loopback address: nginx sees a client of its own."""

    def __init__(self, address: str) -> None:
        self.address = address
        super().__init__()

    def init_poolmanager(self, *args: object, **kwargs: object) -> None:
        kwargs["source_address"] = (self.address, 0)
        super().init_poolmanager(*args, **kwargs)  # type: ignore[arg-type]


def legitimate(base: str, cert: Path, address: str) -> float:
    """Seconds a reporter waits: the form, then the submission and the receipt page."""
    http = requests.Session()
    http.verify = False  # the certificate made for this run
    http.trust_env = False  # no CA bundle from the environment overrides that
    http.mount("https://", FromAddress(address))
    start = time.perf_counter()
    page = http.get(base + "/report", timeout=60).text
    waited = time.perf_counter() - start
    token, challenge = CSRF.search(page), CHALLENGE.search(page)
    assert token and challenge, page[:300]
    solution = proof_of_work.solve(challenge.group(1))
    data = dict(
        REPORT,
        csrf_token=token.group(1),
        pow_challenge=challenge.group(1),
        pow_solution=solution,
    )
    start = time.perf_counter()
    response = http.post(
        base + "/report",
        data=data,
        files={"evidence": ("photo.jpg", PHOTO, "image/jpeg")},
        headers={"Referer": base + "/report", "Origin": base},
        allow_redirects=False,
        timeout=60,
    )
    if response.status_code != 303:
        raise RuntimeError(f"legitimate submission refused with {response.status_code}")
    http.get(base + "/report/receipt", timeout=60)
    return waited + time.perf_counter() - start


class SlowClients:
    """N uploads that stay open: each sends 1 KiB every 2 s of an announced 10 MiB body."""

    def __init__(self, port: int, count: int) -> None:
        self.port, self.count = port, count
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.connected = 0

    def _run(self) -> None:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        with ExitStack() as stack:
            sockets = []
            for n in range(self.count):
                raw = socket.create_connection(
                    ("127.0.0.1", self.port), timeout=30, source_address=(f"127.0.0.{n + 2}", 0)
                )
                sock = stack.enter_context(context.wrap_socket(raw, server_hostname="127.0.0.1"))
                sock.sendall(
                    f"POST /report HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n"
                    "Content-Type: multipart/form-data; boundary=slow\r\n"
                    f"Content-Length: {10 * 1024 * 1024}\r\n\r\n--slow\r\n".encode()
                )
                sockets.append(sock)
                self.connected += 1
            while not self.stop.wait(2):
                for sock in sockets:
                    sock.sendall(b"x" * 1024)

    def __enter__(self) -> SlowClients:
        self.thread.start()
        while self.connected < self.count:
            time.sleep(0.1)
        time.sleep(3)  # every one of them has reached gunicorn
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=30)


def upstream_connections(bind: str) -> int:
    """Established connections to gunicorn's port: the slow uploads that reached it."""
    port = int(bind.rsplit(":", 1)[1])
    out = subprocess.run(
        ["ss", "-Htn", "state", "established", f"( dport = :{port} )"],
        capture_output=True,
        text=True,
        check=True,
    )
    return len(out.stdout.splitlines())


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def phase(base: str, cert: Path, count: int, first: int) -> list[float]:
    latencies = []
    for n in range(count):
        # Each reporter from an address of its own, past the slow clients' ones.
        latencies.append(legitimate(base, cert, f"127.0.1.{(first + n) % 250 + 1}"))
        time.sleep(0.2)
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description="Slow-client benchmark (see module docstring).")
    parser.add_argument(
        "--database", default="postgresql+psycopg://postgres@127.0.0.1:5432/portal_slow"
    )
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/13")
    parser.add_argument("--slow", type=int, default=50, help="Slow clients in the second phase.")
    parser.add_argument("--legitimate", type=int, default=40, help="Legit reports per phase.")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="slow-clients-") as tmp:
        workdir = Path(tmp)
        instance = workdir / "instance"
        prepare(args.database, args.redis, instance)
        cert, key = self_signed_certificate(workdir)
        bind = f"127.0.0.1:{free_port()}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("PORTAL_")}
        env.update(
            PORTAL_INSTANCE_PATH=str(instance),
            PORTAL_DATABASE_URL=args.database,
            PORTAL_RATELIMIT_STORAGE_URI=args.redis,
            PORTAL_TRUSTED_PROXY_HOPS="1",
            PORTAL_PREFER_HTTPS="1",
            PORTAL_BIND=bind,
            PORTAL_LOG_LEVEL="warning",
        )
        log = workdir / "gunicorn.log"
        with log.open("wb") as sink:
            server = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py"],
                cwd=ROOT,
                env=env,
                stdout=sink,
                stderr=subprocess.STDOUT,
            )
        try:
            wait_until_up(f"http://{bind}/healthz", server, log)
            with nginx_in_front(
                workdir / "nginx", upstream=bind, cert=cert, key=key, static=ROOT / "static"
            ) as nginx:
                base = nginx.url
                phase(base, cert, 3, 200)  # warm-up: workers, connections, caches
                alone = phase(base, cert, args.legitimate, 0)
                with SlowClients(nginx.https_port, args.slow):
                    held = upstream_connections(bind)
                    loaded = phase(base, cert, args.legitimate, 100)
        finally:
            stop(server)

    def ms(values: list[float]) -> str:
        return f"median {statistics.median(values) * 1000:.0f} ms, p95 {p95(values) * 1000:.0f} ms"

    print(f"legitimate reporter alone:        {ms(alone)}")
    print(f"with {args.slow} slow uploads connected: {ms(loaded)}")
    print(f"  (nginx held {held} connections open to gunicorn meanwhile)")
    print(f"p95 ratio: {p95(loaded) / p95(alone):.2f}x (goal <= 1.5x)")


if __name__ == "__main__":
    main()
