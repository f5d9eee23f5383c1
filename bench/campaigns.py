"""Campaign benchmark: linking a new report, matching an image, a 5,000-report campaign page.

Loads synthetic reports (``bench/scale.py``'s generator) into PostgreSQL with COPY, in a
database of its own (default ``portal_bench_campaigns``, created if missing; its ``public``
schema is dropped and recreated), with traces whose reuse looks like real offenders': most
reports carry one to three identifiers (phones, Instagram handles, bank accounts, wallets,
transfer codes, URLs); about a quarter of those come from a pool of offenders whose activity
follows a power law (a few reused in hundreds of reports, most in a handful), the rest are seen
once. Campaign membership is computed for the loaded rows, then for each size it prints the
median of:

- ``link``: ``campaigns.link_new_report`` for one new report with two identifiers drawn the same
  way (blind indexes, encryption, the equality join on traces, merges), rolled back each time;
- ``pdq``: ``PdqIndex.match`` for one image against as many hashes as there are reports (and
  the one-off cost of a worker's first look, which decrypts every stored hash);
- ``page``: ``/officer/campaigns/<id>`` for a national supervisor (after a real sign-in), for a
  50-report campaign and for a 5,000-report campaign (only at the largest size).

Then the ratios between the largest and smallest size, and between the two campaign pages.
Usage::

    .venv/bin/python bench/campaigns.py [--database portal_bench_campaigns] [--sizes 10000,1000000]
"""

from __future__ import annotations

import argparse
import bisect
import itertools
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyotp
from sqlalchemy import select, text
from sqlalchemy.orm import Session

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from scale import PASSWORD, TOTP_SECRET, Generator, load

from portal import create_app
from portal.crypto.instance_secrets import ensure_secrets
from portal.crypto.keyring import create_master_key
from portal.db import make_engine, make_session_factory
from portal.evidence.pdq import PdqIndex, hash_context
from portal.models import Campaign, Report
from portal.services import campaigns, schema
from portal.services.accounts import create_officer
from portal.services.reference_data import sync_reference_data

REPEATS = 15
KINDS = [
    ("phone", 40),
    ("handle:instagram", 25),
    ("bank_account", 15),
    ("url", 10),
    ("wallet", 5),
    ("transfer_code", 5),
]
SHARED = 0.25  # share of identifiers that come from the offender pool
BIG = 5000
SMALL = 50


class Traces:
    """Identifiers per report with power-law reuse, and the campaigns they make (union-find)."""

    def __init__(self, seed: int = 11) -> None:
        self.rng = random.Random(seed)
        self.cumulative: list[float] = []
        self.parent: dict[int, int] = {}
        self.first: dict[tuple[str, str], int] = {}
        self.kinds = [kind for kind, _ in KINDS]
        self.weights = [weight for _, weight in KINDS]
        self.fresh = 0

    def offenders(self, pool: int) -> None:
        """How active each offender is (Pareto weights); earlier offenders keep theirs."""
        weights = [b - a for a, b in zip([0.0, *self.cumulative], self.cumulative, strict=False)]
        weights += [self.rng.paretovariate(1.5) for _ in range(pool - len(weights))]
        self.cumulative = list(itertools.accumulate(weights))

    def identifier(self, pool: int) -> tuple[str, str]:
        kind = self.rng.choices(self.kinds, self.weights)[0]
        if self.rng.random() < SHARED:
            if len(self.cumulative) < pool:
                self.offenders(pool)
            rank = bisect.bisect(self.cumulative, self.rng.random() * self.cumulative[-1])
            return kind, f"offender-{kind}-{min(rank, pool - 1)}"
        self.fresh += 1
        return kind, f"once-{kind}-{self.fresh}"

    def for_report(self, pool: int) -> list[tuple[str, str]]:
        count = self.rng.choices([0, 1, 2, 3], [20, 40, 30, 10])[0]
        return list({self.identifier(pool) for _ in range(count)})

    def find(self, node: int) -> int:
        parent = self.parent
        while parent[node] != node:
            parent[node] = parent[parent[node]]
            node = parent[node]
        return node

    def add(self, report_id: int, identifiers: list[tuple[str, str]]) -> None:
        if not identifiers:
            return
        self.parent.setdefault(report_id, report_id)
        for pair in identifiers:
            other = self.first.setdefault(pair, report_id)
            a, b = self.find(report_id), self.find(other)
            if a != b:
                self.parent[max(a, b)] = min(a, b)


def copy_rows(engine: Any, table: str, columns: tuple[str, ...], rows: Iterator[tuple]) -> None:
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        raw.commit()
    finally:
        raw.close()


