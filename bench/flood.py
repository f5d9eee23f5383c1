"""Bot flood against the production setup, while legitimate reporters submit.

Starts gunicorn (gunicorn.conf.py, several workers) on 127.0.0.1 against PostgreSQL and Redis,
measures legitimate submissions alone, then again while bots send 10x the submission limit from
each of many addresses for as long as the legitimate phase lasts, and prints the p95 ratio
(goal <= 2x) and how many bot reports got through (goal: no more than the limits allow). Stops
its server and its bots.

All clients are on loopback: gunicorn runs with PORTAL_TRUSTED_PROXY_HOPS=1 and each simulated
client sends its own X-Forwarded-For, as a reverse proxy would add it. This simulates distinct
clients; it is not a test of the proxy.

The bots stand in for machines elsewhere, but here they share the server's cores. By default
they run at a lower CPU priority (niceness 10), so that their own work does not take the CPU
from the server they attack, as a remote flood's would not; they still send as fast as the
server answers. ``--bot-nice 0`` makes them equals of the server.

The chosen database is created if missing and wiped (schema dropped and migrated again), and the
chosen Redis db index flushed: use ones that hold nothing else.

    .venv/bin/python bench/flood.py [--database portal_flood] [--redis-db 14] [--workers 4]
"""

from __future__ import annotations

import argparse
import itertools
import multiprocessing
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def prepare(database_url: str, redis_url: str, instance: Path) -> None:
    import redis
    from sqlalchemy import text

    from portal.crypto.instance_secrets import ensure_secrets
    from portal.crypto.keyring import create_master_key
    from portal.db import make_engine, make_session_factory
    from portal.services import schema
    from portal.services.reference_data import sync_reference_data

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


def ensure_database(name: str) -> None:
    from sqlalchemy import text

    from portal.db import make_engine

    engine = make_engine("postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        exists = connection.execute(
            text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}
        ).scalar()
        if not exists:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()


def count_reports(database_url: str) -> int:
    from sqlalchemy import text

    from portal.db import make_engine

    engine = make_engine(database_url)
    with engine.connect() as connection:
        count = int(connection.execute(text("SELECT count(*) FROM reports")).scalar() or 0)
    engine.dispose()
    return count


class Client:
    """One simulated browser behind the proxy, with its own address and cookies."""

    def __init__(self, base: str, address: str) -> None:
        self.base = base
        self.http = requests.Session()
        self.http.headers["X-Forwarded-For"] = address

    def form(self) -> tuple[str, str]:
        page = self.http.get(self.base + "/report", timeout=60).text
        token, challenge = CSRF.search(page), CHALLENGE.search(page)
        assert token and challenge, page[:300]
        return token.group(1), challenge.group(1)

    def submit(self, token: str, extra: dict[str, str] | None = None) -> int:
        data = dict(REPORT, csrf_token=token, **(extra or {}))
        response = self.http.post(
            self.base + "/report", data=data, allow_redirects=False, timeout=60
        )
        return response.status_code


def legitimate(base: str, index: int) -> float:
    """A reporter with JavaScript: the form, the proof of work (solved while typing, not
    timed), the submission and the receipt page. Returns the seconds the reporter waited."""
    client = Client(base, f"198.51.100.{index % 250 + 1}")
    start = time.perf_counter()
    token, challenge = client.form()
    waited = time.perf_counter() - start
    solution = proof_of_work.solve(challenge)
    start = time.perf_counter()
    status = client.submit(token, {"pow_challenge": challenge, "pow_solution": solution})
    if status == 303:
        client.http.get(base + "/report/receipt", timeout=60)
    waited += time.perf_counter() - start
    if status != 303:
        raise RuntimeError(f"legitimate submission refused with {status}")
    return waited


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def run_legitimate(base: str, count: int, offset: int) -> list[float]:
    latencies = []
    for n in range(count):
        latencies.append(legitimate(base, offset + n))
        time.sleep(0.2)
    return latencies


def bot_addresses(process: int) -> Iterator[str]:
    """An endless supply of distinct addresses for one bot process."""
    for n in itertools.count():
        yield f"10.{process}.{n // 250 % 250}.{n % 250 + 1}"


def bot(base: str, process: int, attempts: int, niceness: int, stop: Event, results: Queue) -> None:
    """A bot without JavaScript: from one address after another, one form, then ``attempts``
    submissions as fast as it can; until the legitimate phase is over."""
    os.nice(niceness)
    accepted = refused = used = 0
    for address in bot_addresses(process):
        if stop.is_set():
            break
        client = Client(base, address)
        token, _ = client.form()
        used += 1
        for _ in range(attempts):
            if stop.is_set():
                break
            status = client.submit(token)
            if status == 303:
                accepted += 1
            elif status == 429:
                refused += 1
    results.put((accepted, refused, used))


