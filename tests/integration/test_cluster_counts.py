"""The case page and the queue read a cluster's size from the counters: exact with one shared
URL, exact from the rows with several when the cluster is small, "at least" beyond
``trace_counts.EXACT_BOUND``; another unit's reports are counted, never listed; and the queries
behind these figures never read the cluster's rows."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import func, insert, select, text
from sqlalchemy.orm import Session

from portal.db import make_engine, make_session_factory
from portal.domain.urlnorm import normalize_url
from portal.models import Report, ReportURL, Unit, utcnow
from portal.services import casefile, queue, rollups, schema, trace_counts
from portal.services.reference_data import sync_reference_data
from portal.services.reports import url_index
from tests.support.staff import make_officer, sign_in
from tests.support.statements import captured
from tests.support.submissions import submit_urls as submit

A = "https://phishing.example/login"
B = "https://phishing.example/card"
RABAT = "Rabat Prefecture of Police"
OWN_URLS = 4


def grow(app, db, case: Report, urls: list[str], count: int, unit: str, tag: str) -> None:
    """``count`` closed reports of ``unit`` naming ``urls``, some of the case's: rows inserted
    directly, as a bulk load would (copies of the case's URL rows); the caller rebuilds."""
    unit_id = db.scalar(select(Unit.id).where(Unit.code == unit))
    old = utcnow() - timedelta(days=30)
    db.execute(
        insert(Report),
        [
            {
                "reference": f"EB-{tag}{n:07d}",
                "receipt_hash": hashlib.sha256(f"{tag}{n}".encode()).digest(),
                "category": "fraud",
                "platform": "website",
                "description_enc": b"x",
                "routing_reason": "territory",
                "unit_id": unit_id,
                "status": "closed",
                "closure_reason": "no_offence",
                "submitted_at": old,
                "first_response_at": old,
                "closed_at": old,
                "updated_at": old,
            }
            for n in range(count)
        ],
    )
    indexer = app.extensions["blind_indexer"]
    keys = {url_index(indexer, normalize_url(url).normalized) for url in urls}
    for row in case.urls:
        if row.url_index not in keys:
            continue
        db.execute(
            text(
                "INSERT INTO report_urls (report_id, position, original_enc, normalized_enc,"
                " host_enc, url_index, host_index)"
                " SELECT r.id, :position, u.original_enc, u.normalized_enc, u.host_enc,"
                " u.url_index, u.host_index FROM report_urls u, reports r"
                " WHERE u.id = :row AND r.reference LIKE :pattern"
            ),
            {"position": row.position, "row": row.id, "pattern": f"EB-{tag}%"},
        )


def own_urls(db, per_report: int) -> None:
    """Every report also names ``per_report`` URLs of its own, as most reports do: the shared
    ones are then a small part of the URL rows, as in service."""
    numbers = " UNION ALL ".join(f"SELECT {n} AS k" for n in range(per_report))
    db.execute(
        text(
            "INSERT INTO report_urls (report_id, position, original_enc, normalized_enc,"
            " host_enc, url_index, host_index)"
            " SELECT r.id, 10 + n.k, :blob, :blob, :blob, 'own-' || r.id || '-' || n.k, 'h'"
            f" FROM reports r, ({numbers}) n"
        ),
        {"blob": b"x"},
    )


def rebuilt(db) -> None:
    rollups.rebuild(db)
    db.commit()


def section(page: str) -> str:
    return page.split("Other reports with the same address")[1].split("</section>")[0]


def queue_row(page: str, reference: str) -> str:
    return next(row for row in page.split("<tr") if reference in row)


@pytest.fixture
def amina(app, db):
    officer, secret = make_officer(app, db, "amina")
    client = app.test_client()
    sign_in(client, "amina", secret)
    return officer, client


def test_one_shared_url_beyond_the_bound_is_counted_exactly(app, db, amina):
    _, client = amina
    case = submit(app, db, [A])
    grow(app, db, case, [A], 1200, "RABAT", "R")
    grow(app, db, case, [A], 1300, "CASABLANCA", "C")
    rebuilt(db)
    assert trace_counts.EXACT_BOUND < 1200 + 1300

    page = client.get(f"/officer/reports/{case.reference}").get_data(as_text=True)
    part = section(page)
    assert f"{RABAT}: 1200 reports" in part
    assert "See all 1300 reports in your units" in part
    assert "at least" not in part
    named = re.findall(r'class="reference" dir="ltr" href="[^"]+">(EB-[^<]+)<', part)
    assert named == [f"EB-C{n:07d}" for n in range(1299, 1299 - casefile.CLUSTER_PREVIEW, -1)]
    # Rabat's reports are counted, never named, here or on the full list. (Their references are
    # EB-R and seven digits; the case's own reference is random and may begin with an R.)
    rabat_reference = re.compile(r"EB-R\d{7}")
    assert not rabat_reference.search(page)
    listed = client.get(f"/officer/reports/{case.reference}/cluster").get_data(as_text=True)
    assert "EB-C0001299" in listed and not rabat_reference.search(listed)

    rows = client.get("/officer/?status=all").get_data(as_text=True)
    assert "2500 other reports" in queue_row(rows, case.reference)
    # Every other row of the page is one of the 1300 in scope: the case and 2499 others.
    assert "2500 other reports" in queue_row(rows, "EB-C0000000")


def test_several_shared_urls_beyond_the_bound_read_at_least(app, db, amina):
    _, client = amina
    case = submit(app, db, [A, B])
    grow(app, db, case, [A], 500, "RABAT", "A")
    grow(app, db, case, [B], 800, "RABAT", "B")
    grow(app, db, case, [A, B], 200, "RABAT", "AB")
    grow(app, db, case, [B], 300, "CASABLANCA", "BC")
    grow(app, db, case, [A], 600, "CASABLANCA", "AC")
    rebuilt(db)

    part = section(client.get(f"/officer/reports/{case.reference}").get_data(as_text=True))
    # Rabat holds 1500 (200 name both), Casablanca 900: each unit shows its largest count for
    # one URL, as a lower bound, and says why.
    assert f"{RABAT}: at least 1000 reports" in part
    assert "See all reports in your units (at least 600)" in part
    assert "each figure counts the reports naming the most shared of them" in part

    rows = client.get("/officer/").get_data(as_text=True)
    assert "at least 1300 other reports" in queue_row(rows, case.reference)


def test_several_shared_urls_in_a_small_cluster_are_counted_from_the_rows(app, db, amina):
    _, client = amina
    case = submit(app, db, [A, B])
    casablanca = [submit(app, db, [A]) for _ in range(3)]
    rabat = [submit(app, db, [B], "MA-RAB") for _ in range(2)]
    rabat += [submit(app, db, [A, B], "MA-RAB") for _ in range(2)]

    page = client.get(f"/officer/reports/{case.reference}").get_data(as_text=True)
    part = section(page)
    # Two of Rabat's name both URLs: counted once each, not once per URL.
    assert f"{RABAT}: 4 reports" in part and "at least" not in part
    assert set(re.findall(r">(EB-[0-9A-Z-]+)</a> ·", part)) == {r.reference for r in casablanca}
    assert not any(r.reference in page for r in rabat)

    rows = client.get("/officer/").get_data(as_text=True)
    assert "7 other reports" in queue_row(rows, case.reference)
    # A Casablanca report naming only A: the case, two in Casablanca and two in Rabat.
    assert "5 other reports" in queue_row(rows, casablanca[0].reference)
    sizes = queue.cluster_sizes(db, [case.id, casablanca[0].id])
    assert sizes == {case.id: queue.SameURL(7), casablanca[0].id: queue.SameURL(5)}


def test_a_report_alone_shows_no_cluster(app, db, amina):
    _, client = amina
    case = submit(app, db, [A, B])
    part = section(client.get(f"/officer/reports/{case.reference}").get_data(as_text=True))
    assert "None." in part
    assert queue.cluster_sizes(db, [case.id]) == {}


def test_the_newest_in_scope_are_found_beneath_many_elsewhere(app, db):
    """The preview and the full list walk the cluster newest first in growing batches: reports
    in scope are found past hundreds held elsewhere, in order, each once, with either URL."""
    officer, _ = make_officer(app, db, "amina")
    case = submit(app, db, [A, B])
    grow(app, db, case, [A], 150, "CASABLANCA", "O")
    grow(app, db, case, [A, B], 120, "CASABLANCA", "P")
    grow(app, db, case, [B], 900, "RABAT", "R")
    grow(app, db, case, [A, B], 300, "RABAT", "S")
    grow(app, db, case, [B], 7, "CASABLANCA", "N")
    rebuilt(db)
    expected = list(
        db.scalars(
            select(Report.reference)
            .where(Report.unit_id == case.unit_id, Report.id != case.id)
            .order_by(Report.id.desc())
        )
    )
    assert len(expected) == 277

    cluster = casefile.cluster_for(db, officer, case)
    assert [m.reference for m in cluster.visible] == expected[: casefile.CLUSTER_PREVIEW]
    assert cluster.more and not cluster.at_least and cluster.in_scope == 277
    seen, after = [], None
    while True:
        page = casefile.cluster_page(db, officer, case, limit=60, after=after)
        seen += [m.reference for m in page.members]
        if page.next_after is None:
            break
        after = page.next_after
    assert seen == expected


# --- the plans ------------------------------------------------------------------------------


def _captured(db, work) -> list[tuple[str, object]]:
    with captured(db.get_bind()) as statements:
        work()
    return statements


def _node_rows(node: dict) -> list[int]:
    """Rows each plan node handled (kept or filtered out), over all its loops."""
    handled = node.get("Actual Rows", 0) + sum(
        node.get(name, 0)
        for name in (
            "Rows Removed by Filter",
            "Rows Removed by Index Recheck",
            "Rows Removed by Join Filter",
        )
    )
    own = [handled * node.get("Actual Loops", 1)]
    return own + [rows for child in node.get("Plans", ()) for rows in _node_rows(child)]


@pytest.fixture
def analysed_db(app, db, database_url) -> Iterator[Session]:
    """A session whose tables get planner statistics, as autovacuum keeps them in service. On
    PostgreSQL a schema of its own, so that the statistics of this data never steer the plans
    other tests check."""
    if not database_url.startswith("postgresql"):
        yield db
        return
    engine = make_engine(database_url, connect_args={"options": "-csearch_path=cluster_plans"})
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA IF EXISTS cluster_plans CASCADE"))
        connection.execute(text("CREATE SCHEMA cluster_plans"))
    schema.upgrade(engine)
    try:
        with make_session_factory(engine, audit_key=app.config["AUDIT_KEY"])() as session:
            sync_reference_data(session)
            session.commit()
            yield session
    finally:
        with engine.begin() as connection:
            connection.execute(text("DROP SCHEMA IF EXISTS cluster_plans CASCADE"))
        engine.dispose()


def analyse(db) -> None:
    if db.get_bind().dialect.name == "postgresql":
        db.execute(text("ANALYZE reports; ANALYZE report_urls; ANALYZE trace_counts"))
        db.commit()


@pytest.mark.parametrize("urls", [[A], [A, B]], ids=["one URL", "two URLs"])
def test_the_counts_never_read_the_cluster(app, analysed_db, urls):
    db = analysed_db
    officer, _ = make_officer(app, db, "amina")
    case = submit(app, db, urls)
    size = 2500
    grow(app, db, case, urls, size // 2, "RABAT", "R")
    grow(app, db, case, urls, size - size // 2, "CASABLANCA", "C")
    own_urls(db, OWN_URLS)
    rebuilt(db)
    analyse(db)
    page_ids = [case.id, *db.scalars(select(Report.id).order_by(Report.id.desc()).limit(49))]

    def work() -> None:
        cluster = casefile.cluster_for(db, officer, case)
        assert cluster.size >= size // 2
        sizes = queue.cluster_sizes(db, page_ids)
        assert sizes[case.id].count >= size // 2

    statements = _captured(db, work)
    assert any("trace_counts" in statement for statement, _ in statements)
    # What the counters justify, whatever the cluster's size: per report of the page, a counter
    # per URL and unit holding it (two units here); the list of units; a batch of the newest.
    bound = max(
        len(page_ids) * (len(urls) + OWN_URLS) * 2,
        db.scalar(select(func.count()).select_from(Unit)),
        casefile.CLUSTER_BATCH,
    )
    assert bound < size / 4
    cursor = db.connection().connection.dbapi_connection.cursor()
    for statement, parameters in statements:
        if db.get_bind().dialect.name == "postgresql":
            cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + statement, parameters)
            plan = cursor.fetchone()[0]
            plan = json.loads(plan) if isinstance(plan, str) else plan
            handled = max(_node_rows(plan[0]["Plan"]))
            assert handled <= bound, (statement, json.dumps(plan, indent=1))
        else:
            cursor.execute("EXPLAIN QUERY PLAN " + statement, parameters)
            plan = "\n".join(str(row) for row in cursor.fetchall())
            assert not re.search(r"SCAN (report_urls|reports)\b", plan), (statement, plan)
            # Reports are read by primary key only, never a unit's reports by an index.
            for line in re.findall(r"SEARCH reports [^']*", plan):
                assert "PRIMARY KEY" in line, (statement, plan)
            # The cluster's index is read only a batch at a time, for the newest in scope.
            if "ix_report_urls_url_index" in plan:
                assert "LIMIT" in statement, (statement, plan)
    db.rollback()
    assert db.scalar(select(func.count()).select_from(ReportURL)) >= size
