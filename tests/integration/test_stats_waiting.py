"""Waiting and overdue figures of the statistics service, at a fixed moment, hand-computed.

NOW is Wednesday 10 June 2026, 12:00 UTC; targets: urgent 4 h, high 24 h, normal 72 h.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from portal.services.stats import Period, compute_dashboard, waiting_reports_query
from tests.support.stats import NOW, SLA_TEST, add_report, hours


def dashboard(db, region=None, days=30):
    period = Period.between((NOW - timedelta(days=days - 1)).date(), NOW.date())
    return compute_dashboard(db, period=period, sla=SLA_TEST, region_code=region, now=NOW)


def row(rows, key):
    return next(r for r in rows if r.key == key)


def test_waiting_now_counts_every_open_unanswered_report_whatever_the_period(db):
    # Answered: never waiting. Closed without any answer cannot happen (closing answers).
    add_report(db, submitted=NOW - hours(50), first_response=hours(1))
    add_report(db, submitted=NOW - hours(5), priority="urgent")  # 5 h > 4 h: overdue
    add_report(db, submitted=NOW - hours(3), priority="urgent")  # 3 h < 4 h: not yet
    add_report(db, submitted=NOW - hours(80))  # normal, 80 h > 72 h: overdue
    add_report(db, submitted=NOW - timedelta(days=60), region="MA-07", unit="MARRAKECH")
    result = dashboard(db)
    total = result.total
    assert (total.waiting.count, total.waiting.overdue) == (4, 3)
    assert total.waiting.oldest_seconds == 60 * 86400
    # In the period (30 days): the three Casablanca ones; the oldest of them is 80 h old.
    assert total.waiting_in_period.count == 3
    assert total.waiting_in_period.oldest_seconds == 80 * 3600
    assert total.awaiting_first_response == 3
    urgent = row(result.priorities, "urgent")
    assert (urgent.waiting.count, urgent.waiting.overdue) == (2, 1)
    marrakech = row(result.regions, "MA-07")
    assert (marrakech.waiting.count, marrakech.waiting_in_period.count) == (1, 0)
    assert marrakech.first_response_so_far.n == 0  # nothing of the period


def test_the_median_so_far_counts_waiting_reports_at_their_age(db):
    for h in (1, 2, 3):
        add_report(db, submitted=NOW - timedelta(days=5), first_response=hours(h))
    for _ in range(3):
        add_report(db, submitted=NOW - hours(100))
    casablanca = row(dashboard(db).regions, "MA-06")
    assert casablanca.first_response.p50 == 2 * 3600  # the answered ones only
    # 1, 2, 3, 100, 100, 100 h: (3 + 100) / 2 = 51.5 h; 90th: 100 h.
    assert casablanca.first_response_so_far.n == 6
    assert casablanca.first_response_so_far.p50 == 51.5 * 3600
    assert casablanca.first_response_so_far.p90 == 100 * 3600


def test_a_regional_view_counts_only_its_region(db):
    add_report(db, submitted=NOW - hours(90))
    add_report(db, submitted=NOW - hours(90), region="MA-07", unit="MARRAKECH")
    add_report(db, submitted=NOW - hours(10), region="MA-07", unit="MARRAKECH")
    result = dashboard(db, region="MA-07")
    total = result.total
    assert (total.waiting.count, total.waiting.overdue) == (2, 1)
    # Nothing of the other region's waiting report: not in the backlog, its ages, its oldest.
    assert total.open_backlog == 2
    assert dict(result.backlog_buckets) == {
        "lt1d": 1,
        "1to3d": 0,
        "3to7d": 1,
        "7to30d": 0,
        "gt30d": 0,
    }
    assert total.first_response_so_far.n == 2
    assert total.first_response_so_far.p90 == pytest.approx((10 + 0.9 * 80) * 3600)
    assert total.waiting_in_period.count == 2
    assert total.waiting.oldest_seconds == 90 * 3600


def test_the_waiting_reports_are_read_from_their_own_index(db):
    """Only the waiting reports are read, not every open report: their query's conditions are
    those of the partial index that holds them (a change to either would silently read the
    whole backlog again)."""
    if db.get_bind().dialect.name != "postgresql":
        pytest.skip("the plan is PostgreSQL's")
    query = waiting_reports_query(None, Period.between(NOW.date(), NOW.date()))
    compiled = query.compile(
        dialect=db.get_bind().dialect, compile_kwargs={"render_postcompile": True}
    )
    statement, parameters = str(compiled), compiled.params
    cursor = db.connection().connection.dbapi_connection.cursor()
    cursor.execute("SET LOCAL enable_seqscan = off")
    cursor.execute("EXPLAIN (FORMAT JSON) " + statement, parameters)
    plan = json.dumps(cursor.fetchone()[0])
    assert "ix_reports_waiting_submitted" in plan, plan