def load_traces(
    engine: Any, traces: Traces, indexer: Any, start: int, count: int, pool: int
) -> None:
    now = datetime.now(UTC).replace(tzinfo=None)

    with engine.connect() as connection:
        # Ids follow the load order (a rolled-back insert may have used a few in between).
        ids = list(
            connection.scalars(
                text("SELECT id FROM reports WHERE reference LIKE 'EB-B%' ORDER BY id OFFSET :n"),
                {"n": start},
            )
        )
    assert len(ids) == count

    def rows() -> Iterator[tuple]:
        for report_id in ids:
            identifiers = traces.for_report(pool)
            traces.add(report_id, identifiers)
            for kind, value in identifiers:
                role = "payee" if kind in campaigns.PAYMENT_KINDS else "account"
                # The value stays encrypted in service; its size does not change the join.
                yield (report_id, kind, indexer.index(kind, value), role, b"x", "reporter", now)

    copy_rows(
        engine,
        "traces",
        ("report_id", "kind", "key", "role", "value_enc", "source", "created_at"),
        rows(),
    )


def rebuild_campaigns(engine: Any, traces: Traces, total: int) -> None:
    """Campaign rows and membership for every loaded report with a trace (as the service keeps)."""
    now = datetime.now(UTC).replace(tzinfo=None)
    roots: dict[int, int] = {}
    for report_id in traces.parent:
        root = traces.find(report_id)
        roots[root] = roots.get(root, 0) + 1
    with engine.begin() as connection:
        connection.execute(text("TRUNCATE campaign_members, campaigns RESTART IDENTITY CASCADE"))
    copy_rows(
        engine,
        "campaigns",
        ("id", "created_at", "updated_at", "report_count"),
        ((root, now, now, size) for root, size in roots.items()),
    )
    copy_rows(
        engine,
        "campaign_members",
        ("report_id", "campaign_id", "joined_at", "paid"),
        ((rid, traces.find(rid), now, False) for rid in traces.parent),
    )
    with engine.begin() as connection:
        connection.execute(
            text(
                "SELECT setval(pg_get_serial_sequence('campaigns', 'id'), "
                "(SELECT max(id) FROM reports) + :n)"
            ),
            {"n": total},
        )
        connection.execute(text("ANALYZE traces"))
        connection.execute(text("ANALYZE campaign_members"))
        connection.execute(text("ANALYZE campaigns"))


def timed(action: Callable[[], object], repeats: int = REPEATS) -> float:
    action()
    samples = []
    for _ in range(repeats):
        began = time.perf_counter()
        action()
        samples.append(time.perf_counter() - began)
    return statistics.median(samples)


def link_once(session: Session, traces: Traces, template: tuple, pool: int, app: Any) -> None:
    report = Report(
        reference=f"EB-N{traces.rng.randrange(10**10):010d}",
        receipt_hash=traces.rng.randbytes(32),
        category="sextortion",
        platform="instagram",
        description_enc=b"x",
        routing_reason="territory",
        unit_id=template[0],
        region_id=template[1],
        subdivision_id=template[2],
        submitted_at=datetime.now(UTC),
        updated_at=datetime.now(UTC),
    )
    session.add(report)
    session.flush()
    new = [
        campaigns.NewTrace(kind, value, "account")
        for kind, value in (traces.identifier(pool), traces.identifier(pool))
    ]
    campaigns.add_traces(
        session,
        report,
        new,
        indexer=app.extensions["blind_indexer"],
        keyring=app.extensions["keyring"],
    )
    campaigns.ensure_member(session, report, now=report.submitted_at)
    session.rollback()


def make_campaign(engine: Any, session: Session, app: Any, size: int, phone: str) -> int:
    """``size`` reports without traces now share one phone (encrypted as in service)."""
    indexer, keyring = app.extensions["blind_indexer"], app.extensions["keyring"]
    key = indexer.index("phone", phone)
    rows = session.execute(
        text(
            "SELECT id, reference FROM reports r WHERE NOT EXISTS "
            "(SELECT 1 FROM traces t WHERE t.report_id = r.id) ORDER BY id LIMIT :n"
        ),
        {"n": size},
    ).all()
    now = datetime.now(UTC)
    campaign = Campaign(created_at=now, updated_at=now, report_count=len(rows))
    session.add(campaign)
    session.commit()
    naive = now.replace(tzinfo=None)
    copy_rows(
        engine,
        "traces",
        ("report_id", "kind", "key", "role", "value_enc", "source", "created_at"),
        (
            (
                rid,
                "phone",
                key,
                "account",
                keyring.encrypt_field(phone, campaigns.trace_context(ref, "phone", key)),
                "reporter",
                naive,
            )
            for rid, ref in rows
        ),
    )
    copy_rows(
        engine,
        "campaign_members",
        ("report_id", "campaign_id", "joined_at", "paid", "amount_cents", "currency"),
        (
            (rid, campaign.id, naive, rid % 3 == 0, 100_000 + rid % 7 * 5000, "MAD")
            for rid, _ in rows
        ),
    )
    return campaign.id


def sign_in(app: Any, username: str) -> Any:
    client = app.test_client()
    response = client.post("/officer/login", data={"username": username, "password": PASSWORD})
    assert response.status_code == 303, response.status_code
    response = client.post("/officer/login/code", data={"code": pyotp.TOTP(TOTP_SECRET).now()})
    assert response.status_code == 303, response.status_code
    return client


