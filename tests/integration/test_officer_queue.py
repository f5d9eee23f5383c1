"""The queue: order, filters, keyset pages, SLA in words, shared-URL counts, index use."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from portal.domain.urlnorm import normalize_url
from portal.models import PRIORITY_RANK, Officer, Report, utcnow
from portal.services.queue import Cursor, QueueFilters, load_queue
from portal.services.reports import ReportSubmission, submit_report
from tests.support.staff import make_officer, sign_in

_ROW_REF = re.compile(r'href="/officer/reports/(EB-[0-9A-Z]{4}-[0-9A-Z]{4})"')


def _make(
    app,
    db,
    *,
    hours_ago: float,
    priority: str = "normal",
    territory="MA-CAS",
    url="https://example.ma/a",
    status="received",
    category="fraud",
) -> Report:
    report, _ = submit_report(
        db,
        ReportSubmission(
            category=category,
            platform="website",
            description="Test report",
            urls=[normalize_url(url)],
            subdivision_code=territory,
        ),
        keyring=app.extensions["keyring"],
        hasher=app.extensions["receipt_hasher"],
        indexer=app.extensions["blind_indexer"],
        now=utcnow() - timedelta(hours=hours_ago),
    )
    report.priority = priority
    report.priority_rank = PRIORITY_RANK[priority]
    report.status = status
    if status in ("closed", "referred"):
        report.closed_at = utcnow()
    db.commit()
    return report


@pytest.fixture
def staff(app, db):
    _, secret = make_officer(app, db, "amina")
    client = app.test_client()
    sign_in(client, "amina", secret)
    return client


def test_open_first_then_most_urgent_then_oldest(app, db, staff):
    new_normal = _make(app, db, hours_ago=1, url="https://a.ma/1")
    old_normal = _make(app, db, hours_ago=30, url="https://a.ma/2")
    urgent = _make(app, db, hours_ago=2, priority="urgent", url="https://a.ma/3")
    closed = _make(app, db, hours_ago=50, priority="urgent", status="closed", url="https://a.ma/4")
    refs = _ROW_REF.findall(staff.get("/officer/").get_data(as_text=True))
    assert refs == [urgent.reference, old_normal.reference, new_normal.reference]
    refs = _ROW_REF.findall(staff.get("/officer/?status=all").get_data(as_text=True))
    assert refs == [urgent.reference, old_normal.reference, new_normal.reference, closed.reference]


def test_filters(app, db, staff):
    fraud = _make(app, db, hours_ago=3, url="https://a.ma/1")
    threat = _make(app, db, hours_ago=4, category="threats", priority="high", url="https://a.ma/2")
    old = _make(app, db, hours_ago=24 * 10, url="https://a.ma/3")
    page = staff.get("/officer/?category=threats").get_data(as_text=True)
    assert _ROW_REF.findall(page) == [threat.reference]
    page = staff.get("/officer/?priority=normal").get_data(as_text=True)
    assert set(_ROW_REF.findall(page)) == {fraud.reference, old.reference}
    since = (utcnow() - timedelta(days=2)).date().isoformat()
    page = staff.get(f"/officer/?date_from={since}").get_data(as_text=True)
    assert set(_ROW_REF.findall(page)) == {fraud.reference, threat.reference}
    typed = fraud.reference.lower().replace("-", " ")
    page = staff.get(f"/officer/?reference={typed}").get_data(as_text=True)
    assert _ROW_REF.findall(page) == [fraud.reference]
    amina = db.scalar(select(Officer).where(Officer.username == "amina"))
    threat.assigned_officer_id = amina.id
    db.commit()
    assert _ROW_REF.findall(staff.get("/officer/?assigned=me").get_data(as_text=True)) == [
        threat.reference
    ]
    assert threat.reference not in staff.get("/officer/?assigned=unassigned").get_data(as_text=True)


def test_keyset_pages_cover_everything_once(app, db):
    officer, _ = make_officer(app, db, "amina")
    made = [
        _make(
            app,
            db,
            hours_ago=i,
            priority=("urgent", "high", "normal")[i % 3],
            url=f"https://a.ma/{i}",
            status="closed" if i % 4 == 0 else "received",
        )
        for i in range(1, 12)
    ]
    seen: list[int] = []
    after = None
    while True:
        page = load_queue(
            db,
            officer,
            QueueFilters(status="all"),
            after=Cursor.decode(after),
            first_response_hours={},
            resolution_days={},
            timezone="Africa/Casablanca",
            page_size=4,
        )
        seen.extend(row.report.id for row in page.rows)
        assert len(page.rows) <= 4
        if page.next_cursor is None:
            break
        after = page.next_cursor
    assert sorted(seen) == sorted(r.id for r in made) and len(seen) == len(set(seen))
    open_part = [r for r in made if r.status != "closed"]
    expected_open = sorted(open_part, key=lambda r: (r.priority_rank, r.submitted_at, r.id))
    assert seen[: len(open_part)] == [r.id for r in expected_open]


def test_queue_pages_through_the_browser(app, db, staff, monkeypatch):
    monkeypatch.setattr("portal.services.queue.PAGE_SIZE", 2)
    for i in range(5):
        _make(app, db, hours_ago=i + 1, url=f"https://a.ma/{i}")
    seen = []
    page = staff.get("/officer/").get_data(as_text=True)
    while True:
        seen += _ROW_REF.findall(page)
        match = re.search(r'rel="next" href="([^"]+)"', page)
        if not match:
            break
        page = staff.get(match.group(1).replace("&amp;", "&")).get_data(as_text=True)
    assert len(seen) == 5 == len(set(seen))


def test_sla_in_words_and_shared_urls_and_unread(app, db, staff):
    overdue = _make(app, db, hours_ago=80, url="https://shared.example.ma/x")
    _make(app, db, hours_ago=1, territory="MA-RAB", url="https://shared.example.ma/x")
    fresh = _make(app, db, hours_ago=1, url="https://lonely.example.ma/")
    overdue.last_reporter_activity_at = utcnow()
    db.commit()
    page = staff.get("/officer/").get_data(as_text=True)
    rows = page.split("<tr")
    overdue_row = next(row for row in rows if overdue.reference in row)
    fresh_row = next(row for row in rows if fresh.reference in row)
    assert "sla-overdue" in overdue_row and "First response overdue by" in overdue_row
    assert "sla-ok" in fresh_row and "First response due in" in fresh_row
    assert "1 other report" in overdue_row
    assert "New reply" in overdue_row and "New reply" not in fresh_row


def test_queue_query_reads_the_open_queue_index(app, db):
    officer, _ = make_officer(app, db, "amina")
    _make(app, db, hours_ago=1)
    filters = QueueFilters()
    captured: list[str] = []
    from sqlalchemy import event

    engine = db.get_bind()

    def capture(conn, cursor, statement, parameters, context, executemany):
        if "FROM reports" in statement and "ORDER BY" in statement:
            captured.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", capture)
    try:
        load_queue(
            db,
            officer,
            filters,
            after=None,
            first_response_hours={},
            resolution_days={},
            timezone="Africa/Casablanca",
        )
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    statement, parameters = captured[0]
    raw = db.connection().connection.dbapi_connection
    cursor = raw.cursor()
    if engine.dialect.name == "postgresql":
        cursor.execute("SET enable_seqscan = off")
        cursor.execute("EXPLAIN " + statement, parameters)
    else:
        cursor.execute("EXPLAIN QUERY PLAN " + statement, parameters)
    plan = "\n".join(str(row) for row in cursor.fetchall())
    assert "ix_reports_open_queue" in plan
    # The order comes from the index: no sort step over the unit's whole backlog.
    assert "TEMP B-TREE" not in plan and "Sort" not in plan
