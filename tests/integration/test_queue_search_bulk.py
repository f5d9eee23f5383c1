"""The queue's search, count, sorts and "my cases", and its bulk actions, through the pages.

Search by URL, site, identifier and reference finds only the officer's units' reports; bulk
actions go through the single-report rules, are audited per report, report each failure on its
row, never tell a foreign reference from a missing one, and refuse a form without CSRF token.
"""

from __future__ import annotations

import html
import json
import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from portal.domain.identifiers import (
    normalize_email,
    normalize_handle,
    normalize_phone,
    parse_payee,
)
from portal.domain.urlnorm import normalize_url
from portal.models import PRIORITY_RANK, AuditEvent, Report, Unit, utcnow
from portal.services import campaigns
from portal.services.queue import Cursor, QueueFilters, count_matching, load_queue
from portal.services.reports import ReportSubmission, submit_report
from tests.support.staff import make_officer, sign_in
from tests.support.statements import captured
from tests.support.web import csrf_from

_ROW_REF = re.compile(r'href="/officer/reports/(EB-[0-9A-Z]{4}-[0-9A-Z]{4})"')


def _make(
    app,
    db,
    *,
    url: str,
    hours_ago: float = 1,
    territory: str = "MA-CAS",
    priority: str = "normal",
    status: str = "received",
    identifiers=(),
) -> Report:
    report, _ = submit_report(
        db,
        ReportSubmission(
            category="fraud",
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
    report.priority, report.priority_rank = priority, PRIORITY_RANK[priority]
    report.status = status
    if status in ("closed", "referred"):
        report.closed_at = utcnow()
    db.flush()
    if identifiers:
        campaigns.add_traces(
            db,
            report,
            [campaigns.identifier_trace(identifier, "account") for identifier in identifiers],
            indexer=app.extensions["blind_indexer"],
            keyring=app.extensions["keyring"],
        )
    db.commit()
    return report


@pytest.fixture
def amina(app, db):
    officer, secret = make_officer(app, db, "amina")
    client = app.test_client()
    sign_in(client, "amina", secret)
    return officer, client


def _refs(client, query: str) -> list[str]:
    return _ROW_REF.findall(client.get(f"/officer/?{query}").get_data(as_text=True))


def _count(page: str) -> str:
    match = re.search(r'id="queue-count" role="status">([^<]*)<', page)
    assert match, page[:2000]
    return match.group(1).strip()


# --- search ----------------------------------------------------------------------------------


def test_search_by_url_and_site_finds_only_this_units_reports(app, db, amina):
    _, client = amina
    same_a = _make(app, db, url="https://evil.example.ma/offer?id=7", hours_ago=3)
    same_b = _make(app, db, url="https://EVIL.example.ma/offer?id=7&utm_source=fb", hours_ago=2)
    other_page = _make(app, db, url="https://evil.example.ma/other", hours_ago=1)
    elsewhere = _make(app, db, url="https://evil.example.ma/offer?id=7", territory="MA-RAB")
    _make(app, db, url="https://unrelated.example.org/offer?id=7")

    page = client.get("/officer/?q=https://evil.example.ma/offer?id=7%26utm_campaign=x")
    text = page.get_data(as_text=True)
    assert _ROW_REF.findall(text) == [same_a.reference, same_b.reference]
    assert _count(text) == "2 reports"
    assert elsewhere.reference not in text

    site = _refs(client, "q=evil.example.ma")
    assert site == [same_a.reference, same_b.reference, other_page.reference]
    assert _refs(client, "q=https://evil.example.ma/") == site
    assert _count(client.get("/officer/?q=evil.example.ma").get_data(as_text=True)) == "3 reports"


def test_search_by_identifier_and_reference(app, db, amina):
    _, client = amina
    phone = normalize_phone("0612345678")
    by_phone = _make(app, db, url="https://a.example.ma/1", identifiers=[phone])
    _make(app, db, url="https://a.example.ma/2", territory="MA-RAB", identifiers=[phone])
    by_handle = _make(
        app,
        db,
        url="https://a.example.ma/3",
        identifiers=[normalize_handle("@Some.Blackmailer", "instagram")],
    )
    by_mail = _make(
        app, db, url="https://a.example.ma/4", identifiers=[normalize_email("Payer@Example.MA")]
    )
    iban = parse_payee("MA64 0115 1900 0001 2050 0053 4921")
    by_iban = _make(app, db, url="https://a.example.ma/5", identifiers=[iban])

    assert _refs(client, "q=%2B212 6 12 34 56 78") == [by_phone.reference]
    assert _refs(client, "q=00212612345678") == [by_phone.reference]
    assert _refs(client, "q=@some.blackmailer") == [by_handle.reference]
    assert _refs(client, "q=https://www.instagram.com/some.blackmailer/") == [by_handle.reference]
    assert _refs(client, "q=payer@example.ma") == [by_mail.reference]
    assert _refs(client, "q=MA64011519000001205000534921") == [by_iban.reference]
    typed = by_mail.reference.lower().replace("-", " ")
    assert _refs(client, f"q={typed}") == [by_mail.reference]
    # Nothing readable: nothing found, and the count says so.
    page = client.get("/officer/?q=%2B%2B%2B").get_data(as_text=True)
    assert _ROW_REF.findall(page) == [] and _count(page) == "0 reports"


def test_a_foreign_reference_is_not_found_by_search(app, db, amina):
    _, client = amina
    foreign = _make(app, db, url="https://b.example.ma/1", territory="MA-RAB")
    page = client.get(f"/officer/?q={foreign.reference}").get_data(as_text=True)
    assert _ROW_REF.findall(page) == [] and _count(page) == "0 reports"


def test_count_is_bounded(app, db, amina):
    officer, _ = amina
    for i in range(4):
        _make(app, db, url=f"https://c.example.ma/{i}")
    zone = "Africa/Casablanca"
    assert count_matching(db, officer, QueueFilters(), timezone=zone) == (4, False)
    assert count_matching(db, officer, QueueFilters(), timezone=zone, cap=3) == (3, True)


# --- sorts and views -------------------------------------------------------------------------


def test_sorts_and_my_cases(app, db, amina):
    officer, client = amina
    oldest = _make(app, db, url="https://d.example.ma/1", hours_ago=30)
    urgent = _make(app, db, url="https://d.example.ma/2", hours_ago=2, priority="urgent")
    newest = _make(app, db, url="https://d.example.ma/3", hours_ago=1)
    oldest.updated_at = utcnow() - timedelta(minutes=1)
    urgent.updated_at = utcnow() - timedelta(hours=2)
    newest.updated_at = utcnow() - timedelta(minutes=30)
    newest.assigned_officer_id = officer.id
    db.commit()

    assert _refs(client, "") == [urgent.reference, oldest.reference, newest.reference]
    assert _refs(client, "sort=age") == [oldest.reference, urgent.reference, newest.reference]
    assert _refs(client, "sort=activity") == [
        oldest.reference,
        newest.reference,
        urgent.reference,
    ]
    page = client.get("/officer/?assigned=me").get_data(as_text=True)
    assert _ROW_REF.findall(page) == [newest.reference]
    assert re.search(r'aria-current="page">My cases<', page)


@pytest.mark.parametrize("sort", ["urgency", "age", "activity"])
def test_every_sort_pages_through_everything_once(app, db, sort):
    officer, _ = make_officer(app, db, "amina")
    made = [
        _make(
            app,
            db,
            url=f"https://e.example.ma/{i}",
            hours_ago=i % 5,
            priority=("urgent", "high", "normal")[i % 3],
            status="closed" if i % 4 == 0 else "received",
        )
        for i in range(1, 14)
    ]
    seen: list[int] = []
    after = None
    while True:
        page = load_queue(
            db,
            officer,
            QueueFilters(status="all", sort=sort),
            after=Cursor.decode(after, sort),
            first_response_hours={},
            resolution_days={},
            timezone="Africa/Casablanca",
            page_size=4,
        )
        seen.extend(row.report.id for row in page.rows)
        if page.next_cursor is None:
            break
        after = page.next_cursor
    assert sorted(seen) == sorted(r.id for r in made) and len(seen) == len(set(seen))


# --- bulk actions ----------------------------------------------------------------------------


def _bulk(client, refs, query: str = "", **fields):
    token = csrf_from(client.get("/officer/").get_data(as_text=True))
    data = {"csrf_token": token, "refs": list(refs), **fields}
    return client.post(f"/officer/bulk{query}", data=data)


def _flashes(client) -> str:
    return html.unescape(client.get("/officer/?status=all").get_data(as_text=True))


def _audit(db, action: str) -> list[str]:
    return list(db.scalars(select(AuditEvent.subject).where(AuditEvent.action == action)).all())


def test_bulk_claim_audits_each_report_and_reports_each_failure(app, db, amina):
    officer, client = amina
    first = _make(app, db, url="https://f.example.ma/1")
    second = _make(app, db, url="https://f.example.ma/2")
    closed = _make(app, db, url="https://f.example.ma/3", status="closed")
    foreign = _make(app, db, url="https://f.example.ma/4", territory="MA-RAB")
    refs = [first.reference, second.reference, closed.reference, foreign.reference, "EB-ZZZZ-ZZZZ"]

    response = _bulk(client, refs, "?sort=age", action="claim")
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/officer/?sort=age")
    page = _flashes(client)
    assert f"Done for 2 reports: {first.reference}, {second.reference}." in page
    assert f"{closed.reference}: already closed" in page
    # A report of another unit reads exactly like one that does not exist.
    assert f"{foreign.reference}: not found in your units" in page
    assert "EB-ZZZZ-ZZZZ: not found in your units" in page

    db.expire_all()
    for report in (first, second):
        assert report.assigned_officer_id == officer.id and report.status == "in_review"
    assert closed.assigned_officer_id is None and foreign.assigned_officer_id is None
    claimed = _audit(db, "report.claimed")
    assert sorted(claimed) == sorted([f"report:{first.reference}", f"report:{second.reference}"])
    bulk = db.scalars(select(AuditEvent).where(AuditEvent.action == "queue.bulk_action")).one()
    assert json.loads(bulk.details) == {"action": "claim", "count": 5}

    again = _bulk(client, [first.reference], action="claim")
    assert again.status_code == 303
    assert f"{first.reference}: already assigned to you" in _flashes(client)


def test_bulk_assign_to_a_colleague(app, db, amina):
    _, client = amina
    colleague, _ = make_officer(app, db, "karim", display_name="Karim Bennani")
    outsider, _ = make_officer(app, db, "rachid", units=("RABAT",))
    one = _make(app, db, url="https://g.example.ma/1")
    two = _make(app, db, url="https://g.example.ma/2")
    page = client.get("/officer/").get_data(as_text=True)
    assert "Karim Bennani" in page
    # Only colleagues of this officer's units are offered; posting another is refused per row.
    assert f'value="{outsider.id}"' not in page.split('name="assignee"')[1].split("</select>")[0]

    assert _bulk(client, [one.reference, two.reference], action="assign", assignee=colleague.id)
    db.expire_all()
    assert one.assigned_officer_id == colleague.id == two.assigned_officer_id
    assert len(_audit(db, "report.assigned")) == 2

    response = _bulk(client, [one.reference], action="assign", assignee=outsider.id)
    assert response.status_code == 400  # not one of the choices: the form says so at the field
    assert "Not a valid choice" in response.get_data(as_text=True)


def test_bulk_transfer_needs_a_reason_next_to_its_field(app, db, amina):
    _, client = amina
    one = _make(app, db, url="https://h.example.ma/1")
    two = _make(app, db, url="https://h.example.ma/2")
    rabat = db.scalars(select(Unit).where(Unit.code == "RABAT")).one()

    refused = _bulk(client, [one.reference, two.reference], action="transfer", unit=rabat.id)
    assert refused.status_code == 400
    text = refused.get_data(as_text=True)
    assert re.search(r'id="reason-error">Say why', text)
    # The ticked rows stay ticked.
    assert re.search(rf'value="{one.reference}" id="pick-{one.reference}" checked', text)
    db.expire_all()
    assert one.unit_id != rabat.id

    done = _bulk(
        client, [one.reference, two.reference], action="transfer", unit=rabat.id, reason="Rabat"
    )
    assert done.status_code == 303
    db.expire_all()
    assert one.unit_id == rabat.id == two.unit_id
    assert len(_audit(db, "report.transferred")) == 2
    # Out of scope now: the queue no longer lists them.
    assert _refs(client, "status=all") == []


def test_bulk_close_as_duplicate_is_all_or_nothing_per_row(app, db, amina):
    _, client = amina
    original = _make(app, db, url="https://i.example.ma/1", hours_ago=5)
    copy = _make(app, db, url="https://i.example.ma/1", hours_ago=4)
    in_review = _make(app, db, url="https://i.example.ma/1", hours_ago=3, status="in_review")
    referred = _make(app, db, url="https://i.example.ma/1", hours_ago=2, status="referred")
    foreign_original = _make(app, db, url="https://i.example.ma/9", territory="MA-RAB")

    refs = [copy.reference, in_review.reference, referred.reference, original.reference]
    response = _bulk(client, refs, action="duplicate", original=original.reference.lower())
    assert response.status_code == 303
    page = _flashes(client)
    assert f"Done for 2 reports: {copy.reference}, {in_review.reference}." in page
    assert f"{referred.reference}: already referred to the prosecutor" in page
    assert f"{original.reference}: A report cannot duplicate itself" in page

    db.expire_all()
    for report in (copy, in_review):
        assert report.status == "closed" and report.closure_reason == "duplicate"
        assert report.duplicate_of_id == original.id
    # The referred report was linked, then could not be closed: the link was undone with it.
    assert referred.status == "referred" and referred.duplicate_of_id is None
    linked = _audit(db, "report.linked_duplicate")
    assert sorted(linked) == sorted([f"report:{copy.reference}", f"report:{in_review.reference}"])
    assert original.status == "received"

    # The original must be in the officer's units, and is named as not found otherwise.
    other = _make(app, db, url="https://i.example.ma/2")
    _bulk(client, [other.reference], action="duplicate", original=foreign_original.reference)
    assert "No report with this reference in your units." in _flashes(client)
    db.expire_all()
    assert other.status == "received" and other.duplicate_of_id is None


def test_bulk_close_as_duplicate_never_closes_an_urgent_case(app, db, amina):
    """Closing an urgent case asks for a confirmation on its page; a bulk close must not skip it."""
    _, client = amina
    original = _make(app, db, url="https://u.example.ma/1", hours_ago=5)
    urgent = _make(app, db, url="https://u.example.ma/1", hours_ago=4, priority="urgent")
    plain = _make(app, db, url="https://u.example.ma/1", hours_ago=3)

    refs = [urgent.reference, plain.reference]
    assert _bulk(client, refs, action="duplicate", original=original.reference).status_code == 303
    page = _flashes(client)
    assert f"Done for 1 report: {plain.reference}." in page
    assert f"{urgent.reference}: urgent, or awaiting the reporter's answer" in page
    db.expire_all()
    assert urgent.status == "received" and urgent.duplicate_of_id is None
    assert plain.status == "closed" and plain.duplicate_of_id == original.id


def test_bulk_without_csrf_token_changes_nothing(app, db, amina):
    _, client = amina
    report = _make(app, db, url="https://j.example.ma/1")
    response = client.post("/officer/bulk", data={"refs": [report.reference], "action": "claim"})
    assert response.status_code == 400
    db.expire_all()
    assert report.assigned_officer_id is None and _audit(db, "report.claimed") == []


def test_bulk_needs_an_action_and_a_ticked_report(app, db, amina):
    _, client = amina
    report = _make(app, db, url="https://k.example.ma/1")
    response = _bulk(client, [], action="claim")
    assert response.status_code == 400
    assert "Tick at least one report." in response.get_data(as_text=True)
    response = _bulk(client, [report.reference])
    assert response.status_code == 400
    assert re.search(r'id="action-error">Choose an action', response.get_data(as_text=True))
    response = _bulk(client, [report.reference], action="duplicate")
    assert re.search(r'id="original-error">Give the reference', response.get_data(as_text=True))


def test_an_officer_of_another_unit_cannot_act_by_posting_references(app, db):
    casablanca = _make(app, db, url="https://l.example.ma/1")
    _, secret = make_officer(app, db, "youssef", units=("RABAT",))
    colleague, _ = make_officer(app, db, "nadia", units=("RABAT",))
    client = app.test_client()
    sign_in(client, "youssef", secret)
    subject = f"report:{casablanca.reference}"
    before = _audit_actions(db, subject)
    for fields in (
        {"action": "claim"},
        {"action": "assign", "assignee": colleague.id},
        {"action": "duplicate", "original": casablanca.reference},
    ):
        response = _bulk(client, [casablanca.reference], **fields)
        assert response.status_code == 303
        assert f"{casablanca.reference}: not found in your units" in _flashes(client)
    db.expire_all()
    assert casablanca.assigned_officer_id is None and casablanca.version == 1
    assert casablanca.status == "received" and casablanca.duplicate_of_id is None
    assert _audit_actions(db, subject) == before


def test_bulk_reads_every_ticked_report_in_one_query_scoped_to_the_units(app, db):
    from sqlalchemy import event

    from portal.services import bulk_actions

    officer, _ = make_officer(app, db, "amina")
    mine = [_make(app, db, url=f"https://o.example.ma/{n}") for n in range(3)]
    foreign = _make(app, db, url="https://o.example.ma/9", territory="MA-RAB")
    typed = [mine[0].reference.lower(), mine[1].reference, mine[2].reference]
    references = (*typed, foreign.reference, "EB-ZZZZ-ZZZZ", "not a reference")

    engine = db.get_bind()
    lookups: list[str] = []

    def capture(_conn, _cursor, statement, _parameters, _context, _many):
        where = statement.partition("WHERE")[2]
        if statement.lstrip().upper().startswith("SELECT") and "reports.reference" in where:
            lookups.append(statement)

    event.listen(engine, "before_cursor_execute", capture)
    try:
        result = bulk_actions.run(
            db,
            officer,
            bulk_actions.BulkRequest(action="claim", references=references),
            keyring=app.extensions["keyring"],
        )
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    db.commit()
    assert len(lookups) == 1 and " IN " in lookups[0].upper() and "unit_id" in lookups[0]
    assert result.done == [report.reference for report in mine]
    # Another unit's report is refused in the very words of one that does not exist.
    refused = {row.reference: str(row.message) for row in result.failed}
    assert refused == {
        foreign.reference: "not found in your units",
        "EB-ZZZZ-ZZZZ": "not found in your units",
        "not a reference": "not found in your units",
    }
    db.expire_all()
    assert foreign.assigned_officer_id is None


def _audit_actions(db, subject: str) -> list[str]:
    return list(db.scalars(select(AuditEvent.action).where(AuditEvent.subject == subject)))


@pytest.mark.parametrize(
    ("filters", "index"),
    [
        (QueueFilters(sort="age"), "ix_reports_open_queue_age"),
        (QueueFilters(sort="activity"), "ix_reports_open_queue_activity"),
        (QueueFilters(assigned="me"), "ix_reports_open_assigned"),
        (QueueFilters(search="m.example.ma"), "ix_report_urls_host_index"),
    ],
    ids=["age", "activity", "my-cases", "site-search"],
)
def test_each_view_reads_its_index_in_order(app, db, filters, index):
    """A first page is read in order from an index of open cases: no sort of the backlog."""
    from sqlalchemy import event

    officer, _ = make_officer(app, db, "amina")
    _make(app, db, url="https://m.example.ma/1")
    engine = db.get_bind()
    captured: list = []

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
            indexer=app.extensions["blind_indexer"],
        )
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    statement, parameters = captured[0]
    cursor = db.connection().connection.dbapi_connection.cursor()
    if engine.dialect.name == "postgresql":
        cursor.execute("SET enable_seqscan = off")
        cursor.execute("SET enable_bitmapscan = off")
        cursor.execute("EXPLAIN " + statement, parameters)
    else:
        cursor.execute("EXPLAIN QUERY PLAN " + statement, parameters)
    plan = "\n".join(str(row) for row in cursor.fetchall())
    assert index in plan, plan
    if not filters.search:
        assert "TEMP B-TREE" not in plan and "Sort" not in plan, plan
    # A search reads its matches from the blind-index indexes, never every report.
    assert "Seq Scan on reports" not in plan and "SCAN reports" not in plan.replace(
        "SCAN reports USING", ""
    ), plan


def test_a_reporter_reply_is_the_latest_activity(app, db, amina):
    from portal.services.reports import add_reporter_reply

    _, client = amina
    quiet = _make(app, db, url="https://n.example.ma/1", hours_ago=5)
    busy = _make(app, db, url="https://n.example.ma/2", hours_ago=6)
    quiet.updated_at = utcnow() - timedelta(minutes=5)
    busy.updated_at = utcnow() - timedelta(hours=6)
    db.commit()
    assert _refs(client, "sort=activity") == [quiet.reference, busy.reference]
    add_reporter_reply(db, busy, "It happened again.", keyring=app.extensions["keyring"])
    db.commit()
    page = client.get("/officer/?sort=activity").get_data(as_text=True)
    assert _ROW_REF.findall(page) == [busy.reference, quiet.reference]
    row = page.split(f'href="/officer/reports/{busy.reference}"')[1].split("</tr>")[0]
    assert "New reply" in row


def test_a_supervisor_searches_by_reference_only_and_cannot_act_in_bulk(app, db):
    """A URL, site or identifier search would tell a supervisor what was reported (content,
    behind the break glass); a reference search and the queue's metadata stay open to them."""
    reported = _make(
        app, db, url="https://leak.example.ma/page", identifiers=[normalize_phone("0612345678")]
    )
    _, secret = make_officer(app, db, "nadia", role="supervisor", units=())
    client = app.test_client()
    sign_in(client, "nadia", secret)

    assert _refs(client, "q=https://leak.example.ma/page") == []
    assert _refs(client, "q=leak.example.ma") == []
    assert _refs(client, "q=0612345678") == []
    assert _refs(client, f"q={reported.reference}") == [reported.reference]

    page = client.get("/officer/").get_data(as_text=True)
    assert reported.reference in page
    assert 'name="refs"' not in page and "bulk-actions" not in page
    token = csrf_from(client.get("/officer/").get_data(as_text=True))
    response = client.post(
        "/officer/bulk",
        data={"csrf_token": token, "action": "claim", "refs": [reported.reference]},
    )
    assert response.status_code == 404
    db.expire_all()
    assert reported.assigned_officer_id is None and reported.status == "received"


def test_a_supervisors_queue_has_no_bulk_form_built_or_shown(app, db):
    reported = _make(app, db, url="https://p.example.ma/1")
    _, secret = make_officer(app, db, "nadia", role="supervisor", units=())
    client = app.test_client()
    sign_in(client, "nadia", secret)
    with captured(db.get_bind()) as sent:
        page = client.get("/officer/").get_data(as_text=True)
    statements = [statement for statement, _ in sent]
    assert reported.reference in page
    assert "bulk-form" not in page and "/officer/bulk" not in page
    assert "With the ticked reports" not in page
    # Nor built: the form's choices (colleagues to assign to, units to transfer to) are not read.
    assert not [s for s in statements if "FROM units" in s]
    assert not [s for s in statements if "officers.role" in s.partition("WHERE")[2]]