def pdq_match_time(count: int) -> float:
    index = PdqIndex()
    rng = np.random.default_rng(5)
    step = 200_000
    for start in range(0, count, step):
        n = min(step, count - start)
        index.add(
            np.arange(start, start + n, dtype=np.int64),
            rng.integers(0, 256, (n, 32), dtype=np.uint8),
        )
    query = rng.integers(0, 256, 32, dtype=np.uint8).tobytes()
    return timed(lambda: index.match(query))


def warm_up_rate(app: Any, count: int = 20_000) -> float:
    """Hashes per second a worker's first look decrypts into its index."""
    keyring = app.extensions["keyring"]
    tokens = [
        keyring.encrypt_field(bytes(32).hex(), hash_context(f"EB-B{i:010d}", i))
        for i in range(count)
    ]
    began = time.perf_counter()
    for i, token in enumerate(tokens):
        bytes.fromhex(keyring.decrypt_field(token, hash_context(f"EB-B{i:010d}", i)))
    return count / (time.perf_counter() - began)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", default="portal_bench_campaigns")
    parser.add_argument("--host", default="127.0.0.1:5432")
    parser.add_argument("--sizes", default="10000,1000000")
    args = parser.parse_args()
    sizes = sorted(int(size) for size in args.sizes.split(","))
    server = make_engine(f"postgresql+psycopg://postgres@{args.host}/postgres")
    with server.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        exists = connection.scalar(
            text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": args.database}
        )
        if not exists:
            connection.execute(text(f'CREATE DATABASE "{args.database}"'))
    server.dispose()
    url = f"postgresql+psycopg://postgres@{args.host}/{args.database}"
    engine = make_engine(url)
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
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
        }
    )
    factory = make_session_factory(engine)
    now = datetime.now(UTC)
    with factory() as session:
        sync_reference_data(session)
        create_officer(
            session,
            username="bench-chief",
            display_name="Bench supervisor",
            password=PASSWORD,
            role="supervisor",
            keyring=app.extensions["keyring"],
            password_hasher=app.extensions["password_hasher"],
            totp_secret=TOTP_SECRET,
        )
        session.commit()
        generator = Generator(session, now - timedelta(days=1))
    chief = sign_in(app, "bench-chief")
    traces = Traces()
    indexer = app.extensions["blind_indexer"]

    print(f"PostgreSQL database {args.database!r}; median of {REPEATS} runs; times in ms.")
    print(f"{'reports':>9} {'traces':>9} {'load s':>7} {'link':>8} {'pdq':>8} {'page 50':>8}")
    results: dict[int, dict[str, float]] = {}
    loaded = 0
    for size in sizes:
        began = time.perf_counter()
        load(engine, generator, loaded, size - loaded)
        pool = max(50, size // 20)
        load_traces(engine, traces, indexer, loaded, size - loaded, pool)
        rebuild_campaigns(engine, traces, size)
        load_seconds = time.perf_counter() - began
        loaded = size
        with factory() as session:
            template = tuple(
                session.execute(
                    select(Report.unit_id, Report.region_id, Report.subdivision_id).limit(1)
                ).one()
            )
            trace_count = session.scalar(text("SELECT count(*) FROM traces"))
            link = timed(lambda: link_once(session, traces, template, pool, app))  # noqa: B023
            small_id = make_campaign(engine, session, app, SMALL, f"+2126000{size % 100000:05d}")
        pdq = pdq_match_time(size)
        page_small = timed(lambda: _page(chief, f"/officer/campaigns/{small_id}"), 5)  # noqa: B023
        results[size] = {"link": link, "pdq": pdq, "page": page_small}
        print(
            f"{size:>9} {trace_count:>9} {load_seconds:>7.1f} {link * 1000:>8.2f} "
            f"{pdq * 1000:>8.2f} {page_small * 1000:>8.1f}",
            flush=True,
        )
    with factory() as session:
        big_id = make_campaign(engine, session, app, BIG, "+212699999999")
        size = session.get(Campaign, big_id).report_count
    page_big = timed(lambda: _page(chief, f"/officer/campaigns/{big_id}"), 3)
    print(f"campaign page, {size} reports: {page_big * 1000:.0f} ms")
    if len(sizes) > 1:
        small, large = results[sizes[0]], results[sizes[-1]]
        ratios = " ".join(f"{name}={large[name] / small[name]:.2f}x" for name in small)
        print(f"ratio {sizes[-1]}/{sizes[0]}: {ratios}")
    print(
        f"campaign page {size}/{SMALL} reports: {page_big / results[sizes[-1]]['page']:.1f}x; "
        f"pdq at {sizes[-1]} against the 50 ms goal: {results[sizes[-1]]['pdq'] / 0.05:.2f}"
    )
    rate = warm_up_rate(app)
    print(
        f"index warm-up (first match in a worker): {rate:,.0f} hashes/s decrypted, "
        f"{sizes[-1] / rate:.1f} s at {sizes[-1]}"
    )
    engine.dispose()
    app.extensions["db_engine"].dispose()


def _page(client: Any, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 200, response.status_code


if __name__ == "__main__":
    main()
