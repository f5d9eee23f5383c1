"""Scale benchmark: the officer queue, the case page and every statistics page, by size.

For each size, synthetic reports (spread over two years, regions, categories, priorities,
statuses and response times like real traffic; routed by the real routing table) are bulk-loaded
with COPY into a PostgreSQL schema of that size (``portal_bench_<size>``, in the database named by
``--database``; nothing else is touched), the statistics rollups and URL cluster counters are
rebuilt (``portal stats rebuild``), and these pages are timed through the Flask client after a
real sign-in, after a warm-up round, 9 runs each with the sizes measured in turns (round after
round), so that other work on the machine falls on every size alike:

- the officer queue's first page and a filtered page (one category);
- the national dashboard for the last 90 days and for a two-year custom range;
- a regional dashboard (90 days) and the CSV export (90 days, national);
- a case page whose URL is shared by min(20,000, size / 2) reports.

Each size's median and fastest run are printed; the ratio largest/smallest for each page, the
10M extrapolation from the measured growth and the last line ``worst ratio: X.XX (MEASURE)`` use
the fastest run (other work on the machine only ever adds time; the median ratios are printed
too). ``--reuse`` keeps a schema already loaded at that size (migrated to the current schema;
``--rebuild`` also rebuilds its rollups). Open reports: the generator keeps about 1 % of reports
open (recent ones still waiting), so the backlog grows with the rate of reports (94 at 10k,
about 10,000 at 1M), as a real backlog grows with the traffic. The officer's unit holds at
least two queue pages of open reports at every size (recent ones reopened at 10k), so that the
queue measures compare full pages. The process keeps the memory it frees, as a gunicorn worker
does (``portal.web.allocator``), so that the pages are timed as the workers serve them
(``--default-allocator`` leaves the allocator as a process starts, to compare). Usage::

    .venv/bin/python bench/scale.py --database portal_bench_stats --sizes 10000,1000000
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import math
import random
import shutil
import statistics
import sys
import tempfile
import time
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
from portal.domain.receipts import ReceiptHasher
from portal.domain.routing import route
from portal.domain.urlnorm import normalize_url
from portal.models import PRIORITY_RANK, Report, Subdivision, Unit
from portal.services import rollups, schema
from portal.services.accounts import create_officer
from portal.services.demo import CATEGORY_WEIGHTS
from portal.services.queue import PAGE_SIZE
from portal.services.reference_data import load_routing_table, sync_reference_data
from portal.services.reports import ReportSubmission, submit_report
from portal.web import allocator

TOTP_SECRET = "JBSWY3DPEHPK3PXPBENCHAAA"
PASSWORD = "bench-password-2026"  # a throwaway account in a throwaway schema
HISTORY_DAYS = 730
# Reports of the last 90 days may still wait on the reporter or an investigation; older ones
# have all been answered and resolved (an officer's backlog does not keep years of cases).
RECENT = timedelta(days=90)
REPEATS = 9
CLUSTER_MAX = 20_000
CLUSTER_URL = "https://phishing.example/login"
OFFICER_UNIT = "CASABLANCA"
FILTERED_CATEGORY = "fraud"  # the filtered queue page's
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
MEASURES = (
    ("queue", "queue first page"),
    ("queue_filtered", "filtered queue"),
    ("national_90d", "national 90 days"),
    ("national_2y", "national 2 years"),
    ("regional", "regional 90 days"),
    ("csv", "CSV export"),
    ("case", "case, big cluster"),
)
DASHBOARDS = ("national_90d", "national_2y", "regional", "csv")


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
            elif closed > now or (now - submitted < RECENT and rng.random() < 0.04):
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


def full_queue_page(engine: Engine) -> None:
    """The officer's unit holds at least two pages of open reports at every size, and so does
    its filtered page's category: at 10,000 reports the generator's backlog leaves it a
    handful, and a queue page of 7 open rows (or of open and resolved ones) measured against
    one of 50 open rows would time the rows, not the scale. Its most recent resolved reports
    are reopened (answered, in review) before the rollups are built from them."""
    reopen = text(
        "UPDATE reports SET status = 'in_review', closure_reason = NULL, closed_at = NULL"
        " WHERE id IN (SELECT r.id FROM reports r JOIN units u ON u.id = r.unit_id"
        " WHERE u.code = :unit AND r.status IN ('referred', 'closed')"
        " AND (:category = '' OR r.category = :category)"
        " ORDER BY r.submitted_at DESC LIMIT greatest(0, :floor - (SELECT count(*)"
        " FROM reports o JOIN units v ON v.id = o.unit_id WHERE v.code = :unit"
        " AND (:category = '' OR o.category = :category)"
        " AND o.status NOT IN ('referred', 'closed'))))"
    )
    with engine.begin() as connection:
        for category in (FILTERED_CATEGORY, ""):
            connection.execute(
                reopen, {"unit": OFFICER_UNIT, "category": category, "floor": 2 * PAGE_SIZE}
            )


def copy_reports(engine: Engine, generator: Generator, count: int) -> None:
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        with cursor.copy(f"COPY reports ({', '.join(COLUMNS)}) FROM STDIN") as copy:  # type: ignore[attr-defined]
            for row in generator.rows(0, count):
                copy.write_row(row)
        raw.commit()
    finally:
        raw.close()


def sign_in(app: Any, username: str) -> Any:
    client = app.test_client()
    response = client.post("/officer/login", data={"username": username, "password": PASSWORD})
    assert response.status_code == 303, response.status_code
    code = pyotp.TOTP(TOTP_SECRET).now()
    response = client.post("/officer/login/code", data={"code": code})
    assert response.status_code == 303, response.status_code
    return client


def make_app(url: str, instance: Path) -> Any:
    """The app over a schema; its instance dir (keys) lives as long as the schema."""
    instance.mkdir(mode=0o700, parents=True, exist_ok=True)
    ensure_secrets(instance)
    if not (instance / "keys").exists() or not any((instance / "keys").iterdir()):
        create_master_key(instance)
    return create_app(
        {
            "INSTANCE_PATH": str(instance),
            "DATABASE_URL": url,
            "EVIDENCE_STORE": f"file://{instance / 'evidence'}",
            "WTF_CSRF_ENABLED": False,
            "RATELIMIT_ENABLED": False,
            "STATS_STATEMENT_TIMEOUT_MS": 60_000,
        }
    )


def instance_for(database: str, size: int) -> Path:
    return Path(tempfile.gettempdir()) / f"portal-bench-{database}-{size}"


def kept(url: str, database: str, size: int, rebuild: bool) -> dict[str, float]:
    """A schema kept from an earlier run: migrated to the code's schema, rollups rebuilt on
    request (``--rebuild``, after a change of how they are stored)."""
    engine = make_engine(url)
    schema.upgrade(engine)
    timings: dict[str, float] = {}
    if rebuild:
        app = make_app(url, instance_for(database, size))
        factory = make_session_factory(engine, audit_key=app.config["AUDIT_KEY"])
        with factory() as session:
            began = time.perf_counter()
            rollups.rebuild(session)
            session.commit()
            timings["rebuild"] = time.perf_counter() - began
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("VACUUM ANALYZE"))
        app.extensions["db_engine"].dispose()
    engine.dispose()
    return timings


def prepare(
    base: str, database: str, size: int, reuse: bool, rebuild: bool = False
) -> tuple[str, dict[str, float]]:
    """A schema holding ``size`` reports, a cluster and the staff accounts; load timings."""
    schema_name = f"portal_bench_{size}"
    url = f"{base}?options=-csearch_path%3D{schema_name}"
    admin = make_engine(base)
    with admin.begin() as connection:
        exists = connection.execute(
            text("SELECT 1 FROM information_schema.schemata WHERE schema_name = :s"),
            {"s": schema_name},
        ).first()
        if exists and reuse:
            count = connection.execute(text(f"SELECT count(*) FROM {schema_name}.reports")).scalar()
            if count == size + 1:
                admin.dispose()
                return url, kept(url, database, size, rebuild)
        connection.execute(text(f"DROP SCHEMA IF EXISTS {schema_name} CASCADE"))
        connection.execute(text(f"CREATE SCHEMA {schema_name}"))
    admin.dispose()
    engine = make_engine(url)
    schema.upgrade(engine)
    instance = instance_for(database, size)
    shutil.rmtree(instance, ignore_errors=True)
    app = make_app(url, instance)
    factory = make_session_factory(engine, audit_key=app.config["AUDIT_KEY"])
    now = datetime.now(UTC)
    timings: dict[str, float] = {}
    with factory() as session:
        sync_reference_data(session)
        keyring = app.extensions["keyring"]
        for username, role, units in (
            ("bench-officer", "officer", [OFFICER_UNIT]),
            ("bench-chief", "supervisor", []),
        ):
            create_officer(
                session,
                username=username,
                display_name=username,
                password=PASSWORD,
                role=role,
                keyring=keyring,
                password_hasher=app.extensions["password_hasher"],
                unit_codes=units,
                totp_secret=TOTP_SECRET,
            )
        session.commit()
        generator = Generator(session, now)
    began = time.perf_counter()
    copy_reports(engine, generator, size)
    full_queue_page(engine)
    timings["load"] = time.perf_counter() - began
    with factory() as session:
        # The case under study: a real submission (encrypted fields) sharing its URL with many.
        shared = normalize_url(CLUSTER_URL)
        report, _ = submit_report(
            session,
            ReportSubmission(
                category="fraud",
                platform="website",
                description="A fake bank login page asking for card numbers.",
                urls=[shared],
                subdivision_code="MA-CAS",
            ),
            keyring=keyring,
            hasher=ReceiptHasher(pepper=b"b" * 32, time_cost=1, memory_cost_kib=64),
            indexer=app.extensions["blind_indexer"],
            now=now - timedelta(days=1),
        )
        # Other reports name the same URL: copies of its encrypted row and blind indexes.
        session.execute(
            text(
                "INSERT INTO report_urls (report_id, position, original_enc, normalized_enc,"
                " host_enc, url_index, host_index)"
                " SELECT r.id, 0, u.original_enc, u.normalized_enc, u.host_enc, u.url_index,"
                " u.host_index FROM report_urls u, (SELECT id FROM reports WHERE id <> :case"
                " ORDER BY id LIMIT :n) r WHERE u.report_id = :case"
            ),
            {"case": report.id, "n": min(CLUSTER_MAX, size // 2)},
        )
        session.commit()
        began = time.perf_counter()
        rollups.rebuild(session)
        session.commit()
        timings["rebuild"] = time.perf_counter() - began
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        # As autovacuum would after a bulk load: statistics and the visibility map.
        connection.execute(text("VACUUM ANALYZE"))
    engine.dispose()
    app.extensions["db_engine"].dispose()
    return url, timings


def pages_of(url: str, instance: Path) -> tuple[Any, dict[str, tuple[Any, str]]]:
    """The app over one size's schema and the pages to time, signed in."""
    app = make_app(url, instance)
    officer, chief = sign_in(app, "bench-officer"), sign_in(app, "bench-chief")
    with app.app_context():
        from portal.db import get_session

        case = get_session().scalar(
            select(Report.reference).where(~Report.reference.startswith("EB-B"))
        )
    today = datetime.now(UTC).date()
    two_years = f"from={(today - timedelta(days=729)).isoformat()}&to={today.isoformat()}"
    return app, {
        "queue": (officer, "/officer/"),
        "queue_filtered": (officer, f"/officer/?category={FILTERED_CATEGORY}"),
        "national_90d": (chief, "/supervisor/?period=90d"),
        "national_2y": (chief, f"/supervisor/?{two_years}"),
        "regional": (chief, "/supervisor/?period=90d&region=MA-06"),
        "csv": (chief, "/supervisor/response-times.csv?period=90d"),
        "case": (officer, f"/officer/reports/{case}"),
    }


