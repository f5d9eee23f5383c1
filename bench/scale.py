"""Scale benchmark: officer queue and supervisor dashboards at 10k, 100k and 1M reports.

Loads synthetic reports (spread over regions, categories, priorities, statuses and response
times like the real traffic would be) into PostgreSQL with COPY, in a schema of its own
(``portal_bench``, dropped and recreated; nothing else in the database is touched), and prints
for each size the median time of:

- the officer queue's first page and a filtered page (``portal.services.queue.load_queue``);
- the national and one regional supervisor dashboard, as pages through the Flask client after a
  real sign-in, served from the snapshots that ``portal stats refresh`` precomputes;
- for comparison, the same dashboards computed live (exact SQL over the period's rows).

Then the ratio between the largest and the smallest size. Usage::

    .venv/bin/python bench/scale.py [--database test] [--sizes 10000,100000,1000000]
"""

from __future__ import annotations

import argparse
import hashlib
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyotp
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from portal import create_app
from portal.crypto.instance_secrets import ensure_secrets
from portal.crypto.keyring import create_master_key
from portal.db import make_engine, make_session_factory
from portal.domain.categories import automatic_priority
from portal.domain.routing import route
from portal.models import PRIORITY_RANK, Officer, Subdivision, Unit
from portal.services import schema
from portal.services.accounts import create_officer
from portal.services.demo import CATEGORY_WEIGHTS
from portal.services.queue import QueueFilters, load_queue
from portal.services.reference_data import load_routing_table, sync_reference_data
from portal.services.stats import SLA, Period, compute_dashboard, refresh_snapshots

SCHEMA = "portal_bench"
TOTP_SECRET = "JBSWY3DPEHPK3PXPBENCHAAA"
PASSWORD = "bench-password-2026"  # a throwaway account in a throwaway schema
HISTORY_DAYS = 730
REPEATS = 5
PLATFORMS = ["facebook", "instagram", "whatsapp", "tiktok", "telegram", "website", "x"]
BUSY = {"MA-CAS", "MA-RAB", "MA-MAR", "MA-FES", "MA-TNG", "MA-SAL", "MA-AGD", "MA-MOH", "MA-KEN"}
COLUMNS = (
    "reference",
    "receipt_hash",
    "category",
    "platform",
    "description_enc",
    "minor_involved",
    "threat_to_life",
    "subdivision_id",
    "region_id",
    "abroad",
    "handle_outside_local",
    "routing_reason",
    "unit_id",
    "priority",
    "priority_rank",
    "status",
    "closure_reason",
    "submitted_at",
    "first_response_at",
    "closed_at",
    "updated_at",
    "version",
)


