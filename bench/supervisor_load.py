"""Dashboards under load must not starve the officer queue.

Serves the portal with gunicorn (the production worker model: ``gunicorn.conf.py``'s
workers) on 127.0.0.1 over a schema that ``bench/scale.py`` loaded, then:

1. an officer loads the first page of their queue, one request after another, alone (after
   every worker has answered a few pages);
2. the same while four supervisors hammer two-year custom ranges of the national dashboard
   (each asks again as soon as it has an answer; a "busy, retry" answer is retried after
   0.5 s).

Prints the officer's p95 in both phases and their ratio (goal <= 1.5), and what the
supervisors got (pages served, "busy" answers). Requests go only to 127.0.0.1; the run is
bounded in requests and time. Usage::

    .venv/bin/python bench/scale.py --database portal_bench_stats --sizes 1000000 --load-only
    .venv/bin/python bench/supervisor_load.py --database portal_bench_stats --size 1000000
"""

from __future__ import annotations

import argparse
import http.cookiejar
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyotp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from scale import PASSWORD, TOTP_SECRET, instance_for  # noqa: E402

OFFICER_REQUESTS = 200
SUPERVISORS = 4
WARM_UP_PER_WORKER = 4
DEADLINE_SECONDS = 300


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Client:
    def __init__(self, base: str) -> None:
        self.base = base
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()),
            _NoRedirect(),
        )

    def get(self, path: str) -> int:
        try:
            with self.opener.open(self.base + path, timeout=120) as response:
                response.read()
                return int(response.status)
        except urllib.error.HTTPError as error:
            error.read()
            return int(error.code)

    def post(self, path: str, data: dict[str, str]) -> int:
        body = urllib.parse.urlencode(data).encode()
        try:
            with self.opener.open(self.base + path, data=body, timeout=60) as response:
                return int(response.status)
        except urllib.error.HTTPError as error:
            return int(error.code)

    def sign_in(self, username: str) -> None:
        assert self.post("/officer/login", {"username": username, "password": PASSWORD}) == 303
        code = pyotp.TOTP(TOTP_SECRET).now()
        assert self.post("/officer/login/code", {"code": code}) == 303, "sign-in refused"


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


def officer_p95(officer: Client) -> float:
    samples = []
    for _ in range(OFFICER_REQUESTS):
        began = time.perf_counter()
        status = officer.get("/officer/")
        samples.append(time.perf_counter() - began)
        assert status == 200, status
    samples.sort()
    return samples[int(0.95 * (len(samples) - 1))]


def resident_mib(parent: int) -> int:
    """The resident memory of ``parent``'s children (the workers), in MiB (Linux's /proc)."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == parent:
                total += int((stat.parent / "statm").read_text().split()[1]) * os.sysconf(
                    "SC_PAGE_SIZE"
                )
        except (OSError, IndexError, ValueError):
            continue  # a process that ended meanwhile
    return total >> 20


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--database", required=True)
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--host", default="127.0.0.1:5432")
    parser.add_argument("--workers", type=int, default=5)
    parser.add_argument(
        "--default-allocator",
        action="store_true",
        help="workers leave the C allocator as a process starts (PORTAL_KEEP_FREED_MEMORY=0)",
    )
    args = parser.parse_args()
    source = instance_for(args.database, args.size)
    if not source.exists():
        raise SystemExit(f"load the schema first: bench/scale.py --sizes {args.size} --load-only")
    instance = Path(tempfile.mkdtemp(prefix="portal-load-"))
    shutil.copytree(source, instance, dirs_exist_ok=True)
    url = (
        f"postgresql+psycopg://postgres@{args.host}/{args.database}"
        f"?options=-csearch_path%3Dportal_bench_{args.size}"
    )
    (instance / "config.py").write_text(
        f"DATABASE_URL = {url!r}\nWTF_CSRF_ENABLED = False\nRATELIMIT_ENABLED = False\n"
        f"EVIDENCE_STORE = {('file://' + str(instance / 'evidence'))!r}\n"
    )
    port = free_port()
    env = {
        **os.environ,
        "PORTAL_INSTANCE_PATH": str(instance),
        "PORTAL_BIND": f"127.0.0.1:{port}",
        "PORTAL_WORKERS": str(args.workers),
        "PORTAL_KEEP_FREED_MEMORY": "0" if args.default_allocator else "1",
    }
    server = subprocess.Popen(
        [str(ROOT / ".venv/bin/gunicorn"), "-c", "gunicorn.conf.py", "wsgi:app"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                if Client(base).get("/healthz") == 200:
                    break
            except OSError:
                time.sleep(0.2)
        officer, chief = Client(base), Client(base)
        officer.sign_in("bench-officer")
        chief.sign_in("bench-chief")
        # Every worker answers a few pages first: a worker's first requests pay for its
        # imports and connections, which would inflate the officer's p95 "alone".
        for _ in range(WARM_UP_PER_WORKER * args.workers):
            officer.get("/officer/")
        alone = officer_p95(officer)

        stop = threading.Event()
        served, busy = [0], [0]
        today = datetime.now(UTC).date()

        def supervisor(index: int) -> None:
            last = today - timedelta(days=index)
            path = (
                f"/supervisor/?from={(last - timedelta(days=729)).isoformat()}"
                f"&to={last.isoformat()}"
            )
            started = time.monotonic()
            while not stop.is_set() and time.monotonic() - started < DEADLINE_SECONDS:
                status = chief.get(path)
                if status == 200:
                    served[0] += 1
                else:
                    busy[0] += 1
                    time.sleep(0.5)

        threads = [threading.Thread(target=supervisor, args=(i,)) for i in range(SUPERVISORS)]
        for thread in threads:
            thread.start()
        time.sleep(2)  # the supervisors are at it
        loaded = officer_p95(officer)
        stop.set()
        for thread in threads:
            thread.join()
        alone_after = officer_p95(officer)
        resident = resident_mib(server.pid)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        shutil.rmtree(instance, ignore_errors=True)
    print(
        f"gunicorn, {args.workers} workers, {args.size} reports; officer queue p95 of "
        f"{OFFICER_REQUESTS} requests"
    )
    print(f"alone: {alone * 1000:.1f} ms (and {alone_after * 1000:.1f} ms once they stopped)")
    print(
        f"with {SUPERVISORS} supervisors on two-year ranges: {loaded * 1000:.1f} ms "
        f"(dashboards served {served[0]}, told to retry {busy[0]})"
    )
    print(f"officer p95 ratio: {loaded / alone:.2f} (goal <= 1.5)")
    memory = "handed back (default allocator)" if args.default_allocator else "kept"
    print(f"workers' resident memory at the end: {resident} MiB in all (freed memory {memory})")


if __name__ == "__main__":
    main()