def measure(targets: dict[int, tuple[str, Path]]) -> dict[int, dict[str, list[float]]]:
    """Times of each page at each size, ``REPEATS`` each. The sizes are measured in turns (round
    after round, every page of every size), so that load from elsewhere on the machine falls on
    all sizes alike instead of on whichever size happened to run during it."""
    apps = {size: pages_of(url, instance) for size, (url, instance) in targets.items()}
    samples: dict[int, dict[str, list[float]]] = {
        size: {name: [] for name, _ in MEASURES} for size in apps
    }
    for round_ in range(REPEATS + 1):  # the first round warms the caches, as in service
        for size, (_app, pages) in apps.items():
            for name, _label in MEASURES:
                client, path = pages[name]
                began = time.perf_counter()
                _page(client, path)
                if round_:
                    samples[size][name].append(time.perf_counter() - began)
    for app, _pages in apps.values():
        app.extensions["db_engine"].dispose()
    return samples


def _page(client: Any, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 200, (path, response.status_code)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--database", required=True, help="PostgreSQL database name")
    parser.add_argument("--host", default="127.0.0.1:5432")
    parser.add_argument("--sizes", default="10000,1000000")
    parser.add_argument("--reuse", action="store_true", help="keep a schema loaded at its size")
    parser.add_argument(
        "--rebuild", action="store_true", help="with --reuse: rebuild the rollups of kept schemas"
    )
    parser.add_argument("--load-only", action="store_true", help="load and rebuild, no timing")
    parser.add_argument(
        "--default-allocator",
        action="store_true",
        help="leave the C allocator as a process starts (to compare with a worker's settings)",
    )
    args = parser.parse_args()
    # The pages run in a process whose allocator keeps freed memory, as a gunicorn worker's
    # does (portal.web.allocator): else the 1M dashboards fault their arrays' pages in anew.
    kept = not args.default_allocator and allocator.keep_freed_memory()
    sizes = sorted({int(size) for size in args.sizes.split(",")})
    base = f"postgresql+psycopg://postgres@{args.host}/{args.database}"

    print(
        f"Database {args.database!r}; pages through the Flask client, {REPEATS} runs each, the"
        " sizes in turns; seconds, the median, then the fastest run (the ratios use the fastest)"
        f"; freed memory {'kept, as in a worker' if kept else 'handed back (default allocator)'}."
    )
    print(
        f"{'reports':>9} {'load s':>7} {'rebuild s':>9} "
        + " ".join(f"{name:>14}" for name, _ in MEASURES)
    )
    targets: dict[int, tuple[str, Path]] = {}
    loads: dict[int, str] = {}
    for size in sizes:
        url, timings = prepare(base, args.database, size, args.reuse, args.rebuild)
        loads[size] = (f"{timings['load']:>7.1f} " if "load" in timings else f"{'kept':>7} ") + (
            f"{timings['rebuild']:>9.1f}" if "rebuild" in timings else f"{'kept':>9}"
        )
        targets[size] = (url, instance_for(args.database, size))
        if args.load_only:
            print(f"{size:>9} {loads[size]}", flush=True)
    if args.load_only:
        return
    samples = measure(targets)
    # The fastest run of each page: work elsewhere on the machine only ever adds time to a run,
    # so the fastest is the closest to the page's own cost (the median is printed too).
    results = {size: {n: min(v) for n, v in by_name.items()} for size, by_name in samples.items()}
    medians = {
        size: {n: statistics.median(v) for n, v in by_name.items()}
        for size, by_name in samples.items()
    }
    for size, row in medians.items():
        print(
            f"{size:>9} {'median':>17} " + " ".join(f"{row[name]:>14.4f}" for name, _ in MEASURES),
            flush=True,
        )
    for size, row in results.items():
        print(
            f"{size:>9} {loads[size]} " + " ".join(f"{row[name]:>14.4f}" for name, _ in MEASURES),
            flush=True,
        )
    if len(results) < 2:
        return
    small, large = sizes[0], sizes[-1]
    medians_ratio = {name: medians[large][name] / medians[small][name] for name, _ in MEASURES}
    print(
        f"median ratio {large}/{small}: "
        + " ".join(f"{name}={ratio:.2f}" for name, ratio in medians_ratio.items())
    )
    # With more than two sizes, the growth between each size and the next too: whether a page's
    # cost keeps growing, or stops once the stored distributions are full.
    for lower, upper in itertools.pairwise(sizes) if len(sizes) > 2 else ():
        print(
            f"ratio {upper}/{lower}: "
            + " ".join(
                f"{name}={results[upper][name] / results[lower][name]:.2f}" for name, _ in MEASURES
            )
        )
    ratios = {name: results[large][name] / results[small][name] for name, _ in MEASURES}
    print(
        f"ratio {large}/{small}: "
        + " ".join(f"{name}={ratio:.2f}" for name, ratio in ratios.items())
    )
    decades = math.log10(large / small)
    ahead = math.log10(10_000_000 / large)
    extrapolated = {
        name: results[large][name] * ratios[name] ** (ahead / decades) for name, _ in MEASURES
    }
    print(
        "10M extrapolated from the measured growth (s): "
        + " ".join(f"{name}={value:.4f}" for name, value in extrapolated.items())
    )
    slowest = max(DASHBOARDS, key=lambda name: results[large][name])
    print(f"slowest dashboard at {large}: {results[large][slowest]:.4f} s ({slowest})")
    worst = max(ratios, key=lambda name: ratios[name])
    print(f"worst ratio: {ratios[worst]:.2f} ({worst})")


if __name__ == "__main__":
    main()