class Generator:
    """Deterministic synthetic reports, routed by the real routing table."""

    def __init__(self, session: Session, now: datetime, seed: int = 7) -> None:
        self.rng = random.Random(seed)
        self.now = now
        table = load_routing_table(session)
        units = {u.code: u.id for u in session.scalars(select(Unit))}
        self.places: list[tuple[int | None, int | None, str | None]] = []
        weights: list[int] = []
        for sub in session.scalars(select(Subdivision)):
            self.places.append((sub.id, sub.region_id, sub.code))
            weights.append(12 if sub.code in BUSY else 1)
        self.places.append((None, None, None))  # abroad
        weights.append(int(sum(weights) * 0.04))
        self.place_weights = weights
        self.routes: dict[tuple[str | None, str], tuple[int, str]] = {}
        for _, _, code in self.places:
            for category in CATEGORY_WEIGHTS:
                decision = route(
                    table, subdivision_code=code, category=category, outside_local=False
                )
                self.routes[(code, category)] = (units[decision.unit_code], decision.reason)
        # Each unit has its own pace (mean hours to a first response).
        self.pace = {uid: self.rng.choice([3, 6, 10, 18, 30, 48, 80]) for uid in units.values()}
        self.categories = list(CATEGORY_WEIGHTS)
        self.category_weights = list(CATEGORY_WEIGHTS.values())

    def rows(self, start: int, count: int) -> Any:
        rng, now = self.rng, self.now
        places = rng.choices(self.places, weights=self.place_weights, k=count)
        categories = rng.choices(self.categories, weights=self.category_weights, k=count)
        for offset in range(count):
            number = start + offset
            sub_id, region_id, code = places[offset]
            category = categories[offset]
            answers = {}
            if category in ("sextortion", "harassment") and rng.random() < 0.1:
                answers["minor_involved"] = "yes"
            if category == "threats" and rng.random() < 0.3:
                answers["threat_to_life"] = "yes"
            priority = automatic_priority(category, answers)
            unit_id, reason = self.routes[(code, category)]
            submitted = now - timedelta(seconds=rng.uniform(0, HISTORY_DAYS * 86400))
            pace = self.pace[unit_id] / (6 if priority == "urgent" else 1)
            first = submitted + timedelta(hours=rng.expovariate(1 / pace))
            closed = first + timedelta(days=rng.expovariate(1 / max(pace / 4, 1)))
            status, reason_closed = "received", None
            if first > now:
                first = closed = None
            elif closed > now or rng.random() < 0.04:
                status, closed = (
                    rng.choice(["in_review", "investigating", "awaiting_reporter"]),
                    None,
                )
            else:
                status = "referred" if rng.random() < 0.25 else "closed"
                reason_closed = "no_offence" if status == "closed" else None
            yield (
                f"EB-B{number:010d}",
                hashlib.sha256(number.to_bytes(8, "big")).digest(),
                category,
                rng.choice(PLATFORMS),
                b"x",
                answers.get("minor_involved") == "yes",
                answers.get("threat_to_life") == "yes",
                sub_id,
                region_id,
                code is None,
                False,
                reason,
                unit_id,
                priority,
                PRIORITY_RANK[priority],
                status,
                reason_closed,
                _naive(submitted),
                _naive(first),
                _naive(closed),
                _naive(closed or first or submitted),
                1,
            )


def _naive(value: datetime | None) -> datetime | None:
    return None if value is None else value.astimezone(UTC).replace(tzinfo=None)


def load(engine: Engine, generator: Generator, start: int, count: int) -> float:
    began = time.perf_counter()
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        with cursor.copy(f"COPY reports ({', '.join(COLUMNS)}) FROM STDIN") as copy:  # type: ignore[attr-defined]
            for row in generator.rows(start, count):
                copy.write_row(row)
        raw.commit()
        cursor.execute("ANALYZE reports")
        raw.commit()
    finally:
        raw.close()
    return time.perf_counter() - began


def timed(action: Callable[[], object], repeats: int = REPEATS) -> float:
    action()  # warm the caches once, as a page in service would be
    samples = []
    for _ in range(repeats):
        began = time.perf_counter()
        action()
        samples.append(time.perf_counter() - began)
    return statistics.median(samples)