def main() -> None:
    parser = argparse.ArgumentParser(description="Bot flood benchmark (see module docstring).")
    parser.add_argument(
        "--database", default="portal_flood", help="PostgreSQL database (created; wiped)."
    )
    parser.add_argument("--redis-db", type=int, default=14, help="Redis db index (flushed).")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--concurrency", type=int, default=12, help="Bot processes.")
    parser.add_argument(
        "--bot-nice",
        type=int,
        default=10,
        help="CPU niceness of the bot processes; 0 lets them compete with the server as equals.",
    )
    parser.add_argument("--legitimate", type=int, default=40, help="Legit reports per phase.")
    args = parser.parse_args()

    database_url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{args.database}"
    redis_url = f"redis://127.0.0.1:6379/{args.redis_db}"
    limit_per_hour = 5  # RATELIMIT_REPORT default, first window
    strict_per_hour = 2  # RATELIMIT_REPORT_WITHOUT_POW default, first window
    portal_per_hour = 30  # RATELIMIT_REPORT_WITHOUT_POW_GLOBAL default, first window
    attempts = 10 * limit_per_hour
    ensure_database(args.database)
    instance = Path(tempfile.mkdtemp(prefix="portal-flood-")) / "instance"
    instance.mkdir(mode=0o700)
    print(f"Preparing database {args.database!r} (wiped) and Redis db {args.redis_db} (flushed)")
    prepare(database_url, redis_url, instance)
    port = free_port()
    env = dict(
        os.environ,
        PORTAL_INSTANCE_PATH=str(instance),
        PORTAL_DATABASE_URL=database_url,
        PORTAL_RATELIMIT_STORAGE_URI=redis_url,
        PORTAL_TRUSTED_PROXY_HOPS="1",
        PORTAL_BIND=f"127.0.0.1:{port}",
        PORTAL_WORKERS=str(args.workers),
        PORTAL_LOG_LEVEL="warning",
    )
    log_path = instance.parent / "gunicorn.log"
    with log_path.open("wb") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    started = time.monotonic()
    try:
        while True:
            try:
                requests.get(base + "/readyz", timeout=2).raise_for_status()
                break
            except requests.RequestException:
                if server.poll() is not None or time.monotonic() - started > 60:
                    raise SystemExit(f"gunicorn did not start; see {log_path}") from None
                time.sleep(0.3)
        print(
            f"bots: {args.concurrency} processes at niceness {args.bot_nice}; "
            f"gunicorn: {args.workers} workers on 127.0.0.1:{port}, PostgreSQL + Redis; "
            "TRUSTED_PROXY_HOPS=1 with one X-Forwarded-For per simulated client (loopback)"
        )
        legitimate(base, 250)  # warm-up: workers, connections, imports
        baseline = run_legitimate(base, args.legitimate, 0)

        before = count_reports(database_url)
        # Bots run in their own processes, so that they do not share the measuring process's
        # interpreter lock with the legitimate reporter. They flood until the legitimate
        # phase is over, so that every measured submission meets the flood.
        context = multiprocessing.get_context("fork")
        stop, results = context.Event(), context.Queue()
        bots = [
            context.Process(target=bot, args=(base, n, attempts, args.bot_nice, stop, results))
            for n in range(args.concurrency)
        ]
        flood_start = time.perf_counter()
        for process in bots:
            process.start()
        time.sleep(1.0)  # let the flood build up first
        under_flood = run_legitimate(base, args.legitimate, 100)
        stop.set()
        outcomes = [results.get(timeout=120) for _ in bots]
        for process in bots:
            process.join(timeout=30)
        flood_seconds = time.perf_counter() - flood_start
        stored = count_reports(database_url) - before - len(under_flood)
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()

    accepted = sum(outcome[0] for outcome in outcomes)
    refused = sum(outcome[1] for outcome in outcomes)
    addresses = sum(outcome[2] for outcome in outcomes)
    sent = accepted + refused
    allowed = min(addresses * strict_per_hour, portal_per_hour)
    print()
    print(
        f"Bots: {args.concurrency} processes, {addresses} addresses, each sending up to "
        f"{attempts} submissions (10x the limit of {limit_per_hour}/hour), no proof of work: "
        f"{sent} attempts in {flood_seconds:.1f} s ({sent / flood_seconds:.0f}/s), lasting "
        "the whole legitimate phase"
    )
    print(
        f"  accepted {accepted} (the limits allow {allowed}: {strict_per_hour}/hour per "
        f"address and {portal_per_hour}/hour for the whole portal without proof of work), "
        f"refused with 429: {refused}; reports stored: {stored}"
    )
    print(f"  goal met: {'yes' if accepted <= allowed and stored <= allowed else 'NO'}")
    base_p95, flood_p95 = p95(baseline), p95(under_flood)
    print(f"Legitimate reporter ({len(baseline)} + {len(under_flood)} submissions):")
    print(
        f"  without flood: median {statistics.median(baseline) * 1000:.0f} ms, "
        f"p95 {base_p95 * 1000:.0f} ms"
    )
    print(
        f"  under flood:   median {statistics.median(under_flood) * 1000:.0f} ms, "
        f"p95 {flood_p95 * 1000:.0f} ms"
    )
    ratio = flood_p95 / base_p95
    print(f"  p95 ratio {ratio:.2f}x (goal <= 2x): {'met' if ratio <= 2 else 'NOT met'}")


if __name__ == "__main__":
    main()