def sign_in(app: Any, username: str) -> Any:
    client = app.test_client()
    response = client.post("/officer/login", data={"username": username, "password": PASSWORD})
    assert response.status_code == 303, response.status_code
    code = pyotp.TOTP(TOTP_SECRET).now()
    response = client.post("/officer/login/code", data={"code": code})
    assert response.status_code == 303, response.status_code
    return client


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", default="test", help="PostgreSQL database name")
    parser.add_argument("--host", default="127.0.0.1:5432")
    parser.add_argument("--sizes", default="10000,100000,1000000")
    args = parser.parse_args()
    sizes = sorted(int(size) for size in args.sizes.split(","))
    base = f"postgresql+psycopg://postgres@{args.host}/{args.database}"
    url = f"{base}?options=-csearch_path%3D{SCHEMA}"

    admin = make_engine(base)
    with admin.begin() as connection:
        connection.execute(text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
        connection.execute(text(f"CREATE SCHEMA {SCHEMA}"))
    admin.dispose()
    engine = make_engine(url)
    schema.upgrade(engine)

    instance = Path(tempfile.mkdtemp(prefix="portal-bench-"))
    ensure_secrets(instance)
    create_master_key(instance)
    app = create_app(
        {
            "INSTANCE_PATH": str(instance),
            "DATABASE_URL": url,
            "EVIDENCE_STORE": f"file://{instance / 'evidence'}",
            "WTF_CSRF_ENABLED": False,
            "RATELIMIT_ENABLED": False,
            "STATS_SNAPSHOT_MAX_AGE_MINUTES": 24 * 60,
        }
    )
    factory = make_session_factory(engine, audit_key=app.config["AUDIT_KEY"])
    now = datetime.now(UTC)
    sla = SLA.from_config(app.config)
    with factory() as session:
        sync_reference_data(session)
        keyring = app.extensions["keyring"]
        create_officer(
            session,
            username="bench-officer",
            display_name="Bench officer",
            password=PASSWORD,
            role="officer",
            keyring=keyring,
            unit_codes=["CASABLANCA"],
            totp_secret=TOTP_SECRET,
        )
        create_officer(
            session,
            username="bench-chief",
            display_name="Bench supervisor",
            password=PASSWORD,
            role="supervisor",
            keyring=keyring,
            totp_secret=TOTP_SECRET,
        )
        session.commit()
        generator = Generator(session, now)
    chief = sign_in(app, "bench-chief")

    print(f"PostgreSQL database {args.database!r}, schema {SCHEMA!r}; median of {REPEATS} runs.")
    header = (
        f"{'reports':>9} {'load s':>7} {'refr. 90d':>9} {'queue p1':>9} {'queue filt':>10} "
        f"{'national':>9} {'regional':>9} {'nat. live':>9} {'reg. live':>9}"
    )
    print(header)
    results: dict[int, dict[str, float]] = {}
    loaded = 0
    for size in sizes:
        load_seconds = load(engine, generator, loaded, size - loaded)
        loaded = size
        with factory() as session:
            began = time.perf_counter()
            # The pages below read the 90-day snapshots; `portal stats refresh` does all periods.
            refresh_snapshots(session, sla=sla, now=datetime.now(UTC), periods=["90d"])
            session.commit()
            refresh_seconds = time.perf_counter() - began
            row = measure(app, session, chief, sla)
        results[size] = row
        print(
            f"{size:>9} {load_seconds:>7.1f} {refresh_seconds:>9.1f} {row['queue']:>9.4f} "
            f"{row['queue_filtered']:>10.4f} {row['national']:>9.4f} {row['regional']:>9.4f} "
            f"{row['national_live']:>9.3f} {row['regional_live']:>9.3f}",
            flush=True,
        )
    if len(sizes) > 1:
        small, large = results[sizes[0]], results[sizes[-1]]
        ratios = " ".join(f"{name}={large[name] / small[name]:.2f}x" for name in small)
        print(f"ratio {sizes[-1]}/{sizes[0]}: {ratios}")
    engine.dispose()
    app.extensions["db_engine"].dispose()


def measure(app: Any, session: Session, chief: Any, sla: SLA) -> dict[str, float]:
    officer = session.scalars(select(Officer).where(Officer.username == "bench-officer")).one()
    queue_args: dict[str, Any] = {
        "after": None,
        "first_response_hours": app.config["SLA_FIRST_RESPONSE_HOURS"],
        "resolution_days": app.config["SLA_RESOLUTION_DAYS"],
        "timezone": app.config["BABEL_DEFAULT_TIMEZONE"],
    }
    # A filter that still fills a whole page at every size, so that both sizes do the same work.
    filtered = QueueFilters(category="fraud")
    period = Period.rolling("90d", datetime.now(UTC))
    return {
        "queue": timed(lambda: load_queue(session, officer, QueueFilters(), **queue_args)),
        "queue_filtered": timed(lambda: load_queue(session, officer, filtered, **queue_args)),
        "national": timed(lambda: _page(chief, "/supervisor/?period=90d")),
        "regional": timed(lambda: _page(chief, "/supervisor/?period=90d&region=MA-06")),
        # Seconds each at 1M: measured once after the warm-up.
        "national_live": timed(lambda: compute_dashboard(session, period=period, sla=sla), 1),
        "regional_live": timed(
            lambda: compute_dashboard(session, period=period, sla=sla, region_code="MA-06"), 1
        ),
    }


def _page(client: Any, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 200, response.status_code


if __name__ == "__main__":
    main()
